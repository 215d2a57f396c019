"""The grid survives SIGKILL at random points, resumes without recomputing, and runs on Dask."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import needs_shared

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_shared


PLUGIN = '''
import hpbench


@hpbench.register_criterion("plugin_focus")
def plugin_focus(ctx, power: float = 1.0):
    """HIS over attention entropy: a user's criterion defined in a .py file, loaded in every cell's kernel."""
    st = ctx.stats()
    return st.his / st.entropy.clamp(min=1e-6) ** power
'''


@pytest.fixture(scope="module")
def plugin_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("plugin") / "my_criteria.py"
    p.write_text(PLUGIN)
    return str(p)


def _params(model_dir, res, rep, executor="local", plugin=None):
    small = {"n_train": 32, "epochs": 1.0, "max_len": 32}
    return dict(models=[model_dir], tasks=["sst2", "stsb"], criteria=["his", "hies", "random", "plugin_focus:power=2"],
                sparsities=[0.0, 0.25, 0.5, 0.75], seeds=[0, 1], n_dev=16, n_score=8,
                overrides={"sst2": small, "stsb": small}, results_dir=str(res), reports_dir=str(rep),
                executor=executor, n_workers=None if executor == "slurm" else 2, plugins=[plugin],
                resources={"cpus": 1, "time": "20:00", "poll": 0.5} if executor == "slurm" else None)


def _start(params, tmp, token, env_extra=None):
    # one thread per process in every run: float reductions (e.g. Pearson on STS-B) then sum in the same
    # order locally and in dask workers, so results are bitwise identical, not only close
    env = {**os.environ, "HPBENCH_CACHE": str(tmp / "cache"), "TQDM_DISABLE": "1", "HPBENCH_TEST_TOKEN": token,
           "OMP_NUM_THREADS": "1", **(env_extra or {})}
    cmd = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "run_all.ipynb"),
           str(tmp / f"run_all-{token}.ipynb"), "--cwd", str(ROOT), "--no-progress-bar", "-y", yaml.safe_dump(params)]
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_everything_with(token):
    """SIGKILL the run and every kernel it started (they live in their own sessions)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if f"HPBENCH_TEST_TOKEN={token}".encode() in env:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _table(res):
    frames = [pd.read_csv(p) for p in sorted(Path(res).glob("*/results.csv"))]
    df = pd.concat(frames, ignore_index=True)
    df = df.drop(columns=[c for c in df if c.endswith("seconds")])
    return df.sort_values(["task", "criterion", "seed", "sparsity", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tiny_model_dir, tmp_path_factory, plugin_file):
    tmp = tmp_path_factory.mktemp("ref")
    p = _start(_params(tiny_model_dir, tmp / "res", tmp / "rep", plugin=plugin_file), tmp, "ref")
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err.decode()[-3000:]
    t = _table(tmp / "res")
    assert (t["criterion"] == "plugin_focus:power=2").sum() == 2 * 4 * (1 + 2)  # seeds x sparsities x (SST-2 + STS-B metrics)
    assert "[hpbench] [2/2]" in err.decode()  # one progress line per finished cell on the terminal
    return t


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tiny_model_dir, tmp_path, reference, plugin_file):
    params = _params(tiny_model_dir, tmp_path / "res", tmp_path / "rep", plugin=plugin_file)
    rng = random.Random(7)
    kills = 0
    for i in range(5):
        token = f"kill{i}-{os.getpid()}"
        p = _start(params, tmp_path, token)
        try:
            p.wait(timeout=rng.uniform(4, 24))
        except subprocess.TimeoutExpired:
            _kill_everything_with(token)
            p.wait()
            kills += 1
        time.sleep(0.5)
        _kill_everything_with(token)  # orphaned kernels too
    p = _start(params, tmp_path, "final")
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err.decode()[-3000:]
    assert kills >= 4
    pd.testing.assert_frame_equal(_table(tmp_path / "res"), reference)
    # no partial or corrupt file
    assert not list(tmp_path.rglob("*.tmp"))
    for f in (tmp_path / "res").rglob("*.json"):
        json.loads(f.read_text())
    # no finished result computed twice: every stored key was written exactly once
    lines = [l for log in (tmp_path / "res").rglob("_writes.log") for l in log.read_text().split()]
    assert lines and len(lines) == len(set(lines)), "a finished result was recomputed"
    n_results = len(list((tmp_path / "res").rglob("evals/*.json"))) + len(list((tmp_path / "res").rglob("scores/*.json")))
    assert sum(1 for l in lines if not l.startswith("dense/")) == n_results
    # and the checkpoint cache has one finished checkpoint per task, no leftovers
    assert len(list((tmp_path / "cache" / "finetuned").iterdir())) == 2


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["dask", "slurm"])
def test_other_executors_give_the_local_results(executor, request, tiny_model_dir, tmp_path, reference, plugin_file):
    """The same grid through run_all.ipynb on a dask LocalCluster, and with executor="slurm" on a real one-node SLURM
    cluster (one job per cell): the plugin criterion from a .py file loaded in every cell's kernel, the local run's
    results bit for bit."""
    if executor == "slurm":
        request.getfixturevalue("slurm")  # the cluster (skips, saying why, where SLURM cannot run)
    t0 = time.perf_counter()
    p = _start(_params(tiny_model_dir, tmp_path / "res", tmp_path / "rep", executor=executor, plugin=plugin_file),
               tmp_path, executor)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err.decode()[-3000:]
    pd.testing.assert_frame_equal(_table(tmp_path / "res"), reference)
    idx = (tmp_path / "rep" / "index.html").read_text()
    assert "2 cells, 0 failed" in idx and f"grid ({executor} executor): 2 cell(s)" in err.decode()
    if executor == "slurm":
        assert len(list((tmp_path / "res" / "_slurm").glob("*.sbatch"))) == 2
    print(f"\n[{executor}] the grid of 2 cells: {time.perf_counter() - t0:.0f} s")


