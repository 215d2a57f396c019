"""Kwon et al. 2022's mask tuning as released (``WoosukKwon/retraining-free-pruning`` @ 806ac5a, ``prune/rescale.py:
rescale_mask`` with ``utils/linalg.py: lsmr_cupy_solver``): the kept heads' and neurons' mask values become real
numbers, fitted layer by layer to a *teacher-assistant*: the same search at MAC constraint sqrt(c) (0.707 for 0.5).

For layer l = 0, 1, ..., with both models' inputs to the layer propagated so far (the *student* through the masks
already tuned in earlier layers, the teacher through its binary masks):

1. attention (never in layer 0): A = [c_h for kept heads h, a column of ones] with c_h = W_o[:, h] ctx_h(student)
   (every non-padding token x every output feature a row), B = teacher's W_o ctx + b + x_T - b - x_S (teacher's
   pre-LayerNorm attention sum minus the output bias minus the student's residual x_S, the layer input);
2. the FFN, on the attention just tuned: A_j = a_j W_2[:, j] over the kept neurons (activations *before* the neuron
   mask: the released hook captures the down projection's input before the mask hook runs, for the teacher too), B =
   teacher's W_2 a_T + u_T - u_S (u: the FFN's input, its residual); in the last layer of a sequence-level task only
   the first token's rows ([CLS]) count;
3. each is solved from its normal equations (A^T A) x = A^T B by LSMR with ``damp=1`` on x - 1 (toward 1), the ones
   column's offset dropped; when LSMR fails (istop >= 3) or a value leaves [-10, 10], tuning stops for this layer
   and every later one (the masks stay binary there).

Needs a post-LN architecture (``Architecture.post_norm``: residuals are the layer input and the FFN input). Layers
are replayed one at a time on cached inputs (the first layer's call arguments captured once), so a level costs about
four forward passes of the sample.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..core.device import autocast, model_device
from ..models.architectures import architecture_for
from ..models.ffn import down_projections, ffn_layers, ffn_map
from ..models.heads import HeadGates, out_projections
from ..tasks.encoding import batches, model_inputs

SCALE_LIMIT = 10.0


class _Stop(Exception):
    pass


@dataclass
class Rescaled:
    """Tuned mask values (``[L, H]`` heads, ``[L, N]`` neurons; pruned units 0, untuned kept units 1) and where tuning
    stopped (``stopped``: None when every layer was fitted, else why)."""

    head: torch.Tensor
    neuron: torch.Tensor
    stopped: str | None = None
    lsmr_stops: list[int] = field(default_factory=list)


def lsmr_toward_one(ata: np.ndarray, atb: np.ndarray) -> tuple[np.ndarray, bool, int]:
    """``lsmr_cupy_solver``: x = 1 + argmin ||ATA y - (ATB - ATA 1)||^2 + ||y||^2 (scipy's LSMR, the algorithm cupy's
    port runs, with cupy's defaults: atol = btol = 1e-6, conlim 1e8 and at most 5 n iterations, where scipy stops at
    n); success when LSMR's istop < 3. One unknown: the division the released solver does (its success flag is then
    undefined there; taken as success)."""
    from scipy.sparse.linalg import lsmr

    b = atb - ata.sum(1)
    if b.shape[0] == 1:
        return b / ata[0, 0] + 1.0, True, 1
    sol = lsmr(ata, b, damp=1.0, maxiter=5 * b.shape[0])  # cupyx lsmr: maxiter = 5 min(m, n)
    return sol[0] + 1.0, bool(sol[1] < 3), int(sol[1])


def check_rescalable(model) -> None:
    arch = architecture_for(model)
    if not arch.post_norm or arch.ffn is None:
        raise ValueError(f"kwon: the released mask tuning fits post-LN layers (BERT, RoBERTa and the other post-LN "
                         f"encoders); {model.config.model_type!r} is not one (tune=false runs without it)")


class _Replay:
    """One layer at a time on cached inputs, with head gates and this layer's neuron mask, capturing the attention
    output projection's input, the FFN's input and the down projection's input (before the neuron mask)."""

    def __init__(self, model: nn.Module, encoded, batch_size: int, pad_id: int, precision: str) -> None:
        self.model, self.precision, self.device = model, precision, model_device(model)
        self.layers = ffn_layers(model)
        projections = out_projections(model)
        self.outs, self.head_dim = [o for o, _ in projections], projections[0][1]
        self.ups = [operator.attrgetter(ffn_map(model).up[0])(layer) for layer in self.layers]
        self.downs = down_projections(model)
        self.calls, self.inputs, self.rows = [], [], []
        hook = self.layers[0].register_forward_pre_hook(self._first_call, with_kwargs=True)
        try:
            with torch.no_grad():
                for b in batches(encoded, batch_size, bucket=False, pad_id=pad_id):
                    inp = model_inputs(b, self.device)
                    am = inp.get("attention_mask")
                    self.rows.append(am.bool() if am is not None else torch.ones(inp["input_ids"].shape, dtype=torch.bool,
                                                                                 device=self.device))
                    try:
                        with autocast(self.device, precision):
                            model(**inp)
                    except _Stop:
                        pass
        finally:
            hook.remove()

    def _first_call(self, _mod, args, kwargs):
        if args:
            self.inputs.append(args[0])
            self.calls.append((args[1:], kwargs))
        else:
            self.inputs.append(kwargs["hidden_states"])
            self.calls.append(((), {k: v for k, v in kwargs.items() if k != "hidden_states"}))
        raise _Stop

    @torch.no_grad()
    def run(self, l: int, xs: list[torch.Tensor], head_gates: torch.Tensor, neuron_mask: torch.Tensor):
        """(outputs, [(ctx, ffn input, activations) per batch]) of layer ``l`` on inputs ``xs``."""
        layer, caught = self.layers[l], {}
        nm = neuron_mask.to(self.device)

        def keep(name):
            def fn(_m, args):
                caught[name] = args[0]
            return fn

        def down(_m, args):
            caught["act"] = args[0]
            return (args[0] * nm.to(args[0].dtype), *args[1:])

        outs, got = [], []
        with HeadGates(self.model, head_gates.to(self.device)):
            hooks = [self.outs[l].register_forward_pre_hook(keep("ctx")), self.ups[l].register_forward_pre_hook(keep("u")),
                     self.downs[l].register_forward_pre_hook(down)]
            try:
                for x, (args, kwargs) in zip(xs, self.calls):
                    with autocast(self.device, self.precision):
                        y = layer(x, *args, **kwargs)
                    outs.append(y[0] if isinstance(y, tuple) else y)
                    got.append((caught["ctx"], caught["u"], caught["act"]))
            finally:
                for h in hooks:
                    h.remove()
        return outs, got


