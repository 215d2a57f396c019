"""The ``mask_tuning`` recovery (any criterion's mask): hpbench's one-pass simplification of Kwon et al. 2022's mask
tuning (their released procedure, with a teacher-assistant target and sequential student inputs, is
:mod:`hpbench.recovery.rescale`, what ``kwon`` runs). After a mask is chosen, the kept heads' mask values become real
numbers fitted by linear least squares so each layer's attention output matches the unpruned model's on a sample of
training tokens.

A layer's attention output is linear in its head mask m: y(m) = b + Σ_h m_h c_h, c_h = W_o[:, h] ctx_h (head h's
context through its output-projection columns). With the unpruned model's inputs (every layer fitted on the same
dense activations; the target is the dense output y(1)), the fit for kept heads K is

    m_K = argmin ||Σ_{h∈K} m_h c_h − Σ_h c_h||²  =  G_KK⁻¹ (G 1)_K,    G_hk = Σ_tokens <c_h, c_k>,

so one pass that accumulates the per-layer Gram matrices G serves every mask (any criterion's, at any sparsity).
The tuned values scale the kept heads' output-projection columns (:func:`hpbench.models.heads.scale_heads`).
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.heads import out_matrix, out_projections, scale_heads, visit_out_proj_inputs


def head_gram(model: nn.Module, encoded, batch_size: int = 32, pad_id: int = 0) -> torch.Tensor:
    """``[L, H, H]`` float64: G_hk = Σ over non-padding sample tokens of <c_h, c_k> per layer (module docstring)."""
    projs = out_projections(model)
    mats = [out_matrix(o) for o, _ in projs]
    H = mats[0].shape[1] // projs[0][1]
    gram = torch.zeros(len(projs), H, H, dtype=torch.float64)

    def visit(l: int, x: torch.Tensor) -> None:
        d = projs[l][1]
        w = mats[l].view(mats[l].shape[0], H, d)  # [out, H, d]
        c = torch.einsum("thd,ohd->hto", x.view(x.shape[0], H, d), w)  # [H, tokens, out]
        gram[l] += torch.einsum("hto,kto->hk", c, c)

    visit_out_proj_inputs(model, encoded, visit, batch_size, pad_id)
    return gram


def tuned_scales(gram: torch.Tensor, keep: torch.Tensor, ridge: float = 1e-10) -> torch.Tensor:
    """``[L, H]`` real mask values: m_K = G_KK⁻¹ (G 1)_K per layer, 0 for pruned heads (a tiny ridge, relative to
    G's diagonal, keeps a singular G_KK solvable; lstsq's minimum-norm answer where G_KK is singular)."""
    L, H = keep.shape
    out = torch.zeros(L, H, dtype=torch.float64)
    for l in range(L):
        k = keep[l].nonzero().flatten()
        if k.numel() == 0:
            continue
        g = gram[l]
        rhs = g[k].sum(1)  # (G 1)_K
        gkk = g[k][:, k]
        gkk = gkk + ridge * gkk.diagonal().mean().clamp(min=1e-300) * torch.eye(len(k), dtype=torch.float64)
        out[l, k] = torch.linalg.lstsq(gkk, rhs[:, None]).solution[:, 0]
    return out


def tune_mask(model: nn.Module, keep: torch.Tensor, gram: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """(a copy of ``model`` with the kept heads rescaled by their tuned mask values, the values ``[L, H]``)."""
    scales = tuned_scales(gram, keep)
    return scale_heads(model, torch.where(keep, scales, torch.ones_like(scales)).float()), scales
