"""The paper-scale presets are valid papermill parameter files for run_all.ipynb and give valid RunConfigs."""
import ast
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PRESETS = sorted((ROOT / "notebooks" / "presets").glob("*.yaml"))


def _run_all_defaults() -> dict:
    nb = json.loads((ROOT / "notebooks" / "run_all.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    return {t.id: ast.literal_eval(node.value) for node in ast.parse("".join(cell["source"])).body
            if isinstance(node, ast.Assign) for t in node.targets}


def _run_all_parameters() -> set[str]:
    return set(_run_all_defaults())


def test_the_presets_exist():
    assert {p.stem for p in PRESETS} == {"michel2019", "ma2021", "medium", "hies_grid", "hies2025", "hies2025_gpu", "stability",
                                      "decoder", "vit", "baselines", "recovery", "base144", "base144_gpu", "llm-small",
                                      "llm-small_gpu"}


def test_the_hies_grid_preset_lists_every_setting_once():
    from hpbench.report.hies_grid import grid_specs

    crit = yaml.safe_load((ROOT / "notebooks" / "presets" / "hies_grid.yaml").read_text())["criteria"]
    assert crit == grid_specs() and len(set(crit)) == 5 * 2 * 2  # HIS stays the default run's series


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_names_only_run_all_parameters_and_builds_valid_cells(path):
    from hpbench.run import RunConfig
    from hpbench.run.grid import plan_grid

    p = yaml.safe_load(path.read_text())
    unknown = set(p) - _run_all_parameters()
    paper_scale = path.stem in ("michel2019", "ma2021", "medium", "hies2025_gpu", "llm-small_gpu")
    p = {**_run_all_defaults(), **p}
    assert not unknown, f"{path.name}: not run_all parameters: {unknown}"
    g, cells = plan_grid(**{k: p[k] for k in ("models", "tasks", "languages", "criteria", "sparsities", "seeds", "iterative",
                                              "n_dev", "n_score", "overrides", "profile", "plugins", "run_params")},
                         device="cpu")  # as run_all does
    from hpbench.run.grid import AXES

    from test_presets_run import _cells_wanted

    assert AXES == ("gqa_unit", "layer_uniform", "recovery")  # (the axes _cells_wanted counts)
    wanted = _cells_wanted({**p, "models": g["models"], "tasks": g["tasks"], "run_params": g["run_params"]})
    assert len(cells) == wanted * len(g["languages"])
    for c in cells:
        cfg = RunConfig.from_params(c)  # unknown names raise
        assert cfg.n_dev is None or not paper_scale  # whole dev sets in every paper-scale preset
        for spec in cfg.criteria:
            from hpbench.criteria import parse_spec

            parse_spec(spec)


def test_michel2019_is_the_papers_setting():
    p = yaml.safe_load((ROOT / "notebooks" / "presets" / "michel2019.yaml").read_text())
    assert p["models"] == ["bert"] and set(p["tasks"]) == {"sst2", "mrpc", "rte", "stsb", "cola"}
    assert p["iterative"] is True and p["run_params"]["finetune_per_seed"] is True and len(p["seeds"]) == 3
    assert p["run_params"]["n_train"] is None
