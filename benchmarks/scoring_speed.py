"""Scoring speed: hpbench's one-pass scorer vs the bertology reference, on the same examples.

Reference (transformers' bertology recipe): gates with requires_grad, output_attentions, full backward
(every weight gradient too), fixed batches padded to max_len. hpbench: frozen weights (activation-only
backward), length-bucketed batches, entropy reduced on the fly. Both compute per-example |dL/d xi| and
the mean attention entropy; the script checks the scores agree, then prints the ratios.

    python benchmarks/scoring_speed.py [--model minilm] [--task sst2] [--n 512] [--device cpu] [--passes auto]

hpbench's scorer runs in one eager pass (gradients and attention probabilities together; the CPU default) or in
split passes (a gradient pass through sdpa/flash without materialised attention + a no-grad eager pass for
entropy; the accelerator default); both are timed, the one ``--passes`` names is the headline ratio.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from hpbench import models
from hpbench.tasks.encoding import batches, collate, encode, model_inputs
from hpbench.models.heads import HeadGates, head_shape
from hpbench.criteria.stats import attention_entropy, attn_implementation, frozen, head_stats, scoring_passes
from hpbench.tasks import get_task


def padded_batches(enc, bs, max_len, pad_id):
    for i in range(0, len(enc), bs):
        items = [dict(it) for it in enc[i:i + bs]]
        b = collate(items, pad_id)
        T = b["input_ids"].shape[1]
        if T < max_len:  # pad to the fixed length, as the reference script does
            extra = max_len - T
            for k in list(b):
                if k == "labels":
                    continue
                fill = pad_id if k == "input_ids" else 0
                b[k] = torch.cat([b[k], torch.full((b[k].shape[0], extra), fill, dtype=b[k].dtype)], 1)
        yield b


def reference(model, task, enc, bs, max_len, pad_id, device):
    L, H = head_shape(model)
    his = torch.zeros(L, H, dtype=torch.float64)
    ent = torch.zeros(L, H, dtype=torch.float64)
    model.eval()
    with attn_implementation(model, "eager"), HeadGates(model) as hg:
        for b in padded_batches(enc, bs, max_len, pad_id):
            B = b["input_ids"].shape[0]
            g = torch.ones(B, L, H, device=device, requires_grad=True)
            hg.gates = g
            out = model(**model_inputs(b, device), output_attentions=True)
            loss = task.loss_per_example(out.logits, b["labels"].to(device)).sum()
            model.zero_grad()
            loss.backward()  # weight gradients too
            his += g.grad.abs().sum(0).double().cpu()
            m = b["attention_mask"].to(device)
            for layer, p in enumerate(out.attentions):
                ent[layer] += attention_entropy(p.detach(), m).sum(0).double().cpu()
    return (his / len(enc)).float(), (ent / len(enc)).float()


def bare_activation_backward(model, task, enc, bs, pad_id, device):
    """The limit: sdpa forward + backward to the gates only, bucketed batches, no attention capture."""
    L, H = head_shape(model)
    with frozen(model), HeadGates(model) as hg:
        for b in batches(enc, bs, bucket=True, pad_id=pad_id):
            g = torch.ones(b["input_ids"].shape[0], L, H, device=device, requires_grad=True)
            hg.gates = g
            out = model(**model_inputs(b, device))
            torch.autograd.grad(task.loss_per_example(out.logits, b["labels"].to(device)).sum(), g)


def train_fb(model, task, enc, bs, max_len, pad_id, device):
    """A bare training forward+backward (sdpa, padded batches, weight gradients)."""
    model.train()
    for b in padded_batches(enc, bs, max_len, pad_id):
        out = model(**model_inputs(b, device))
        model.zero_grad()
        task.loss_per_example(out.logits, b["labels"].to(device)).mean().backward()
    model.eval()


def timed(fn, sync):
    sync()
    t0 = time.perf_counter()
    r = fn()
    sync()
    return time.perf_counter() - t0, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--task", default="sst2")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--passes", default="auto", choices=["auto", "joint", "split"],
                    help="hpbench's scoring passes (auto: split on accelerators, joint on a CPU); the other is timed too")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    ap.add_argument("--random-init", action="store_true",
                    help="random weights from the model's config (speed does not depend on the values)")
    a = ap.parse_args()
    torch.manual_seed(0)
    task = get_task(a.task)
    if a.random_init:
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        path = models.resolve_model(a.model)
        conf = AutoConfig.from_pretrained(path, num_labels=task.num_labels)
        model, tok = AutoModelForSequenceClassification.from_config(conf), AutoTokenizer.from_pretrained(path)
    else:
        model, tok = models.load(a.model, task)
    model.to(a.device, dtype=getattr(torch, a.dtype))
    enc = encode(task, tok, task.load("dev", n=a.n, seed=0), a.max_len)
    pad = tok.pad_token_id or 0
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    # warm-up: every path once on one batch (kernel selection, allocator)
    few = enc[:a.batch]
    head_stats(model, task, few, batch_size=a.batch, pad_id=pad, desc="warm-up")
    reference(model, task, few, a.batch, a.max_len, pad, a.device)
    bare_activation_backward(model, task, few, a.batch, pad, a.device)
    train_fb(model, task, few, a.batch, a.max_len, pad, a.device)
    t_ref, (his_ref, ent_ref) = timed(lambda: reference(model, task, enc, a.batch, a.max_len, pad, a.device), sync)
    rss_after_ref = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    passes = scoring_passes(torch.device(a.device), a.passes)
    other = "joint" if passes == "split" else "split"
    head_stats(model, task, few, batch_size=a.batch, pad_id=pad, desc="warm-up", passes=other)
    t_ours, st = timed(lambda: head_stats(model, task, enc, batch_size=a.batch, pad_id=pad, passes=passes), sync)
    t_other, st_other = timed(lambda: head_stats(model, task, enc, batch_size=a.batch, pad_id=pad, passes=other), sync)
    t_bare, _ = timed(lambda: bare_activation_backward(model, task, enc, a.batch, pad, a.device), sync)
    t_train, _ = timed(lambda: train_fb(model, task, enc, a.batch, a.max_len, pad, a.device), sync)
    tol = 1e-3 if a.dtype == "float32" else 5e-2
    his_ok = torch.allclose(st.his, his_ref, rtol=tol, atol=tol * float(his_ref.abs().max()))
    ent_ok = torch.allclose(st.entropy, ent_ref, rtol=tol, atol=tol)
    res = {
        "device": torch.cuda.get_device_name() if a.device.startswith("cuda") else f"cpu x{torch.get_num_threads()} threads",
        "dtype": a.dtype, "model": a.model, "task": a.task, "examples": len(enc),
        "reference_s": round(t_ref, 3), "hpbench_s": round(t_ours, 3), "bare_activation_backward_s": round(t_bare, 3),
        "train_forward_backward_s": round(t_train, 3),
        "hpbench passes": passes, f"hpbench {other} passes_s": round(t_other, 3),
        "reference / hpbench (target >= 1.5)": round(t_ref / t_ours, 2),
        f"reference / hpbench with {other} passes": round(t_ref / t_other, 2),
        f"max |HIS diff| {passes} vs {other} / max HIS": float((st.his - st_other.his).abs().max() / st.his.abs().max()),
        "hpbench / bare activation-only backward (gap to the limit)": round(t_ours / t_bare, 2),
        "reference / train forward+backward": round(t_ref / t_train, 2),
        "same HIS scores": bool(his_ok), "same entropy": bool(ent_ok),
        "max |HIS diff| / max HIS": float((st.his - his_ref).abs().max() / his_ref.abs().max()),
        "peak RSS MiB (process, after reference)": round(rss_after_ref / 1024, 1),
    }
    for k, v in res.items():
        print(f"{k:>60}: {v}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
