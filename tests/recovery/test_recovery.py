"""The recovery axis end to end on a tiny local model (unit-test scale): one run folder per recovery, the same
unpruned anchor, and mask tuning's evaluation reproduced by hand from the stored mask (the public pieces: the
training sample, the Gram pass, least squares, pruning, prediction)."""
import json

import numpy as np
from pathlib import Path

import pytest
import torch

from conftest import needs_shared

pytestmark = needs_shared
# STS-B: real-valued predictions, so mask-tuned and untuned pruned models can be told apart on every example
SMALL = dict(task="stsb", criteria=["his", "random"], sparsities=[0.0, 0.5], seeds=[0], n_train=32, epochs=1.0,
             max_len=24, n_dev=24, n_score=8, precision="fp32", recovery_n=16, recovery_steps=3)


@pytest.mark.slow
def test_recoveries_share_the_unpruned_anchor_and_mask_tuning_is_reproduced_by_hand(tiny_model_dir, tmp_path,
                                                                                    monkeypatch):
    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    runs = {rec: run_benchmark(model=tiny_model_dir, results_dir=str(tmp_path / "res"), recovery=rec, **SMALL)
            for rec in ("none", "mask_tuning", "finetune")}
    folders = sorted(p.name for p in (tmp_path / "res").iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert [f.split("-stsb-en")[-1] for f in folders] == ["", "-rec-finetune", "-rec-mask_tuning"]
    main = {rec: t["results"][t["results"]["main"]].set_index(["criterion", "sparsity"])["value"] for rec, t in runs.items()}
    for rec in ("mask_tuning", "finetune"):
        assert (runs[rec]["results"]["recovery"] == rec).all() and (runs[rec]["run"]["recovery"] == rec).all()
        for c in ("his", "random"):
            assert main[rec][(c, 0.0)] == main["none"][(c, 0.0)]  # the unpruned model is never recovered
    # mask tuning by hand for HIS at 50 %
    from hpbench.models.heads import from_pretrained, head_shape, prune_heads
    from hpbench.models.masks import mask_from_key
    from hpbench.recovery.mask_tuning import head_gram, tuned_scales
    from hpbench.run.recover import SEED
    from hpbench.tasks import get_task
    from hpbench.tasks.encoding import encode, pad_id_of
    from hpbench.evaluation.evaluate import predict
    from transformers import AutoTokenizer

    (ck,) = list((tmp_path / "cache" / "finetuned").iterdir())
    model, tok, task = from_pretrained(ck).eval(), AutoTokenizer.from_pretrained(ck), get_task("stsb")
    m = runs["mask_tuning"]["masks"]
    keep = mask_from_key(m[(m["criterion"] == "his") & (m["sparsity"] == 0.5)]["mask"].iloc[0], head_shape(model))
    sample = encode(task, tok, task.load("train", n=16, seed=SEED + 0), 24)
    scales = tuned_scales(head_gram(model, sample, 32, pad_id_of(tok)), keep)
    with torch.no_grad():
        for l, layer in enumerate(model.bert.encoder.layer):
            w = layer.attention.output.dense.weight  # columns of head h: h*8 .. h*8+7
            for h in range(4):
                if keep[l, h]:
                    w[:, h * 8:(h + 1) * 8] *= float(scales[l, h])
    prune_heads(model, keep)
    p = runs["mask_tuning"]["predictions"]
    stored = json.loads(p[(p["criterion"] == "his") & (p["sparsity"] == 0.5)]["y_pred"].iloc[0])
    from hpbench.run.stages import DEV_SEED

    dev = encode(task, tok, task.load("dev", n=24, seed=DEV_SEED), 24)
    _, got = predict(model, task, dev, pad_id=pad_id_of(tok))
    assert len(stored) == 24 and np.allclose(np.asarray(got, dtype=float), stored, rtol=0, atol=1e-6)
    # the untuned pruned model predicts otherwise (the test tells mask tuning from no recovery: with scales of 1, or
    # no tuning at all, it fails)
    none = runs["none"]["predictions"]
    untuned = json.loads(none[(none["criterion"] == "his") & (none["sparsity"] == 0.5)]["y_pred"].iloc[0])
    assert np.abs(np.asarray(untuned) - np.asarray(stored)).max() > 1e-5  # (tiny model: outputs near -0.006)
    assert not torch.allclose(scales[keep], torch.ones_like(scales[keep]))
    # the report: what each recovery adds, paired; the AUC difference equals one computed from the results table
    from hpbench.report.recovery import recovery_table
    from hpbench.run import load_tables

    rt = recovery_table(load_tables(tmp_path / "res"), n_boot=200)
    assert sorted(zip(rt["criterion"], rt["recovery"])) == [("his", "finetune"), ("his", "mask_tuning"),
                                                           ("random", "finetune"), ("random", "mask_tuning")]
    for _, row in rt.iterrows():
        auc = {rec: (main[rec][(row["criterion"], 0.0)] + main[rec][(row["criterion"], 0.5)]) / 2 for rec in main}
        assert row["AUC none"] == pytest.approx(auc["none"]) and row["AUC recovered"] == pytest.approx(auc[row["recovery"]])
        assert row["Δ"] == pytest.approx(auc[row["recovery"]] - auc["none"])
        assert row["Δ lo"] <= row["Δ"] + 1e-12 and row["Δ"] - 1e-12 <= row["Δ hi"] and 0 < row["p"] <= 1
