"""Look at the reports as a reader does: render them in headless Chromium at 1300 px and save full-page screenshots,
printing each page's height in px (the comparison page's height is the number to keep small).

    python benchmarks/screenshots.py [--reports reports] [--out reports/screenshots]

Needs Chromium (`apt-get install chromium`); without it the script says so and exits 0 (nothing to check here).
Height: the page is rendered into a 30,000 px window and the PNG is cut below its last non-blank row.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PAGES = ("index.html", "comparison.html", "leaderboard.html")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def content_height(png: Path) -> int:
    """Rows of the screenshot down to the last one that is not plain background (the page's drawn height)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(png).convert("L"))
    rows = np.where((a < 250).any(axis=1))[0]
    return int(rows[-1]) + 1 if len(rows) else 0


def shoot(browser: str, page: Path, out: Path, width: int = 1300, height: int = 30000) -> int:
    with tempfile.TemporaryDirectory() as prof:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={prof}", f"--screenshot={out}", f"--window-size={width},{height}",
                        page.resolve().as_uri()], check=True, capture_output=True, timeout=180)
    h = content_height(out)
    from PIL import Image

    Image.open(out).crop((0, 0, width, max(h, 1))).save(out)
    return h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", default="reports")
    ap.add_argument("--out", default=None, help="where the PNGs go (default: <reports>/screenshots)")
    a = ap.parse_args()
    browser = chromium()
    if browser is None:
        print("chromium not found (apt-get install chromium): no screenshots taken")
        return
    out = Path(a.out or Path(a.reports) / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        page = Path(a.reports) / name
        if not page.is_file():
            print(f"{name}: not rendered (run make report)")
            continue
        png = out / (page.stem + ".png")
        print(f"{name}: {shoot(browser, page, png)} px tall at 1300 px -> {png}")


if __name__ == "__main__":
    sys.exit(main())