@pytest.mark.slow
def test_failing_cell_is_recorded_and_others_go_on(tiny_model_dir, tmp_path):
    from hpbench.run.grid import run_grid
    from hpbench.run.results import all_statuses

    os.environ.setdefault("HPBENCH_CACHE", str(tmp_path / "cache"))
    small = {"n_train": 16, "epochs": 1.0, "max_len": 32, "criteria": ["random"], "sparsities": [0.0, 0.5],
             "seeds": [0], "n_dev": 8, "n_score": 4}
    # a value the cell would reject stops the whole grid before any cell starts (hpbench.run.grid_check) ...
    bad = [{"model": tiny_model_dir, "task": "sst2", "language": "en", **small},
           {"model": tiny_model_dir, "task": "sst2", "language": "en", **small, "seeds": [0, 0.5]}]
    with pytest.raises(ValueError, match=r"(?s)nothing was started.*seed 0\.5 is not an integer"):
        run_grid(bad, results_dir=str(tmp_path / "res"), reports_dir=str(tmp_path / "rep"))
    assert not (tmp_path / "res" / "_cells").exists()
    # ... a cell that fails while it runs (its data file is missing) is recorded, and the others go on
    spec = tmp_path / "gone.yaml"
    spec.write_text("name: gone_reviews\nkind: classification\nsource: {format: tsv, files: {train: missing.tsv, "
                    "dev: missing.tsv}}\ncolumns: {text: sentence, label: label}\nlabels: [a, b]\nmetrics: [accuracy]\n")
    cells = [{"model": tiny_model_dir, "task": "sst2", "language": "en", **small},
             {"model": tiny_model_dir, "task": str(spec), "language": "en", **small}]
    status = run_grid(cells, results_dir=str(tmp_path / "res"), reports_dir=str(tmp_path / "rep"))
    assert list(status["status"]) == ["ok", "failed"]
    assert status["error"].iloc[1].startswith("SpecError: ") and "missing.tsv' not found" in status["error"].iloc[1]
    assert Path(status["notebook"].iloc[1]).is_file()  # the executed notebook is kept for debugging
    assert len(all_statuses(str(tmp_path / "res"))) == 2
