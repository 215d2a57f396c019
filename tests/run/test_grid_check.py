"""One parse: a grid's parameters and every cell's values are checked before the first cell starts."""
import ast
import json
import time
from pathlib import Path

import pytest
import yaml

from hpbench.run.grid_check import (RUN_ALL_PARAMETERS, GridConfigError, check_override_keys, check_parameters,
                                    failure_summary, override_keys)

ROOT = Path(__file__).resolve().parents[2]


def test_the_known_parameters_are_exactly_run_all_notebooks_parameters_cell():
    nb = json.loads((ROOT / "notebooks" / "run_all.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    names = [t.id for node in ast.parse("".join(cell["source"])).body if isinstance(node, ast.Assign) for t in node.targets]
    assert sorted(names) == sorted(RUN_ALL_PARAMETERS)


def test_a_misspelt_parameter_names_the_closest_known_one():
    with pytest.raises(GridConfigError, match=r"'sparsitys' \(did you mean 'sparsities'\?\)"):
        check_parameters({"models": None, "sparsitys": [0.5]})
    with pytest.raises(GridConfigError, match=r"'zzz'\. Known parameters: models, tasks"):
        check_parameters({"zzz": 1})
    check_parameters({k: None for k in RUN_ALL_PARAMETERS})  # every known one passes


def _spec(tmp_path: Path, name="my_reviews") -> Path:
    p = tmp_path / "reviews.yaml"
    p.write_text(yaml.safe_dump({"name": name, "kind": "classification", "source": {"format": "tsv", "files": {
        "train": "train.tsv", "dev": "dev.tsv"}}, "columns": {"text": "s", "label": "l"}, "labels": ["a", "b"],
        "metrics": ["accuracy"]}))
    return p


def test_a_spec_file_task_answers_to_its_path_stem_and_spec_name(tmp_path):
    spec = str(_spec(tmp_path))
    keys = override_keys("minilm", spec)
    assert {spec, "reviews", "my_reviews", "minilm/my_reviews", "minilm/reviews"} <= set(keys)
    check_override_keys({"my_reviews": {"lr": 1e-4}, "reviews": {"epochs": 1.0}}, ["minilm"], [spec])
    with pytest.raises(GridConfigError, match=r"'my_review' \(did you mean 'my_reviews'\?\) name no model or task"):
        check_override_keys({"my_review": {"lr": 1e-4}}, ["minilm"], [spec])
    with pytest.raises(GridConfigError, match=r"'sst3' \(did you mean 'sst2'\?\)"):
        check_override_keys({"sst3": {"lr": 1e-4}}, ["minilm"], ["sst2"])
    with pytest.raises(GridConfigError, match=r"overrides\['sst2'\] must be a mapping of run fields"):
        check_override_keys({"sst2": 0.5}, ["minilm"], ["sst2"])


def test_overrides_by_spec_name_reach_the_cell(tmp_path):
    from hpbench.run.grid import grid_cells

    spec = str(_spec(tmp_path, name="other_reviews"))  # (a spec name is registered once per process)
    (cell,) = grid_cells(["minilm"], [spec], overrides={"other_reviews": {"lr": 3e-5}, "minilm": {"epochs": 1.5}})
    assert cell["lr"] == 3e-5 and cell["epochs"] == 1.5


@pytest.mark.parametrize("bad, message", [
    ({"tasks": ["sst3"]}, r"unknown task 'sst3'"),
    ({"sparsities": [0.0, 1.5]}, r"1\.5"),
    ({"sparsities": []}, r"sparsities"),
    ({"languages": ["xx"]}, r"unknown language 'xx' for task 'sst2'"),
    ({"n_dev": 0}, r"n_dev must be a positive integer or None \(all\), got 0"),
    ({"overrides": {"sst2": {"lr": -1.0}}}, r"lr must be a positive finite number, got -1\.0"),
])
def test_every_bad_value_stops_the_grid_before_any_cell_naming_it(tmp_path, bad, message):
    from hpbench.run.grid import plan_grid, run_grid

    params = {"models": ["minilm"], "tasks": ["sst2"], "criteria": ["his"], "seeds": [0], "profile": "cpu", **bad}
    t0 = time.perf_counter()
    with pytest.raises((GridConfigError, ValueError, KeyError), match=message):
        grid, cells = plan_grid(**params)
        run_grid(cells, results_dir=str(tmp_path / "res"), reports_dir=str(tmp_path / "rep"))
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "res" / "_cells").exists()  # no cell started


def test_all_problems_of_all_cells_in_one_message(tmp_path):
    from hpbench.run.grid_check import validate_cells

    cells = [{"model": "minilm", "task": "sst2", "language": "en", "sparsities": [0.0, 1.5]},
             {"model": "minilm", "task": "mrpc", "language": "en", "sparsities": [0.0, 1.5]},
             {"model": "minilm", "task": "mrpc", "language": "en", "lr": 0.0}]
    with pytest.raises(GridConfigError) as e:
        validate_cells(cells, str(tmp_path))
    msg = str(e.value)
    assert msg.startswith("3 of 3 grid cell(s) cannot run; nothing was started")
    assert "[cell(s): minilm/sst2/en, minilm/mrpc/en]" in msg and "lr must be a positive finite number, got 0.0" in msg


def test_failure_summary_names_each_failed_cell_and_its_last_error_line():
    import pandas as pd

    s = pd.DataFrame([{"run_id": "a", "status": "ok", "error": None},
                      {"run_id": "b", "status": "failed", "error": "Traceback ...\nValueError: bad thing"}])
    assert failure_summary(s) == "1 of 2 grid cell(s) failed:\n* b: ValueError: bad thing"


@pytest.mark.slow
def test_through_papermill_a_misspelt_parameter_and_a_bad_value_stop_in_seconds(tmp_path):
    """As a user runs it: run_all.ipynb with a parameter it does not define, then with a bad level."""
    import papermill as pm

    common = dict(tasks=["sst2"], criteria=["his"], seeds=[0], results_dir=str(tmp_path / "res"),
                  reports_dir=str(tmp_path / "rep"))
    for extra, message in [({"sparsitys": [0.5]}, "'sparsitys' (did you mean 'sparsities'?)"),
                           ({"sparsities": [0.0, 1.5]}, "sparsity 1.5 is outside [0, 1)")]:
        t0 = time.perf_counter()
        with pytest.raises(pm.PapermillExecutionError) as e:
            pm.execute_notebook(str(ROOT / "notebooks" / "run_all.ipynb"), str(tmp_path / "out.ipynb"), cwd=str(ROOT),
                                progress_bar=False, parameters={**common, **extra})
        assert e.value.ename == "GridConfigError" and message in e.value.evalue
        assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "res" / "_cells").exists()


def test_a_grid_whose_cells_all_failed_ends_with_each_cells_error_not_a_report_traceback(tmp_path):
    import pandas as pd

    from hpbench.run.grid import finish_grid

    status = pd.DataFrame([{"run_id": "m-sst2-en", "status": "failed", "skipped": False, "seconds": 3.0,
                            "error": "ValueError: bad lr", "html": None, "notebook": None},
                           {"run_id": "m-cola-en", "status": "failed", "skipped": False, "seconds": 2.0,
                            "error": "SpecError: file 'x.tsv' not found", "html": None, "notebook": None}])
    (tmp_path / "res").mkdir()
    with pytest.raises(RuntimeError) as e:
        finish_grid(status, str(tmp_path / "res"), str(tmp_path / "rep"))
    assert str(e.value).startswith("2 of 2 grid cell(s) failed:\n* m-sst2-en: ValueError: bad lr\n"
                                   "* m-cola-en: SpecError: file 'x.tsv' not found")
    assert (tmp_path / "rep" / "index.html").is_file() and not (tmp_path / "rep" / "comparison.html").exists()
