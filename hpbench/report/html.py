"""HTML out of executed notebooks (code hidden) and the index page that links every run."""
from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..core.files import atomic_write_bytes


def to_html(nb_path: Path, html_path: Path) -> None:
    """Export an executed notebook to HTML with code, prompts and stderr (progress bars) hidden."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(nb_path), as_version=4)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    atomic_write_bytes(html_path, readable(body).encode())


COLLAPSE_ROWS = 12  # output tables longer than this are collapsed (<details>): they are for reference
_H2 = re.compile(r'<h2 id="([^"]+)">(.*?)(?:<a class="anchor-link"[^>]*>.*?</a>)?</h2>', re.S)
_TABLE = re.compile(r'<table[^>]*class="dataframe[^"]*"[^>]*>.*?</table>', re.S)
_EMPTY = re.compile(r"<td>\s*(?:NaN|nan|None|<NA>)\s*</td>")


def _toc(body: str) -> str:
    """A table of contents of the h2 sections (nbconvert gives each an id), placed after the findings when they come
    first (the comparison page), else before the first section (a run's page)."""
    heads = _H2.findall(body)
    if len(heads) < 3:
        return body
    items = "".join(f'<li><a href="#{i}">{re.sub("<[^>]+>", "", t).strip()}</a></li>' for i, t in heads)
    nav = f'<nav class="toc" id="contents"><h2 style="font-size:1.1em">Contents</h2><ol>{items}</ol></nav>'
    found = list(_H2.finditer(body))
    at = found[1].start() if found[0].group(2).strip().startswith("Findings") else found[0].start()
    return body[:at] + nav + body[at:]


def _collapse(table: str) -> str:
    n = table.count("<tr") - table.count("<thead") - 1
    if n <= COLLAPSE_ROWS:
        return table
    return f"<details><summary>Show the table ({n} rows)</summary>{table}</details>"


def readable(body: str) -> str:
    """Post-process an exported report: a table of contents with anchors, long tables collapsed, and no "NaN" cells
    (a value without meaning is left blank)."""
    body = _TABLE.sub(lambda m: _collapse(_EMPTY.sub("<td></td>", m.group(0))), body)
    return _toc(body)


def write_index(reports_dir: str, status: pd.DataFrame, *, extra_links: Sequence[tuple[str, str]] = (),
                note: str = "") -> Path:
    """``reports/index.html``: links to the comparison report and every run, failed cells listed."""
    root = Path(reports_dir).resolve()
    rows = []
    for _, r in status.iterrows():
        link = os.path.relpath(r["html"], root) if isinstance(r.get("html"), str) and Path(r["html"]).is_file() else None
        name = f'<a href="{html.escape(link)}">{html.escape(r["run_id"])}</a>' if link else html.escape(r["run_id"])
        err = html.escape(str(r["error"])) if isinstance(r.get("error"), str) else ""
        crit = html.escape(str(r.get("criteria") or ""))
        log = r.get("log")
        log_link = (f' <a href="{html.escape(os.path.relpath(log, root))}">SLURM log</a>'
                    if isinstance(log, str) and Path(log).is_file() else "")
        seconds = r["seconds"] if isinstance(r.get("seconds"), (int, float)) and r["seconds"] == r["seconds"] else 0
        state = html.escape(str(r["status"]))
        rows.append(f"<tr><td>{name}</td><td>{crit}</td><td class='{state}'>{state}</td>"
                    f"<td>{seconds:.0f}</td><td><code>{err}</code>{log_link}</td></tr>")
    n_fail = int((status["status"] != "ok").sum()) if len(status) else 0
    links = "".join(f'<li><a href="{html.escape(h)}">{html.escape(t)}</a></li>' for t, h in extra_links)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>hpbench reports</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd}}
.ok{{color:#176}}.failed,.timeout,.cancelled{{color:#b00;font-weight:bold}}</style></head><body>
<h1>hpbench reports</h1><p>{html.escape(note)}</p>
<ul><li><a href="comparison.html">Comparison across runs</a> (findings first; curves, head maps, stability, AUC, prunable heads, claims, overlap, cost)</li>
{'<li><a href="leaderboard.html">Leaderboard</a> (criteria x runs: AUC difference to HIS with significance, sortable)</li>' if (root / "leaderboard.html").is_file() else ''}
{'<li><a href="crosslingual.html">Cross-lingual report</a> (language x criterion, zero-shot transfer, head overlap across languages)</li>' if (root / "crosslingual.html").is_file() else ''}{links}</ul>
<h2>Runs ({len(status)} cells, {n_fail} failed)</h2>
<table><tr><th>run</th><th>criteria</th><th>status</th><th>seconds</th><th>error</th></tr>{''.join(rows)}</table>
</body></html>"""
    out = root / "index.html"
    atomic_write_bytes(out, page.encode())
    return out
