"""FFN neurons: where each architecture's feed-forward neurons are, gates on them, and their physical pruning.

Neuron j of layer l is output j of the up projection(s) (W_1; gated MLPs: gate and up) and input column j of the
down projection W_2, so with a neuron mask m the FFN computes

    FFN(x) = W_2 [m_1 a_1(x); ...; m_N a_N(x)] + b_2,     a(x) = act(W_1 x + b_1)   (gated: act(W_g x) * W_u x).

:class:`NeuronGates` multiplies the down projection's input by the gates (forward pre-hook; per layer ``[L, N]`` or
per example ``[B, L, N]``); :func:`prune_neurons` removes neurons (up rows, down columns), which computes exactly
what gate 0 computes. Pruned neurons go into ``config.hpbench_pruned_neurons`` (original numbering) so
:func:`hpbench.models.heads.from_pretrained` rebuilds the shapes. Where the neurons are is data: each
architecture record (:mod:`hpbench.models.architectures`) gives its :class:`FFNMap`.
"""
from __future__ import annotations

import copy
import operator
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ..core.registry import Registry
from .adapters import _conv1d_select, _prune_cols, _prune_rows, adapter_for
from .hooks import HookGroup


@dataclass(frozen=True)
class FFNMap:
    """``layers``: dotted path of the layer list from the base model; ``up``: each layer's projections whose outputs
    are the neurons (dotted, from the layer); ``down``: the projection whose inputs are the neurons."""

    layers: str
    up: tuple[str, ...]
    down: str


FFN_MAPS: Registry[FFNMap] = Registry("FFN map (model type)")  # filled by hpbench.models.architectures


def ffn_map(model: nn.Module) -> FFNMap:
    return FFN_MAPS.get(model.config.model_type)


def ffn_layers(model: nn.Module) -> list[nn.Module]:
    """The layer modules that hold an FFN, in order."""
    base = getattr(model, model.base_model_prefix, model)
    return list(operator.attrgetter(ffn_map(model).layers)(base))


def down_projections(model: nn.Module) -> list[nn.Module]:
    """Each layer's down projection (its input: the neuron activations)."""
    down = ffn_map(model).down
    return [operator.attrgetter(down)(layer) for layer in ffn_layers(model)]


def _width(m: nn.Module, side: str) -> int:
    """A projection's input (``side="in"``) or output width: nn.Linear ``[out, in]``, Conv1D ``[in, out]``."""
    w = m.weight
    conv = not isinstance(m, nn.Linear)
    return w.shape[(0 if conv else 1) if side == "in" else (1 if conv else 0)]


def ffn_shape(model: nn.Module) -> tuple[int, int]:
    """(layers, neurons per layer) of the unpruned configuration."""
    s = adapter_for(model).shape(model.config)
    return s.layers, s.ffn


def neurons_per_layer(model: nn.Module) -> list[int]:
    """Current neurons of each layer (fewer than the config's after :func:`prune_neurons`)."""
    return [_width(d, "in") for d in down_projections(model)]


class NeuronGates(HookGroup):
    """Multiply each FFN neuron's activation by a gate: ``gates`` ``[L, N]`` or per example ``[B, L, N]`` (per-example
    gradients in one backward, as :class:`hpbench.models.heads.HeadGates`); None disables gating."""

    def __init__(self, model: nn.Module, gates: torch.Tensor | None = None) -> None:
        self.gates = gates
        self._handles = [d.register_forward_pre_hook(self._hook(l)) for l, d in enumerate(down_projections(model))]

    def _hook(self, layer: int):
        def hook(_module, args):
            if self.gates is None:
                return None
            x, *rest = args
            g = self.gates[..., layer, :].to(device=x.device, dtype=x.dtype)
            if g.shape[-1] != x.shape[-1]:
                raise ValueError(f"neuron gate for layer {layer} has {g.shape[-1]} neurons, the layer has {x.shape[-1]}")
            if g.dim() == 2:  # [B, N] -> [B, 1, ..., N]
                g = g.view(g.shape[0], *([1] * (x.dim() - 2)), g.shape[1])
            return (x * g, *rest)
        return hook


