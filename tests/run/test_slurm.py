"""The slurm executor against a real one-node SLURM cluster (tests/slurm_cluster.py: Debian's slurmctld, slurmd and
munge, configured in a temporary folder, on loopback): a grid's cells as jobs with the local executor's results, a
job requeued mid-cell that resumes without recomputing what it had stored, failed and cancelled jobs reported with
their logs. Skipped, with the reason and the install command, where SLURM is not installed or not root."""
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import needs_shared
from slurm_cluster import why_not

pytestmark = [needs_shared, pytest.mark.skipif(why_not() is not None, reason=str(why_not())), pytest.mark.slow]


SMALL = {"n_train": 32, "epochs": 1.0, "max_len": 32, "n_dev": 16, "n_score": 8, "seeds": [0], "sparsities": [0.0, 0.5],
         "criteria": ["his", "random"]}


def _cell(model, task="sst2", **kw):
    return {"model": model, "task": task, "language": "en", **SMALL, **kw}


def test_resources_per_cell_and_bad_ones_named(tmp_path):
    from hpbench.run.grid_check import GridConfigError
    from hpbench.run.slurm import check_resources, job_script, resources_for

    cells = [_cell("m", "sst2"), _cell("m", "cola")]
    res = {"partition": "gpu", "gpus": 1, "cpus": 4, "mem": "16G", "time": "1:00:00", "account": "lab",
           "cells": {"cola": {"time": "3:00:00"}}}
    check_resources(cells, res)
    sst2, cola = resources_for(cells[0], res), resources_for(cells[1], res)
    assert (sst2.time, cola.time, cola.gpus) == ("1:00:00", "3:00:00", 1)
    script = job_script(tmp_path / "c.json", tmp_path / "c.log", cola, "hpbench-m-cola-en")
    for flag in ("--partition=gpu", "--gres=gpu:1", "--cpus-per-task=4", "--mem=16G", "--time=3:00:00",
                 "--account=lab", "--requeue", "--open-mode=append", f"--output={tmp_path / 'c.log'}"):
        assert f"#SBATCH {flag}\n" in script
    with pytest.raises(GridConfigError, match=r"slurm resource 'gpu' \(did you mean 'gpus'\?\) is unknown"):
        check_resources(cells, {"gpu": 1})
    with pytest.raises(GridConfigError, match=r"cells key\(s\) \['rte'\] name no model or task"):
        check_resources(cells, {"cells": {"rte": {"time": "1:00"}}})


def test_a_time_limit_kill_is_read_from_the_job_state_or_its_log(tmp_path):
    from hpbench.run.slurm import ended_without_status

    log = tmp_path / "x.log"
    log.write_text("[hpbench] job 7 attempt 0\nslurmstepd: error: *** JOB 7 ON node CANCELLED AT 2026-12-06T10:00:00 "
                   "DUE TO TIME LIMIT ***\n")
    job = {"run_id": "m-sst2-en", "job_id": "7", "log": str(log), "time": "0:30:00", "params": {}}
    st = ended_without_status(job, None)  # (the job already gone from squeue: the log tells)
    assert st["status"] == "timeout" and "time limit (0:30:00)" in st["error"] and st["log"] == str(log)
    assert ended_without_status(job, "TIMEOUT")["status"] == "timeout"
    log.write_text("slurmstepd: error: *** JOB 7 ON node CANCELLED AT 2026-12-06T10:00:00 ***\n")
    assert ended_without_status(job, None)["status"] == "cancelled"


