"""End-to-end on a tiny random local model (unit-test scale only) and the real GLUE files."""
from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED, needs_shared

pytestmark = needs_shared


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _run(tiny_model_dir, results, **kw):
    from hpbench.run import run_benchmark

    args = dict(model=tiny_model_dir, task="sst2", criteria=["his", "entropy", "hies", "random"],
                sparsities=[0.0, 0.25, 0.5], seeds=[0, 1], n_train=32, epochs=1.0, max_len=32, n_dev=24, n_score=8,
                results_dir=str(results))
    args.update(kw)
    return run_benchmark(**args)


def test_run_benchmark_tables_and_resume(tiny_model_dir, cache):
    t = _run(tiny_model_dir, cache / "res")
    r = t["results"]
    assert set(r["criterion"]) == {"his", "entropy", "hies", "random"}
    assert set(r["seed"]) == {0, 1} and set(r["sparsity"]) == {0.0, 0.25, 0.5}
    # 2 layers x 4 heads = 8 heads: 25 % -> 2 pruned, 50 % -> 4 pruned
    assert sorted(set(r["n_pruned"])) == [0, 2, 4]
    dense = r[r["sparsity"] == 0.0]["value"]
    assert dense.nunique() == 1  # every criterion and seed share the same unpruned model and dev subset
    assert len(t["scores"]) == 4 * 2 * 8
    # each row's FLOP column is the FLOP count of that mask's physically pruned model
    import torch
    from transformers import BertModel

    from hpbench.models.flops import encoder_flops
    from hpbench.models.heads import prune_heads

    base = BertModel.from_pretrained(tiny_model_dir)
    for _, m in t["masks"].drop_duplicates(["n_pruned"]).iterrows():
        keep = torch.ones(8, dtype=torch.bool)
        keep[[i for i, c in enumerate(m["mask"]) if c == "0"]] = False  # independent decoding of the stored key
        want = encoder_flops(prune_heads(BertModel.from_pretrained(tiny_model_dir), keep.view(2, 4)), 1, 128) / 1e9
        got = r[(r["criterion"] == m["criterion"]) & (r["seed"] == m["seed"]) & (r["sparsity"] == m["sparsity"])]
        assert got["encoder_gflops_128"].tolist() == pytest.approx([want] * len(got), rel=1e-9)
    assert encoder_flops(base, 1, 128) / 1e9 == pytest.approx(r[r["sparsity"] == 0]["encoder_gflops_128"].iloc[0], rel=1e-9)
    for name in ("results", "scores", "run"):
        assert (cache / "res" / f"{Path(tiny_model_dir).name}-sst2-en" / f"{name}.parquet").is_file()
    # rerun: nothing recomputed, identical tables
    evals = sorted((cache / "res").rglob("evals/*.json"))
    mtimes = {p: p.stat().st_mtime_ns for p in evals}
    t2 = _run(tiny_model_dir, cache / "res")
    assert {p: p.stat().st_mtime_ns for p in evals} == mtimes
    pd.testing.assert_frame_equal(t["results"], t2["results"])


def test_iterative_masks_are_nested(tiny_model_dir, cache):
    t = _run(tiny_model_dir, cache / "res", criteria=["his"], seeds=[0], iterative=True)
    m = t["masks"].sort_values("sparsity")
    sets = [{i for i, c in enumerate(k) if c == "0"} for k in m["mask"]]
    assert all(a <= b for a, b in zip(sets, sets[1:]))
    assert [len(s) for s in sets] == [0, 2, 4]


def test_determinism_same_config_same_numbers(tiny_model_dir, tmp_path, monkeypatch):
    outs = []
    for i in range(2):
        monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / f"cache{i}"))
        outs.append(_run(tiny_model_dir, tmp_path / f"res{i}", criteria=["his", "random"], seeds=[3]))
    timing = [c for c in outs[0]["results"] if c.endswith("seconds")]
    pd.testing.assert_frame_equal(outs[0]["results"].drop(columns=timing), outs[1]["results"].drop(columns=timing))
    pd.testing.assert_frame_equal(outs[0]["scores"], outs[1]["scores"])


def test_changing_one_dev_example_recomputes_exactly_what_depends_on_dev(tiny_model_dir, tmp_path, monkeypatch):
    """Data identity is in every key: a changed dev example recomputes the unpruned model's and the masks'
    evaluations, and keeps the checkpoint and the head scores (they never saw dev)."""
    import shutil

    from hpbench.run import run_benchmark

    data = tmp_path / "data"
    shutil.copytree(SHARED / "glue" / "RTE", data / "glue" / "RTE")
    monkeypatch.setenv("HPBENCH_DATA_DIR", str(data))
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    kw = dict(model=tiny_model_dir, task="rte", criteria=["his", "random"], sparsities=[0.0, 0.5], seeds=[0],
              n_train=24, epochs=1.0, max_len=32, n_dev=None, n_score=8, results_dir=str(tmp_path / "res"))
    run_benchmark(**kw)
    log = tmp_path / "res" / f"{Path(tiny_model_dir).name}-rte-en" / "_writes.log"
    first = log.read_text().splitlines()
    checkpoints = sorted((tmp_path / "cache" / "finetuned").iterdir())
    run_benchmark(**kw)
    assert log.read_text().splitlines() == first  # same data: nothing recomputed
    dev = data / "glue" / "RTE" / "dev.tsv"
    lines = dev.read_text().splitlines()
    cols = lines[1].split("\t")
    cols[1] = cols[1] + " (edited)"  # one dev hypothesis (sentence2) changes
    dev.write_text("\n".join([lines[0], "\t".join(cols)] + lines[2:]) + "\n")
    run_benchmark(**kw)
    new = log.read_text().splitlines()[len(first):]
    kinds = sorted({line.split("/")[0] for line in new})
    assert kinds == ["dense", "evals"], kinds  # no new scores
    assert sum(k.startswith("evals/") for k in new) == sum(k.startswith("evals/") for k in first)
    assert sorted((tmp_path / "cache" / "finetuned").iterdir()) == checkpoints  # the checkpoint is kept
    train = data / "glue" / "RTE" / "train.tsv"  # a changed training example: a new checkpoint and new scores
    tl = train.read_text().splitlines()
    train.write_text("\n".join(tl[:1] + [t.replace("\t", " x\t", 1) for t in tl[1:]]) + "\n")
    run_benchmark(**kw)
    assert len(list((tmp_path / "cache" / "finetuned").iterdir())) == len(checkpoints) + 1


def test_predictions_table_reproduces_every_stored_metric(tiny_model_dir, cache):
    """The stored per-example predictions give back each row's main metric (computed here independently)."""
    import json

    import numpy as np

    t = _run(tiny_model_dir, cache / "res", criteria=["his", "random"])
    p, r = t["predictions"], t["results"]
    assert len(p) == 2 * 2 * 3  # criteria x seeds x sparsities
    main = r[r["main"]].set_index(["criterion", "seed", "sparsity"])["value"]
    for row in p.itertuples():
        y, yp = np.array(json.loads(row.y_true)), np.array(json.loads(row.y_pred))
        assert len(y) == 24 and np.mean(y == yp) == pytest.approx(main[(row.criterion, row.seed, row.sparsity)])
