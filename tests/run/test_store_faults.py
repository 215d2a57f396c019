"""Damaged result stores and concurrent writers (tiny random local model, unit-test scale): a truncated Parquet
table and a truncated store record are set aside with a warning and recomputed to a clean run's numbers; two real
processes running into one results folder both finish and the merged tables hold every row exactly once."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import needs_shared

pytestmark = needs_shared
ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(task="sst2", sparsities=[0.0, 0.5], seeds=[0], n_train=16, epochs=1.0, max_len=24, n_dev=16, n_score=4)


def _run(model, results, criteria):
    from hpbench.run import run_benchmark

    return run_benchmark(model=model, criteria=criteria, results_dir=str(results), **SMALL)


def _folder(results: Path) -> Path:
    (run,) = [p for p in results.iterdir() if p.is_dir() and not p.name.startswith("_")]
    return run


def _same_rows(a: pd.DataFrame, b: pd.DataFrame, drop=("score_seconds", "eval_seconds")) -> None:
    keys = [c for c in ("criterion", "seed", "sparsity", "language", "metric", "layer", "head") if c in a]
    a, b = (x.drop(columns=[c for c in drop if c in x]).sort_values(keys).reset_index(drop=True) for x in (a, b))
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_a_truncated_table_and_record_are_set_aside_and_recomputed_to_a_clean_runs_numbers(tiny_model_dir, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    clean = _run(tiny_model_dir, tmp_path / "clean", ["his", "random"])
    _run(tiny_model_dir, tmp_path / "hurt", ["his", "random"])
    run = _folder(tmp_path / "hurt")
    for name in ("results.parquet", "results.csv"):  # a killed copy: both files cut to half
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: len(data) // 2])
    record = sorted((run / "evals").glob("*.json"))[0]
    record.write_text(record.read_text()[:40])
    before = {p.name for p in run.rglob("*") if p.is_file()}
    with pytest.warns(UserWarning, match="damaged file") as caught:
        again = _run(tiny_model_dir, tmp_path / "hurt", ["his", "random"])
    named = " ".join(str(w.message) for w in caught)
    assert "results.parquet" in named and record.name in named
    aside = {p.name for p in run.rglob("*.damaged-*")}
    assert any(n.startswith("results.parquet.damaged-") for n in aside)  # set aside, not deleted
    assert any(n.startswith(record.name + ".damaged-") for n in aside)
    assert json.loads(record.read_text())["config"]  # the record was computed again
    for name in ("results", "scores", "masks", "predictions"):
        _same_rows(again[name], clean[name])
    _same_rows(pd.read_parquet(run / "results.parquet"), clean["results"])
    assert before - {p.name for p in run.rglob("*") if p.is_file()} <= {"results.parquet", "results.csv", record.name}


def test_a_record_whose_config_is_not_its_key_is_never_returned(tmp_path):
    from hpbench.run.store import ResultStore

    store = ResultStore(tmp_path)
    store.put("evals", {"a": 1}, {"metrics": {"acc": 0.5}})
    path = store.path("evals", {"a": 1})
    rec = json.loads(path.read_text())
    rec["config"] = {"a": 2}  # e.g. a file copied under the wrong name
    path.write_text(json.dumps(rec))
    with pytest.warns(UserWarning, match="configuration is not the one"):
        assert store.get("evals", {"a": 1}) is None
    assert not path.exists() and len(list(path.parent.glob("*.damaged-*"))) == 1


SCRIPT = """
import sys, json
from hpbench.run import run_benchmark
small = json.loads(sys.argv[3])
run_benchmark(model=sys.argv[1], criteria=sys.argv[2].split(","), results_dir=sys.argv[4], **small)
"""


def test_two_processes_running_into_one_results_folder_both_finish_with_every_row_once(tiny_model_dir, tmp_path):
    env = {**os.environ, "HPBENCH_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    res = tmp_path / "res"
    jobs = [subprocess.Popen([sys.executable, "-c", SCRIPT, tiny_model_dir, crit, json.dumps(SMALL), str(res)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for crit in ("his,random", "random,entropy")]  # one criterion in both, one in each alone
    for j in jobs:
        out, _ = j.communicate(timeout=600)
        assert j.returncode == 0, out[-3000:]
    from hpbench.run import load_tables

    t = load_tables(res)
    r = t["results"]
    assert set(r["criterion"]) == {"his", "random", "entropy"}
    per = r.groupby(["criterion", "seed", "sparsity", "language", "metric"]).size()
    assert (per == 1).all(), per[per > 1]
    assert len(r) == 3 * len(SMALL["sparsities"]) * r["metric"].nunique()
    s = t["scores"]
    assert (s.groupby(["criterion", "seed", "layer", "head"]).size() == 1).all() and len(s) == 3 * 8
    assert len(t["masks"]) == 3 * len(SMALL["sparsities"])


LOCKER = """
import sys, time
from hpbench.core.files import locked
with locked(sys.argv[1]):
    start = time.monotonic()
    time.sleep(0.5)
    open(sys.argv[2], "w").write(f"{start} {time.monotonic()}")
