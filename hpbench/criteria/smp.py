"""SMP: single-shot meta-pruning (Zhang, Qi, Liu, Liu, Sun; arXiv 2011.03770), the authors' design.

hpbench's own code after the design of the authors' release (GitHub thunlp/SMP: ``pruner/pruner.py``,
``PLMwithPruner``; ``cal.py``):

* **Pruner**: a small CNN reads each head's attention map (query rows of padding zeroed, cropped or
  zero-padded to ``size x size``) and outputs two scores in (0, 2), one per sentence representation;
  a head's score is the mean over the batch. Conv 4x4 stride 2 down to 4x4 (BatchNorm + LeakyReLU 0.2
  after all but the first), a 4x4 conv to 2 channels, sigmoid x 2; weights N(0, 0.01).
* **Objective**, encoder frozen: with sentence representations ``r`` of a batch (``cls``: the pooler
  output, else the [CLS] state, for sentence-pair tasks; ``mean``: mean over real tokens, for single
  sentences; ``pooling="auto"`` picks by the input), centred by the batch mean and L2-normalised,
  ``S = 10 r r^T`` reshaped into groups of 2 adjacent entries; loss = mean KL(softmax(S_full) ||
  softmax(S_pruned)), x 10 for ``mean`` (as released). A random 20 % of the representation's features
  is kept each step (the release's dropout mask on ``r``).
* **Sampling**: in a random half of the layers every head is kept; in the others heads are drawn one
  at a time by hard Gumbel-softmax over the layer's scores (straight-through), up to ``5 H`` draws,
  until ``H / 2`` distinct heads are kept. SGD on the CNN only, gradient norm clipped at 1.0; ``width`` 4 (the
  release's ``--ndf`` default).
* **Selection**: scores averaged over the task's training (scoring) examples; heads are pruned *per
  layer* (lowest first within each layer; a global count that is not a multiple of the layers goes to
  the layers whose next head scores lowest), then the pruned pretrained model is fine-tuned
  (protocol ``prune-before-finetune``).

Scaled down for CPUs and made per task: the release trains one pruner for 6,000 steps (batch 60 x 8 accumulated,
lr 0.02) over seven GLUE training sets at once on 128 x 128 maps and ships it (``checkpoints/base.bin``, BERT-base);
hpbench trains it on the task's scoring examples for ``steps`` (default 60, lr 0.05) on ``size`` x ``size`` maps
(default 32). See docs/fidelity.md. ``smp_distance``
(:mod:`hpbench.criteria.smp_distance`) is hpbench's earlier, simpler reconstruction.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from ..core.device import model_device
from ..models.heads import HeadGates, head_shape
from ..tasks.encoding import batches, model_inputs
from .base import MaskResult, ScoringContext, register_criterion
from .stats import attn_implementation, frozen

POOLINGS = ("auto", "cls", "mean")


class MapScorer(nn.Module):
    """CNN over one head's attention map ``[N, 1, size, size]`` -> ``[N, 2]`` scores in (0, 2)."""

    def __init__(self, size: int = 32, width: int = 4) -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"smp: size={size!r}; allowed: a power of two >= 8")
        layers: list[nn.Module] = [nn.Conv2d(1, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        c = width
        for _ in range(int(math.log2(size)) - 3):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2)]
            c *= 2
        layers += [nn.Conv2d(c, 2, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return 2 * self.main(maps).flatten(1)


def attention_maps(probs: torch.Tensor, mask: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, H, T, T]`` probabilities -> ``[B * H, 1, size, size]``: padding queries zeroed, cropped/zero-padded."""
    B, H, T, _ = probs.shape
    x = probs * mask[:, None, :, None].to(probs.dtype)
    x = x[:, :, :size, :size]
    if T < size:
        x = nn.functional.pad(x, (0, size - T, 0, size - T))
    return x.reshape(B * H, 1, size, size).float()


def head_scores(scorer: MapScorer, attentions, mask: torch.Tensor, size: int, channel: int) -> torch.Tensor:
    """``[L, H]``: each head's score (channel 0: pair/[CLS] objective, 1: mean-pooled), mean over the batch."""
    out = []
    for probs in attentions:
        B, H = probs.shape[:2]
        out.append(scorer(attention_maps(probs, mask, size))[:, channel].view(B, H).mean(0))
    return torch.stack(out)


def similarity_logits(rep: torch.Tensor, group: int = 2, scale: float = 10.0) -> torch.Tensor:
    """Centred, normalised cosine similarities ``scale * x x^T`` of a batch (rows cut to a multiple of
    ``group``), reshaped to ``[-1, group]``: the logits whose softmax is the similarity distribution."""
    n = rep.shape[0] - rep.shape[0] % group
    x = rep[:n] - rep.mean(0, keepdim=True)
    x = x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return (scale * x @ x.T).reshape(-1, group)


def similarity_kl(full: torch.Tensor, pruned: torch.Tensor, group: int = 2, scale: float = 10.0) -> torch.Tensor:
    """Mean over entries of KL(softmax(S_full) || softmax(S_pruned)) (``nn.KLDivLoss(reduction='none').mean()``)."""
    target = torch.softmax(similarity_logits(full, group, scale), -1)
    logq = torch.log_softmax(similarity_logits(pruned, group, scale), -1)
    return (torch.special.xlogy(target, target) - target * logq).mean()


def sample_layer_masks(scores: torch.Tensor, keep: int, pruned_layers: list[int], generator: torch.Generator,
                       attempts: int | None = None, tau: float = 1.0) -> torch.Tensor:
    """``[L, H]`` keep mask with straight-through gradients to ``scores``: layers not in ``pruned_layers`` keep
    every head; in the others, hard Gumbel-softmax draws over the layer's scores (up to ``attempts``, default
    5 H) until ``keep`` distinct heads are drawn; the mask is the union (max) of those draws."""
    L, H = scores.shape
    attempts = attempts or 5 * H
    rows = []
    for layer in range(L):
        if layer not in pruned_layers:
            rows.append(torch.ones(H, device=scores.device, dtype=scores.dtype))
            continue
        u = torch.rand(attempts, H, generator=generator).clamp(1e-10, 1 - 1e-10).to(scores.device)
        soft = torch.softmax((scores[layer] - torch.log(-torch.log(u))) / tau, -1)  # [attempts, H]
        hard = torch.zeros_like(soft).scatter_(1, soft.argmax(1, keepdim=True), 1.0)
        draws = hard - soft.detach() + soft
        chosen = hard.cummax(0).values.sum(1)  # distinct heads after each draw
        j = int(torch.nonzero(chosen >= keep)[0]) + 1 if bool((chosen >= keep).any()) else attempts
        rows.append(draws[:j].max(0).values)
    return torch.stack(rows)


def sentence_rep(out, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """``cls``: the pooler output when the encoder has one, else the first token's state; ``mean``: mean over real tokens."""
    if pooling == "cls":
        pooled = getattr(out, "pooler_output", None)
        return pooled if pooled is not None else out.last_hidden_state[:, 0]
    m = mask.to(out.last_hidden_state.dtype)[..., None]
    return (out.last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1)


def resolve_pooling(pooling: str, encoded, tokenizer) -> str:
    """``auto``: ``cls`` for sentence pairs (two separator tokens), ``mean`` for single sentences (as released)."""
    if pooling not in POOLINGS:
        raise ValueError(f"smp: pooling={pooling!r}; allowed: {', '.join(POOLINGS)}")
    if pooling != "auto":
        return pooling
    sep = getattr(tokenizer, "sep_token_id", None)
    if sep is None or not encoded:
        return "cls"
    return "cls" if sum(int(t == sep) for t in encoded[0]["input_ids"]) >= 2 else "mean"


def _encoder(model):
    return getattr(model, model.base_model_prefix, model)


def smp_step(enc, scorer: MapScorer, hg: HeadGates, inputs: dict, *, pooling: str, size: int, keep: int,
             generator: torch.Generator, feature_keep: float = 0.2) -> torch.Tensor:
    """One training step's loss: full forward (maps, targets), sampled mask, gated forward, similarity KL."""
    L = len(hg.blocks)
    mask = inputs["attention_mask"]
    hg.gates = None
    with torch.no_grad():
        full = enc(**inputs, output_attentions=True)
    scores = head_scores(scorer, full.attentions, mask, size, 0 if pooling == "cls" else 1)
    pruned_layers = torch.randperm(L, generator=generator)[: L // 2].tolist()
    hg.gates = sample_layer_masks(scores, keep, pruned_layers, generator)
    out = enc(**inputs)
    rep_full, rep = sentence_rep(full, mask, pooling), sentence_rep(out, mask, pooling)
    fm = (torch.rand(rep.shape[-1], generator=generator) < feature_keep).to(rep.device, rep.dtype)
    loss = similarity_kl(rep_full.float() * fm, rep.float() * fm)
    return loss * (10.0 if pooling == "mean" else 1.0)


def train_pruner(ctx: ScoringContext, *, steps: int, lr: float, size: int, width: int, pooling: str,
                 feature_keep: float = 0.2) -> tuple[torch.Tensor, dict]:
    """Train the CNN pruner on the frozen model (``ctx.model``), then average its scores over ``ctx.encoded``:
    (scores [L, H], info)."""
    model, device = ctx.model, model_device(ctx.model)
    L, H = head_shape(model)
    torch.manual_seed(ctx.seed)
    scorer, g = MapScorer(size, width).to(device), ctx.generator(31)
    opt = torch.optim.SGD(scorer.parameters(), lr=lr)
    enc, losses, t0 = _encoder(model), [], time.perf_counter()
    model.eval()
    with frozen(model), attn_implementation(model, "eager"), HeadGates(model) as hg:
        while len(losses) < steps:
            for b in batches(ctx.encoded, ctx.batch_size, shuffle=True, seed=ctx.seed * 131 + len(losses), pad_id=ctx.pad_id):
                if len(losses) >= steps or b["input_ids"].shape[0] < 2:
                    continue
                scorer.train()
                loss = smp_step(enc, scorer, hg, model_inputs(b, device), pooling=pooling, size=size, keep=H // 2,
                                generator=g, feature_keep=feature_keep)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(scorer.parameters(), 1.0)  # released: max_grad_norm 1.0
                opt.step()
                losses.append(loss.detach())
            if not ctx.encoded or len(ctx.encoded) < 2:
                break
        scores = average_scores(enc, scorer, hg, ctx, size, 0 if pooling == "cls" else 1)
    info = {"training_steps": len(losses), "train_seconds": time.perf_counter() - t0, "smp_pooling": pooling}
    if losses:
        info.update(smp_objective_first=float(losses[0]), smp_objective_last=float(losses[-1]))
    return scores, info


@torch.no_grad()
def average_scores(enc, scorer: MapScorer, hg: HeadGates, ctx: ScoringContext, size: int, channel: int) -> torch.Tensor:
    """Mean over batches of the scoring examples of each head's score (the release's ``cal.py``)."""
    scorer.eval()
    hg.gates = None
    device = model_device(ctx.model)
    out = [head_scores(scorer, enc(**model_inputs(b, device), output_attentions=True).attentions,
                       b["attention_mask"].to(device), size, channel)
           for b in batches(ctx.encoded, ctx.batch_size, bucket=True, pad_id=ctx.pad_id)]
    return torch.stack(out).mean(0).cpu()


def per_layer_keep(scores: torch.Tensor, n_prune: int) -> torch.Tensor:
    """Prune ``n_prune`` heads per layer: every layer's lowest head first, then every layer's second lowest,
    ... (within a round, lowest score first), so layers lose heads evenly, as the release's per-layer bound."""
    L, H = scores.shape
    rank = scores.argsort(dim=1, stable=True).argsort(dim=1, stable=True)  # 0 = lowest within its layer
    order = sorted(range(L * H), key=lambda i: (int(rank.flatten()[i]), float(scores.flatten()[i]), i))
    keep = torch.ones(L * H, dtype=torch.bool)
    keep[order[:n_prune]] = False
    return keep.view(L, H)


def _trained(ctx: ScoringContext, steps: int, lr: float, size: int, width: int, pooling: str) -> tuple[torch.Tensor, dict]:
    pooling = resolve_pooling(pooling, ctx.encoded, ctx.tokenizer)
    return ctx.remember(("smp", steps, lr, size, width, pooling),
                        lambda: train_pruner(ctx, steps=steps, lr=lr, size=size, width=width, pooling=pooling))


def _smp_mask(ctx: ScoringContext, n_prune: int, steps: int = 60, lr: float = 0.05, size: int = 32, width: int = 4,
              pooling: str = "auto") -> MaskResult:
    scores, info = _trained(ctx, steps, lr, size, width, pooling)
    first = ctx.remember(("smp-info", steps, lr, size, width, pooling), lambda: [True])
    costs = {k: info[k] for k in ("training_steps", "train_seconds")} if first[0] and n_prune > 0 else {}
    res = MaskResult(per_layer_keep(scores, n_prune), info={k: v for k, v in info.items() if k not in costs}, costs=costs)
    if n_prune > 0:
        first[0] = False  # the one training's cost reported once (costs add up over levels)
    return res


@register_criterion("smp", mask_fn=_smp_mask, protocol="prune-before-finetune")
def smp(ctx: ScoringContext, steps: int = 60, lr: float = 0.05, size: int = 32, width: int = 4,
        pooling: str = "auto") -> torch.Tensor:
    """SMP (authors' design): a CNN over attention maps scores heads so that the pruned pretrained model keeps
    the full model's similarity distribution of sentence representations; per-layer selection, then fine-tuning."""
    return _trained(ctx, steps, lr, size, width, pooling)[0]