ACC = torch.float32  # each mini-batch's A^T A, A^T B in float32 (as released, on the GPU), summed over batches in float64


def _w(m: nn.Module) -> torch.Tensor:
    w = m.weight.detach().to(ACC).cpu()
    return w if isinstance(m, nn.Linear) else w.t()  # [out, in]


def _solve(out: Rescaled, ata: torch.Tensor, atb: torch.Tensor, where: str, offset: bool) -> torch.Tensor | None:
    """The released solve and safeguards; None (and ``out.stopped`` says why) when tuning stops here."""
    x, ok, istop = lsmr_toward_one(ata.numpy(), atb.numpy())
    out.lsmr_stops.append(istop)
    if not ok:
        out.stopped = f"{where}: LSMR istop {istop}"
        return None
    x = x[:-1] if offset else x  # the ones column's offset is fitted, not kept
    if x.max() > SCALE_LIMIT or x.min() < -SCALE_LIMIT:
        out.stopped = f"{where}: a value outside [-10, 10] ({x.min():.3g}, {x.max():.3g})"
        return None
    return torch.from_numpy(x).double()


def _head_system(ctxs, targets, residuals, wo, kept, H: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A^T A, A^T B): A = [W_o[:, h] ctx_h for kept h, ones] over every token x output, B = target - residual."""
    k = kept.numel()
    ata, atb = torch.zeros(k + 1, k + 1, dtype=torch.float64), torch.zeros(k + 1, dtype=torch.float64)
    for ctx, t, x in zip(ctxs, targets, residuals):
        per = torch.einsum("tkd,okd->kto", ctx.view(-1, H, d)[:, kept], wo.view(-1, H, d)[:, kept])  # [k, tokens, out]
        a = torch.cat([per.reshape(k, -1), torch.ones(1, per[0].numel(), dtype=ACC)])
        ata += (a @ a.T).double()
        atb += (a @ (t - x).flatten()).double()
    return ata, atb


def _neuron_system(acts, targets, residuals, w2, kept) -> tuple[torch.Tensor, torch.Tensor]:
    """(A^T A, A^T B) with A_j = a_j W_2[:, j]: (a^T a) * (W^T W) and sum_t a_tj (W_2[:, j] . B_t)."""
    wk = w2[:, kept]
    ata, atb = torch.zeros(len(kept), len(kept), dtype=torch.float64), torch.zeros(len(kept), dtype=torch.float64)
    for a, t, u in zip(acts, targets, residuals):
        act = a[:, kept]
        ata += (act.T @ act).double()
        atb += (act * ((t - u) @ wk)).sum(0).double()
    return ata * (wk.T @ wk).double(), atb


def rescale_mask(model: nn.Module, teacher_keep: torch.Tensor, teacher_nkeep: torch.Tensor, keep: torch.Tensor,
                 nkeep: torch.Tensor, encoded, *, sequence_level: bool, batch_size: int = 32, pad_id: int = 0,
                 precision: str = "fp32") -> Rescaled:
    """The released ``rescale_mask`` (module docstring) on ``encoded`` (in order, mini-batches of ``batch_size``)."""
    check_rescalable(model)
    rp = _Replay(model, encoded, batch_size, pad_id, precision)
    L, H = keep.shape
    heads, neurons = keep.double().clone(), nkeep.double().clone()
    xt, xs = list(rp.inputs), list(rp.inputs)
    out = Rescaled(heads, neurons)

    def rows(ts, cls: bool = False) -> list[torch.Tensor]:  # non-padding tokens, or each sequence's first
        return [(t[:, 0] if cls else t[rp.rows[i]]).to(ACC).cpu() for i, t in enumerate(ts)]

    for l in tqdm(range(L), desc="kwon: mask tuning", leave=False):
        cls = sequence_level and l == L - 1
        wo, w2 = _w(rp.outs[l]), _w(rp.downs[l])
        xt_next, teach = rp.run(l, xt, teacher_keep.double(), teacher_nkeep[l].double())
        c_t, u_t, a_t = zip(*teach)
        # the teacher's outputs less the output biases: W_o ctx + x_T (attention), W_2 a (before the mask) + u_T (FFN)
        t_attn = [F.linear(c, wo) + x for c, x in zip(rows(c_t), rows(xt))]
        t_ffn = [F.linear(a, w2) + u for a, u in zip(rows(a_t, cls), rows(u_t, cls))]
        del teach, c_t, u_t, a_t
        kh = heads[l].nonzero().flatten()
        if kh.numel() and l != 0:
            ctx_s = rows(next(zip(*rp.run(l, xs, heads, neurons[l])[1])))
            x = _solve(out, *_head_system(ctx_s, t_attn, rows(xs), wo, kh, H, rp.head_dim), f"layer {l} heads", True)
            if x is None:
                break
            heads[l, kh] *= x
        kn = neurons[l].nonzero().flatten()
        if kn.numel():
            _, u_s, a_s = zip(*rp.run(l, xs, heads, neurons[l])[1])
            x = _solve(out, *_neuron_system(rows(a_s, cls), t_ffn, rows(u_s, cls), w2, kn), f"layer {l} neurons", False)
            if x is None:
                break
            neurons[l, kn] *= x
        if l + 1 < L:
            xs, xt = rp.run(l, xs, heads, neurons[l])[0], xt_next
    return out