"""


def test_the_tables_lock_lets_one_process_in_at_a_time(tmp_path):
    """What keeps two writers' read-merge-write of the tables from interleaving: the critical sections of two real
    processes never overlap."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    jobs = [subprocess.Popen([sys.executable, "-c", LOCKER, str(tmp_path / ".lock"), str(tmp_path / f"t{i}")], env=env)
            for i in range(2)]
    assert all(j.wait(timeout=120) == 0 for j in jobs)
    (a0, a1), (b0, b1) = sorted(tuple(map(float, (tmp_path / f"t{i}").read_text().split())) for i in range(2))
    assert a1 <= b0 and a1 - a0 >= 0.5


def test_a_folder_written_before_the_recovery_and_unit_columns_reads_as_none_and_query(tiny_model_dir, tmp_path,
                                                                                        monkeypatch):
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    _run(tiny_model_dir, tmp_path / "res", ["his"])
    run = _folder(tmp_path / "res")
    for name in ("results", "run"):  # as an older hpbench wrote them
        df = pd.read_parquet(run / f"{name}.parquet").drop(columns=["recovery", "gqa_unit", "layer_uniform"] +
                                                                    (["pruned_share"] if name == "results" else []))
        df.to_parquet(run / f"{name}.parquet", index=False)
    from hpbench.run import load_tables

    t = load_tables(tmp_path / "res")
    r = t["results"]
    assert (r["recovery"] == "none").all() and (r["gqa_unit"] == "query").all() and (~r["layer_uniform"]).all()
    assert (r["pruned_share"] == r["n_pruned"] / r["heads_total"]).all()
    assert (t["run"]["recovery"] == "none").all()


def test_weights_of_a_criterion_loaded_from_the_store_never_stand_in_for_another_criterions_same_mask(
        tiny_model_dir, tmp_path, monkeypatch):
    """l0 evaluates its own jointly trained weights, at 0 % too (the all-kept mask every criterion shares). Loaded from
    the store in a second invocation, its evaluations must not be reused for HIS's identical mask: HIS's unpruned
    point is the fine-tuned model's, as in a run that never saw l0 (STS-B: real-valued predictions, so any weight
    change shows)."""
    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    kw = dict(model=tiny_model_dir, **{**SMALL, "task": "stsb"}, precision="fp32")
    run_benchmark(criteria=["l0:steps=3"], results_dir=str(tmp_path / "res"), **kw)
    both = run_benchmark(criteria=["l0:steps=3", "his"], results_dir=str(tmp_path / "res"), **kw)
    alone = run_benchmark(criteria=["his"], results_dir=str(tmp_path / "alone"), **kw)

    def at0(t, crit):
        p = t["predictions"]
        return json.loads(p[(p["criterion"] == crit) & (p["sparsity"] == 0.0)]["y_pred"].iloc[0])

    assert at0(both, "l0:steps=3") != at0(alone, "his")  # l0's own weights predict differently (the test bites)
    assert at0(both, "his") == at0(alone, "his")


def test_a_failure_that_a_later_run_of_the_same_run_finished_is_not_reported(tmp_path):
    """Statuses of three cells of one run id (criteria changed between grids): failed, then ok, then failed again in
    another run. The first failure is superseded by the later ok; a failure after the last ok, and the other run's
    failure, stay."""
    import json
    import os

    from hpbench.run.results import all_statuses, cell_status_path

    recs = [("m-rte-en", "a", "failed", 100), ("m-rte-en", "b", "ok", 200), ("m-mrpc-en", "c", "failed", 300),
            ("m-sst2-en", "d", "ok", 100), ("m-sst2-en", "e", "failed", 400)]
    for run, key, status, t in recs:
        p = cell_status_path(tmp_path, run, key)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"run_id": run, "status": status, "params": {"criteria": ["his"]}}))
        os.utime(p, (t, t))
    got = sorted(map(tuple, all_statuses(tmp_path)[["run_id", "status"]].values.tolist()))
    assert got == [("m-mrpc-en", "failed"), ("m-rte-en", "ok"), ("m-sst2-en", "failed"), ("m-sst2-en", "ok")]