def test_cells_run_as_jobs_requeue_resumes_and_failures_show_their_logs(slurm, tiny_model_dir, tmp_path, monkeypatch):
    from hpbench.run.grid import finish_grid, run_grid

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    res, rep = tmp_path / "res", tmp_path / "rep"
    # a longer cell (several criteria, levels and seeds) to requeue in the middle, and a cell that fails in its notebook
    spec = tmp_path / "gone.yaml"
    spec.write_text("name: gone_slurm\nkind: classification\nsource: {format: tsv, files: {train: missing.tsv, "
                    "dev: missing.tsv}}\ncolumns: {text: sentence, label: label}\nlabels: [a, b]\nmetrics: [accuracy]\n")
    long = _cell(tiny_model_dir, "sst2", criteria=["his", "entropy", "hies", "random"],
                 sparsities=[0.0, 0.2, 0.4, 0.6, 0.8], seeds=[0, 1, 2], n_dev=48)
    cells = [long, _cell(tiny_model_dir, str(spec))]
    out = {}
    t0 = time.perf_counter()
    driver = threading.Thread(target=lambda: out.update(status=run_grid(
        cells, results_dir=str(res), reports_dir=str(rep), executor="slurm",
        resources={"cpus": 1, "time": "10:00", "poll": 0.3})))
    driver.start()
    # requeue the long cell's job as soon as its store holds finished work (fine-tuning done, scores written)
    writes = res / "tiny-bert0-sst2-en" / "_writes.log"
    deadline = time.time() + 300
    while time.time() < deadline and not (writes.is_file() and "evals/" in writes.read_text()):
        time.sleep(0.05)
    before = writes.read_text().splitlines()
    ck = next((tmp_path / "cache" / "finetuned").glob("*/hpbench_train.json"))
    ck_mtime = ck.stat().st_mtime
    (job_rec,) = [json.loads(p.read_text()) for p in (res / "_slurm").glob("tiny-bert0-sst2-en-*.json")]
    subprocess.run(["scontrol", "requeue", job_rec["job_id"]], check=True, env=os.environ)
    driver.join(600)
    elapsed = time.perf_counter() - t0
    status = out["status"].set_index("run_id")
    assert status.loc["tiny-bert0-sst2-en", "status"] == "ok"
    # the requeued attempt recomputed nothing the first one had stored, and did not fine-tune again
    after = writes.read_text().splitlines()
    assert after[:len(before)] == before and len(after) == len(set(after)), "a stored result was computed twice"
    assert ck.stat().st_mtime == ck_mtime
    log = Path(job_rec["log"]).read_text()
    assert "attempt 0" in log and "attempt 1" in log  # the same job ran twice (requeued), into one log
    st = json.loads(next((res / "_cells").glob("tiny-bert0-sst2-en-*.json")).read_text())
    assert st["attempt"] == 1 and st["slurm_job_id"] == job_rec["job_id"]
    # the failed cell: its notebook's error, and its SLURM log linked from the index page
    failed = status.loc["tiny-bert0-gone-en"]
    assert failed["status"] == "failed" and "missing.tsv' not found" in failed["error"]
    assert Path(failed["log"]).is_file() and "cell tiny-bert0-gone-en: failed" in Path(failed["log"]).read_text()
    with pytest.raises(RuntimeError, match=r"1 of 2 grid cell\(s\) failed"):
        finish_grid(out["status"], str(res), str(rep))
    index = (rep / "index.html").read_text()
    assert index.count(">SLURM log</a>") == 2 and "SpecError" in index
    print(f"\n[slurm] requeue test: {len(before)} results stored before the requeue, {len(after)} after, "
          f"none twice; {elapsed:.0f} s")
    # a rerun of the grid submits nothing: every finished cell is skipped (the failed one is submitted again)
    status2 = run_grid([long], results_dir=str(res), reports_dir=str(rep), executor="slurm",
                       resources={"poll": 0.3})
    assert bool(status2["skipped"].iloc[0]) and len(list((res / "_slurm").glob("*.sbatch"))) == 2


def test_a_cancelled_job_is_reported_as_such_with_its_log(slurm, tiny_model_dir, tmp_path, monkeypatch):
    from hpbench.run.slurm import job_states, run_cells_slurm

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    res = tmp_path / "res"
    out = {}
    driver = threading.Thread(target=lambda: out.update(st=run_cells_slurm(
        [_cell(tiny_model_dir, "sst2")], str(res), str(tmp_path / "rep"), resources={"poll": 0.3})))
    driver.start()
    deadline = time.time() + 60
    while time.time() < deadline and not list((res / "_slurm").glob("*.json")):
        time.sleep(0.05)
    (job,) = [json.loads(p.read_text()) for p in (res / "_slurm").glob("*.json")]
    while job_states([job["job_id"]]).get(job["job_id"]) != "RUNNING" and time.time() < deadline:
        time.sleep(0.1)
    subprocess.run(["scancel", job["job_id"]], check=True, env=os.environ)
    driver.join(120)
    (st,) = out["st"]
    assert st["status"] == "cancelled" and f"SLURM job {job['job_id']}" in st["error"] and Path(st["log"]).is_file()
    # the record is in the store: the index page lists it with its log, and a rerun submits the cell again
    rec = json.loads(next((res / "_cells").glob("*.json")).read_text())
    assert rec["status"] == "cancelled" and rec["log"] == st["log"]
