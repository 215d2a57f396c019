"""The device-scaled default grid of run_all.ipynb (hpbench.run.defaults)."""
import pytest

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