class NoInputs(nn.Module):
    """Stand-in for a ``Conv1D`` down projection whose every input neuron was pruned (``Conv1D`` cannot take a
    0-wide input): returns its bias, what ``x @ W + b`` is for an empty ``x``. ``weight`` ``[0, out]`` keeps the
    Conv1D layout (and the checkpoint's key)."""

    def __init__(self, bias: torch.Tensor) -> None:
        super().__init__()
        self.bias = nn.Parameter(bias.detach().clone())
        self.register_buffer("weight", bias.detach().new_zeros(0, bias.numel()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(*x.shape[:-1], self.bias.numel()) + self.bias.to(x.dtype)


def _select(m: nn.Module, index: torch.Tensor, side: str) -> nn.Module:
    """``m`` keeping only its outputs (``side="out"``) or inputs (``"in"``) at ``index``; nn.Linear or Conv1D."""
    if isinstance(m, nn.Linear):
        with warnings.catch_warnings():  # "Initializing zero-element tensors" for a layer left without neurons
            warnings.simplefilter("ignore", UserWarning)
            return (_prune_rows if side == "out" else _prune_cols)(m, index, m.weight.dtype)
    if side == "in" and index.numel() == 0:
        return NoInputs(m.bias)
    return _conv1d_select(m, index.to(m.weight.device), 1 if side == "out" else 0)


def _set(layer: nn.Module, path: str, module: nn.Module) -> None:
    owner, _, attr = path.rpartition(".")
    setattr(operator.attrgetter(owner)(layer) if owner else layer, attr, module)


def ffn_keep_from_pruned(model: nn.Module) -> torch.Tensor:
    """``[L, N]`` bool mask of the neurons still present (original numbering)."""
    keep = torch.ones(ffn_shape(model), dtype=torch.bool)
    for layer, ids in (getattr(model.config, "hpbench_pruned_neurons", None) or {}).items():
        keep[int(layer), list(ids)] = False
    return keep


def prune_neurons(model: nn.Module, keep: torch.Tensor) -> nn.Module:
    """Physically remove the FFN neurons where ``keep[l, j]`` is False (original numbering; in place, returns
    ``model``). Neurons already pruned stay pruned."""
    keep = torch.as_tensor(keep).bool()
    if tuple(keep.shape) != ffn_shape(model):
        raise ValueError(f"neuron mask has shape {tuple(keep.shape)}; this model needs {ffn_shape(model)} (layers, neurons)")
    fm, present = ffn_map(model), ffn_keep_from_pruned(model)
    for l, layer in enumerate(ffn_layers(model)):
        ids = present[l].nonzero().flatten()  # original ids of the current positions
        pos = keep[l, ids].nonzero().flatten()
        if len(pos) == len(ids):
            continue
        for path in fm.up:
            _set(layer, path, _select(operator.attrgetter(path)(layer), pos, "out"))
        _set(layer, fm.down, _select(operator.attrgetter(fm.down)(layer), pos, "in"))
        present[l] &= keep[l]
    model.config.hpbench_pruned_neurons = {str(l): (~row).nonzero().flatten().tolist()
                                           for l, row in enumerate(present) if not row.all()}
    return model


def add_ffn_bias(model: nn.Module, layers: list[int]) -> None:
    """Give the down projection of each of ``layers`` a (zero) bias where it has none (FLAP's FFN compensation);
    ``config.hpbench_ffn_bias`` lists the layers so a saved model is rebuilt with it."""
    downs = down_projections(model)
    for l in layers:
        d = downs[l]
        if d.bias is None:
            out = d.weight.shape[0] if isinstance(d, nn.Linear) else d.weight.shape[1]
            d.bias = nn.Parameter(torch.zeros(out, dtype=d.weight.dtype, device=d.weight.device))
    model.config.hpbench_ffn_bias = sorted(set(getattr(model.config, "hpbench_ffn_bias", None) or []) | set(layers))


def scale_neurons(model: nn.Module, scales: torch.Tensor) -> nn.Module:
    """A copy of ``model`` (neurons not yet pruned) whose down-projection column of neuron (l, j) is multiplied by
    ``scales[l, j]`` (mask tuning's real-valued neuron masks, Kwon et al. 2022)."""
    if tuple(scales.shape) != (len(neurons_per_layer(model)), max(neurons_per_layer(model))) or \
            len(set(neurons_per_layer(model))) != 1:
        raise ValueError(f"scales of shape {tuple(scales.shape)} do not fit the neurons {neurons_per_layer(model)}")
    out = copy.deepcopy(model)
    with torch.no_grad():
        for l, d in enumerate(down_projections(out)):
            s = scales[l].to(device=d.weight.device, dtype=d.weight.dtype)
            d.weight.mul_(s[None, :] if isinstance(d, nn.Linear) else s[:, None])
    return out
