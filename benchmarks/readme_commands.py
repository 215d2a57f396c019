"""Every command the README shows is checked: a `make` command is expanded with `make -n` and, where it runs the grid,
its papermill parameters are read exactly as papermill reads them (`-p` values typed by papermill's own rule, `-y`
YAML, `-f` files) and go through what `run_all.ipynb` does before any cell starts (list parameters, the device
profile, the cells, each cell's RunConfig and criteria); a `python benchmarks/...` command must parse its arguments
(`--help`). Nothing is trained: this checks that the commands are valid, not their results.

    python benchmarks/readme_commands.py [--readme README.md]

Exit status 1 when a command fails, with the command and the reason. Models that need the Hugging Face hub (the
paper-scale presets) are reported as such, not as failures, when the hub is unreachable.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from hpbench.models.split_zip import MissingPackages

ROOT = Path(__file__).resolve().parents[1]


def readme_commands(text: str) -> list[str]:
    """`make ...` and `python benchmarks/...` commands in the README's bash blocks and inline code (comments cut)."""
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        cmds += [ln.split("  #")[0].split(" # ")[0].strip() for ln in block.splitlines()]
    cmds += re.findall(r"`((?:make|python benchmarks/)[^`]+)`", text)
    return list(dict.fromkeys(c for c in cmds if c.startswith(("make ", "python benchmarks/"))))


def papermill_value(raw: str):
    """A `-p` value as papermill's CLI types it: True/False/None, an int, a float, else the string itself."""
    if raw in ("True", "False"):
        return raw == "True"
    if raw == "None":
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def notebook_defaults(name: str = "run_all") -> dict:
    import ast

    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    return {t.id: ast.literal_eval(n.value) for n in ast.parse("".join(cell["source"])).body
            if isinstance(n, ast.Assign) for t in n.targets}


def papermill_params(argv: list[str]) -> dict:
    """Parameters from a papermill command line: `-f FILE` (YAML), `-y YAML`, `-p NAME VALUE`, in order."""
    out: dict = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-f", "--parameters_file"):
            out.update(yaml.safe_load((ROOT / argv[i + 1]).read_text()) or {})
            i += 2
        elif a in ("-y", "--parameters_yaml"):
            out.update(yaml.safe_load(argv[i + 1]) or {})
            i += 2
        elif a in ("-p", "--parameters"):
            out[argv[i + 1]] = papermill_value(argv[i + 2])
            i += 3
        else:
            i += 1
    return out


PLAN_PARAMS = ("models", "tasks", "languages", "criteria", "sparsities", "seeds", "iterative", "n_dev", "n_score",
               "overrides", "profile", "plugins", "run_params", "resources", "device", "precision")


def check_grid(params: dict) -> str:
    """What run_all does before any cell starts; returns a short description of the grid."""
    from hpbench.run.config import RunConfig
    from hpbench.run.grid import check_cell, plan_grid

    unknown = set(params) - set(notebook_defaults())
    if unknown:
        raise ValueError(f"not run_all parameters: {sorted(unknown)}")
    p = {**notebook_defaults(), **params}
    grid, cells = plan_grid(**{k: p[k] for k in PLAN_PARAMS})
    with tempfile.TemporaryDirectory() as tmp:
        for c in cells:
            c = check_cell(c)
            RunConfig.from_params({**c, "results_dir": tmp}).validate()  # every field, model and task (no training)
    return f"{len(cells)} cells ({', '.join(grid['models'])} x {', '.join(grid['tasks'])})"


def optional_dependencies() -> dict[str, list[str]]:
    """pyproject.toml's extras: name -> requirement names (versions cut)."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {x: [re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0] for req in reqs] for x, reqs in extras.items()}


def check(cmd: str) -> tuple[str, str]:
    """(status, detail) of one README command: ok / needs the hub / FAILED."""
    if cmd.startswith("python "):
        argv = shlex.split(cmd)
        r = subprocess.run([sys.executable, argv[1], "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        return ("ok", "parses its arguments") if r.returncode == 0 else ("FAILED", r.stderr.strip()[-300:])
    argv = shlex.split(cmd)
    r = subprocess.run(["make", "-n", *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "FAILED", r.stderr.strip()[-300:]
    runs = [shlex.split(ln) for ln in r.stdout.splitlines() if "papermill notebooks/run_all.ipynb" in ln]
    if not runs:
        return "ok", "make -n expands"
    try:
        return "ok", "; ".join(check_grid(papermill_params(run)) for run in runs)
    except MissingPackages as e:  # valid when the command itself installs an extra that holds every missing package
        extras = [x for x, reqs in optional_dependencies().items() if set(e.packages) <= set(reqs)
                  and re.search(rf"^\S*python3? -m pip install .*\.\[{x}\]", r.stdout, re.M)]  # unconditional
        if extras:
            return "ok", f"installs the {extras[0]!r} extra first ({', '.join(e.packages)})"
        direct = [ln for ln in r.stdout.splitlines() if re.search(r"^\S*python3? -m pip install ", ln)
                  and set(e.packages) <= set(shlex.split(ln))]  # an unconditional `pip install --no-deps <packages>`
        if direct:
            return "ok", f"installs {', '.join(e.packages)} first"
        return "FAILED", str(e)[:400]
    except Exception as e:  # noqa: BLE001 - reported per command
        msg = f"{type(e).__name__}: {e}"
        if "huggingface" in msg.lower() or "hub" in msg.lower() or "offline" in msg.lower():
            return "needs the hub", msg[:200]
        return "FAILED", msg[:400]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    a = ap.parse_args()
    failed = 0
    for cmd in readme_commands(Path(a.readme).read_text()):
        status, detail = check(cmd)
        failed += status == "FAILED"
        print(f"[{status}] {cmd}\n    {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
