"""Run every cell of one preset end to end at tiny sizes (``python tests/preset_smoke.py PRESET RESULTS``), as
run_all plans it: hub ids resolve through ``$HF_HOME`` (see hub_cache.py). Sizes, levels, seeds and search budgets
are shrunk; models, tasks, languages, criteria and the other settings are the preset's. Prints one JSON line per
cell. Tests only (random or barely trained weights)."""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {"n_train": 8, "n_dev": 8, "n_score": 4, "n_val": 8, "epochs": 1.0, "max_len": 16, "batch_size": 8,
        "sparsities": [0.0, 0.5], "seeds": [0], "recovery_steps": 2, "recovery_n": 8}
BUDGETS = {"max_evals": "6", "max_seconds": "30", "steps": "3", "branching": "2", "n": "8"}


def run_all_defaults() -> dict:
    nb = json.loads((ROOT / "notebooks" / "run_all.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    return {t.id: ast.literal_eval(node.value) for node in ast.parse("".join(cell["source"])).body
            if isinstance(node, ast.Assign) for t in node.targets}


def shrink_spec(spec: str) -> str:
    """``spec`` with its search budgets (A* evaluations and seconds, DSP steps) cut to a smoke test's."""
    default = {"kwon": "n=2048", "kwon_heads": "n=2048", "l0": "steps=200"}.get(spec.split(":")[0])  # (their defaults, to be cut below)
    if default and not re.search(rf"\b{default.split('=')[0]}=", spec):
        spec = f"{spec}{',' if ':' in spec else ':'}{default}"
    for key, val in BUDGETS.items():
        spec = re.sub(rf"\b{key}=[^,]+", f"{key}={val}", spec)
    return spec


def main(preset: str, results: str) -> None:
    from hpbench.run import run_benchmark
    from hpbench.run.grid import check_cell, plan_grid

    p = {**run_all_defaults(), **yaml.safe_load((ROOT / "notebooks" / "presets" / f"{preset}.yaml").read_text())}
    _, cells = plan_grid(**{k: p[k] for k in ("models", "tasks", "languages", "criteria", "sparsities", "seeds",
                                              "iterative", "n_dev", "n_score", "overrides", "profile", "plugins",
                                              "run_params")}, device="cpu")
    from hub_cache import LOCAL, write_local_standin

    for cell in cells:
        if cell["model"] in LOCAL:  # a model from large PyPI parts: its shrunk stand-in (hub_cache.py)
            cell = {**cell, "model": str(write_local_standin(Path(results), cell["model"]))}
        keep = {"epochs": 0} if cell.get("epochs") == 0 else {}  # a zero-shot preset stays zero-shot
        if len(cell.get("sparsities") or []) < 2:  # a cell of the unpruned model alone stays so
            keep["sparsities"] = cell["sparsities"]
        cell = check_cell({**cell, **TINY, **keep, "criteria": [shrink_spec(c) for c in cell["criteria"]]})
        t = run_benchmark(**{**cell, "results_dir": results, "device": "cpu"})
        r = t["results"]
        print(json.dumps({"model": cell["model"], "task": cell["task"], "unit": cell.get("gqa_unit", "query"),
                          "registry_model": next((m for m in LOCAL if cell["model"].endswith(f"{m}-standin")), cell["model"]),
                          "pruned_share": sorted(set(r["pruned_share"].round(4))), "criteria": sorted(set(r["criterion"])),
                          "heads_total": int(r["heads_total"].iloc[0]), "languages": sorted(set(r["language"])),
                          "rows": len(r), "finite": bool(r["value"].notna().all())}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
