"""Attention adapters: the machinery that gates, prunes and counts an architecture's heads.

The role TextPruner's per-architecture structure maps play. Which model type uses which adapter (with which
projection names) is data, in one record per family under :mod:`hpbench.models.architectures`;
:mod:`hpbench.models.heads` (gates, pruning, save/load) and :mod:`hpbench.models.flops` go through :func:`adapter_for`.

An adapter answers: the per-layer *sites* (the module that owns the attention, and the attribute the attention
module sits in), the current head count and head size of a site, the module whose input is the concatenated head
contexts (gates multiply it, ``MHA(x) = W_O [xi_1 Att_1(x); ...] + b_O``), how to remove heads physically (Q/K/V rows,
O columns; a layer with no head left gets a stand-in that returns O's bias), and the architecture's shape for FLOP
counts. Kinds here: :class:`BertFamily` (``.self.query`` + ``.output.dense``), :class:`Projections` (separate Q/K/V/O
linears), :class:`GroupedProjections` (grouped KV heads), :class:`FusedQKV` (GPT-2's fused ``c_attn``).
"""
from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import prune_linear_layer

from ..core.registry import Registry


@dataclass(frozen=True)
class Shape:
    """An architecture's sizes for FLOP counts: layers, heads, head size, hidden size, FFN size."""

    layers: int
    heads: int
    head_dim: int
    hidden: int
    ffn: int
    kv_heads: int | None = None  # grouped KV heads (GQA); None = one per query head
    ffn_mats: int = 2  # FFN weight matrices: 2 (up, down), 3 for gated MLPs (gate, up, down)


class NoHeads(nn.Module):
    """Stand-in for a BERT self-attention module whose heads were all pruned: a 0-wide context."""

    def __init__(self, attention_head_size: int) -> None:
        super().__init__()
        self.num_attention_heads = 0
        self.attention_head_size = attention_head_size
        self.all_head_size = 0

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        return hidden_states.new_zeros(*hidden_states.shape[:-1], 0), None


class EmptyAttention(nn.Module):
    """Stand-in for an attention module (Q/K/V/O inside) whose heads were all pruned: returns O's bias
    (what ``W_O [] + b_O`` is), or zeros without a bias, and no attention probabilities."""

    def __init__(self, bias: torch.Tensor | None, head_dim: int) -> None:
        super().__init__()
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self.head_dim = head_dim

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        out = hidden_states.new_zeros(hidden_states.shape)
        return (out + self.bias.to(out.dtype) if self.bias is not None else out), None


def _prune_rows(layer: nn.Linear, index: torch.Tensor, dtype: torch.dtype) -> nn.Linear:
    # prune_linear_layer builds float32 layers: keep the model's dtype (bf16/fp16 models)
    return prune_linear_layer(layer, index.to(layer.weight.device)).to(dtype)


def _prune_cols(layer: nn.Linear, index: torch.Tensor, dtype: torch.dtype) -> nn.Linear:
    with warnings.catch_warnings():  # "Initializing zero-element tensors" for a fully pruned layer
        warnings.simplefilter("ignore", UserWarning)
        return prune_linear_layer(layer, index.to(layer.weight.device), dim=1).to(dtype)


def _head_index(positions: list[int], d: int) -> torch.Tensor:
    return torch.cat([torch.arange(i * d, (i + 1) * d) for i in positions]) if positions else torch.empty(0, dtype=torch.long)


class AttentionAdapter:
    """Interface; see the module docstring. A *site* is ``(owner, attribute)``: ``getattr(owner, attribute)``
    is the layer's attention module (replaced by a stand-in when all its heads go)."""

    def shape(self, config) -> Shape:
        raise NotImplementedError

    def sites(self, model: nn.Module) -> list[tuple[nn.Module, str]]:
        raise NotImplementedError

    def module(self, owner: nn.Module, attr: str) -> nn.Module:
        """The module the per-site methods below read (the attention module itself by default)."""
        return getattr(owner, attr)

    def n_heads(self, attn: nn.Module) -> int:
        raise NotImplementedError

    def head_dim(self, attn: nn.Module) -> int:
        raise NotImplementedError

    def out_proj(self, attn: nn.Module) -> nn.Linear | None:
        """The module whose input is the concatenated head contexts (None once every head is gone)."""
        raise NotImplementedError

    def prune(self, owner: nn.Module, attr: str, keep_positions: list[int]) -> None:
        """Keep only the heads at ``keep_positions`` (current numbering) of the site's attention module."""
        raise NotImplementedError

    def head_blocks(self, attn: nn.Module) -> list[tuple[torch.Tensor, int, torch.Tensor | None]]:
        """The per-head weights as ``(W, axis, index)``: ``W`` in nn.Linear layout ``[out, in]`` whose ``axis`` holds
        head-wide blocks (Q/K/V rows: axis 0; O columns: axis 1); ``index`` maps each query head to its block
        (None: block i is head i; grouped K/V: the head's KV block). [] for a layer without heads."""
        raise NotImplementedError(f"{type(self).__name__} gives no per-head weights (head_blocks); the 'l2' "
                                  "criterion needs them")

    def state(self, owner: nn.Module, attr: str) -> dict:
        """What :meth:`restore` needs to undo :meth:`prune` (module references, not copies)."""
        raise NotImplementedError

    def restore(self, owner: nn.Module, attr: str, state: dict) -> None:
        raise NotImplementedError

    def n_kv_heads(self, attn: nn.Module) -> int:
        """Current KV heads (= query heads without grouping)."""
        return self.n_heads(attn)

    def kv_heads_of(self, config, keep_row: list[bool]) -> int:
        """KV heads a layer keeps when its query heads ``keep_row`` (original numbering) are kept."""
        return int(sum(bool(k) for k in keep_row))

    def after_prune(self, model: nn.Module) -> None:
        """Model-level changes a pruned model needs (e.g. an attention function); none by default."""


@dataclass
class BertFamily(AttentionAdapter):
    """``layer.attention`` with ``.self.{query,key,value}`` (``num_attention_heads``, ``attention_head_size``) and
    ``.output.dense``: BERT, RoBERTa, XLM-R, ELECTRA, CamemBERT. DeBERTa-v2/v3 is the same with
    ``query_proj``/``key_proj``/``value_proj`` and, without shared attention keys, the relative-position
    projections ``pos_key_proj``/``pos_query_proj`` (``extra``: pruned by the same head rows; with
    ``share_att_key`` the positions go through the pruned Q/K projections themselves)."""

    q: str = "query"
    k: str = "key"
    v: str = "value"
    extra: tuple[str, ...] = ()  # further per-head output projections, pruned with Q/K/V when present

    COUNT_ATTRS = ("num_attention_heads", "all_head_size")

    def shape(self, config) -> Shape:
        return Shape(config.num_hidden_layers, config.num_attention_heads, config.hidden_size // config.num_attention_heads,
                     config.hidden_size, config.intermediate_size)

    def _projections(self, sa) -> list[str]:
        return [self.q, self.k, self.v] + [p for p in self.extra if isinstance(getattr(sa, p, None), nn.Linear)]

    def sites(self, model):
        found = [(m, "self") for m in model.modules()
                 if hasattr(m, "self") and hasattr(getattr(m, "output", None), "dense")
                 and (isinstance(m.self, NoHeads) or all(hasattr(m.self, p) for p in (self.q, self.k, self.v)))]
        if not found:
            raise TypeError(f"{type(model).__name__} has no BERT-style attention blocks (.self.{self.q}/{self.k}/{self.v} "
                            "and .output.dense)")
        return found

    def module(self, owner, attr):
        return owner  # BertAttention: .self (heads) and .output.dense (O) both hang off it

    def n_heads(self, attn):
        return attn.self.num_attention_heads

    def head_dim(self, attn):
        return attn.self.attention_head_size

    def out_proj(self, attn):
        return attn.output.dense

    def head_blocks(self, attn):
        if isinstance(attn.self, NoHeads):
            return []
        return [(getattr(attn.self, p).weight, 0, None) for p in (self.q, self.k, self.v)] + [(attn.output.dense.weight, 1, None)]

    def prune(self, owner, attr, keep_positions):
        sa, d = owner.self, owner.self.attention_head_size
        dtype = owner.output.dense.weight.dtype
        index = _head_index(keep_positions, d)
        if keep_positions:
            for p in self._projections(sa):
                setattr(sa, p, _prune_rows(getattr(sa, p), index, dtype))
            sa.num_attention_heads, sa.all_head_size = len(keep_positions), len(keep_positions) * d
        else:
            owner.self = NoHeads(d)
        owner.output.dense = _prune_cols(owner.output.dense, index, dtype)

    def state(self, owner, attr):
        sa = owner.self
        names = [] if isinstance(sa, NoHeads) else self._projections(sa)
        return {"self": sa, "dense": owner.output.dense, "proj": {p: getattr(sa, p) for p in names},
                "attrs": {k: getattr(sa, k) for k in self.COUNT_ATTRS if hasattr(sa, k)}}

    def restore(self, owner, attr, state):
        owner.self, owner.output.dense = state["self"], state["dense"]
        for k, v in {**state["proj"], **state["attrs"]}.items():
            setattr(owner.self, k, v)


@dataclass
class Projections(AttentionAdapter):
    """An attention module with separate Q/K/V/O linear layers whose forward infers the head count from the
    projections' width (``view(..., -1, head_dim)``): DistilBERT, ViT (and MHA decoders). ``layers`` is the dotted
    path of the layer list from the model's base model; ``attention`` the attribute of a layer."""

    layers: str
    attention: str
    q: str = "q_proj"
    k: str = "k_proj"
    v: str = "v_proj"
    o: str = "o_proj"
    heads_attr: str = "num_attention_heads"  # the module's own head count attribute (kept up to date)
    head_dim_attr: str = "head_dim"
    config_names: tuple[str, str, str, str] = ("num_hidden_layers", "num_attention_heads", "hidden_size", "intermediate_size")

    def shape(self, config) -> Shape:
        L, H, d, f = (getattr(config, n) for n in self.config_names)
        return Shape(L, H, getattr(config, "head_dim", None) or d // H, d, f)

    def sites(self, model):
        base = getattr(model, model.base_model_prefix, model)
        return [(layer, self.attention) for layer in operator.attrgetter(self.layers)(base)]

    def n_heads(self, attn):
        return 0 if isinstance(attn, EmptyAttention) else getattr(attn, self.heads_attr)

    def head_dim(self, attn):
        return attn.head_dim if isinstance(attn, EmptyAttention) else getattr(attn, self.head_dim_attr)

    def out_proj(self, attn):
        return None if isinstance(attn, EmptyAttention) else getattr(attn, self.o)

    def head_blocks(self, attn):
        if isinstance(attn, EmptyAttention):
            return []
        kv = self.kv_index(attn) if hasattr(self, "kv_index") else None  # grouped K/V (GroupedProjections)
        return [(getattr(attn, self.q).weight, 0, None), (getattr(attn, self.k).weight, 0, kv),
                (getattr(attn, self.v).weight, 0, kv), (getattr(attn, self.o).weight, 1, None)]

    def prune(self, owner, attr, keep_positions):
        attn = getattr(owner, attr)
        d, o = self.head_dim(attn), getattr(attn, self.o)
        dtype = o.weight.dtype
        if not keep_positions:
            setattr(owner, attr, EmptyAttention(o.bias, d))
            return
        index = _head_index(keep_positions, d)
        for p in (self.q, self.k, self.v):
            setattr(attn, p, _prune_rows(getattr(attn, p), index, dtype))
        setattr(attn, self.o, _prune_cols(o, index, dtype))
        setattr(attn, self.heads_attr, len(keep_positions))

    def state(self, owner, attr):
        attn = getattr(owner, attr)
        return {"module": attn, "attrs": {k: getattr(attn, k) for k in (self.q, self.k, self.v, self.o, self.heads_attr)}}

    def restore(self, owner, attr, state):
        setattr(owner, attr, state["module"])
        for k, v in state["attrs"].items():
            setattr(state["module"], k, v)


def _conv1d_select(layer: nn.Module, index: torch.Tensor, dim: int) -> nn.Module:
    """A transformers ``Conv1D`` (``x @ W + b``, W [in, out]) keeping ``index`` of its outputs (dim 1) or inputs (dim 0)."""
    from transformers.pytorch_utils import Conv1D

    index = index.to(layer.weight.device)
    w = layer.weight.index_select(dim, index).detach().clone()
    new = Conv1D(w.shape[1], w.shape[0]).to(device=w.device, dtype=w.dtype)
    new.weight = nn.Parameter(w)
    b = layer.bias.detach().clone() if dim == 0 else layer.bias.index_select(0, index).detach().clone()
    new.bias = nn.Parameter(b)
    return new


class FusedQKV(AttentionAdapter):
    """GPT-2: one ``Conv1D`` ``c_attn`` computes [Q | K | V] (each ``n_embd`` wide), ``c_proj`` is O; the forward
    splits by ``split_size`` and infers the head count from the width, so pruning keeps ``split_size`` and
    ``num_heads`` up to date."""

    def shape(self, config) -> Shape:
        d, H = config.n_embd, config.n_head
        return Shape(config.n_layer, H, d // H, d, config.n_inner or 4 * d)

    def sites(self, model):
        base = getattr(model, model.base_model_prefix, model)
        return [(block, "attn") for block in base.h]

    def n_heads(self, attn):
        return 0 if isinstance(attn, EmptyAttention) else attn.num_heads

    def head_dim(self, attn):
        return attn.head_dim

    def out_proj(self, attn):
        return None if isinstance(attn, EmptyAttention) else attn.c_proj

    def head_blocks(self, attn):
        if isinstance(attn, EmptyAttention):
            return []
        w = attn.c_attn.weight.T  # Conv1D [in, 3 * width] -> [3 * width, in]: Q, K, V row blocks
        q, k, v = w.split(attn.split_size, 0)
        return [(q, 0, None), (k, 0, None), (v, 0, None), (attn.c_proj.weight.T, 1, None)]

    def prune(self, owner, attr, keep_positions):
        attn = getattr(owner, attr)
        d = attn.head_dim
        if not keep_positions:
            setattr(owner, attr, EmptyAttention(attn.c_proj.bias, d))
            return
        heads = _head_index(keep_positions, d)
        width = attn.split_size
        attn.c_attn = _conv1d_select(attn.c_attn, torch.cat([heads, heads + width, heads + 2 * width]), 1)
        attn.c_proj = _conv1d_select(attn.c_proj, heads, 0)
        attn.num_heads, attn.split_size = len(keep_positions), len(keep_positions) * d

    def state(self, owner, attr):
        attn = getattr(owner, attr)
        return {"module": attn, "attrs": {k: getattr(attn, k) for k in ("c_attn", "c_proj", "num_heads", "split_size")}}

    def restore(self, owner, attr, state):
        setattr(owner, attr, state["module"])
        for k, v in state["attrs"].items():
            setattr(state["module"], k, v)


GQA_ATTENTION = "hpbench_gqa"


def gqa_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  attention_mask: torch.Tensor | None, scaling: float, dropout: float = 0.0, **kwargs):
    """Eager attention with an arbitrary query-head -> KV-head map ``module.hpbench_kv_index``: after query heads
    are pruned one by one, groups have unequal sizes, which ``repeat_kv`` cannot express. Without a map (an
    unpruned layer) query head i reads KV head ``i // num_key_value_groups``, as ``repeat_kv``."""
    idx = getattr(module, "hpbench_kv_index", None)
    if idx is None:
        idx = torch.arange(query.shape[1], device=query.device) // module.num_key_value_groups
    key, value = key.index_select(1, idx), value.index_select(1, idx)
    w = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        w = w + attention_mask[:, :, :, : key.shape[-2]]
    w = nn.functional.softmax(w, dim=-1, dtype=torch.float32).to(query.dtype)
    w = nn.functional.dropout(w, p=dropout, training=module.training)
    return torch.matmul(w, value).transpose(1, 2).contiguous(), w


def register_gqa_attention() -> None:
    """Make ``hpbench_gqa`` a transformers attention implementation (its mask: the eager one)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    if GQA_ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(GQA_ATTENTION, gqa_attention)
        AttentionMaskInterface.register(GQA_ATTENTION, eager_mask)


@dataclass
class GroupedProjections(Projections):
    """Decoders with grouped KV heads (Llama, Qwen2, Mistral): query heads are gated and pruned one by one; a KV
    head goes only when every query head of its group is pruned. The per-layer map query head -> KV head is a
    buffer (``hpbench_kv_index``) recomputed from ``config.hpbench_pruned_heads`` on load, and a pruned model runs
    with the ``hpbench_gqa`` attention function."""

    ffn_mats: int = 3

    def shape(self, config) -> Shape:
        s = super().shape(config)
        return Shape(s.layers, s.heads, s.head_dim, s.hidden, s.ffn, config.num_key_value_heads, self.ffn_mats)

    def n_heads(self, attn):
        return 0 if isinstance(attn, EmptyAttention) else getattr(attn, self.q).out_features // attn.head_dim

    def n_kv_heads(self, attn):
        return 0 if isinstance(attn, EmptyAttention) else getattr(attn, self.k).out_features // attn.head_dim

    def kv_index(self, attn) -> torch.Tensor:
        idx = getattr(attn, "hpbench_kv_index", None)
        return idx.cpu() if idx is not None else torch.arange(self.n_heads(attn)) // attn.num_key_value_groups

    def kv_heads_of(self, config, keep_row):
        groups = config.num_attention_heads // config.num_key_value_heads
        return len({h // groups for h, k in enumerate(keep_row) if k})

    def prune(self, owner, attr, keep_positions):
        attn = getattr(owner, attr)
        if not keep_positions:
            return super().prune(owner, attr, keep_positions)
        d, o = attn.head_dim, getattr(attn, self.o)
        kv_of = self.kv_index(attn)[keep_positions].tolist()
        kept_kv = sorted(set(kv_of))
        q_index, kv_index = _head_index(keep_positions, d), _head_index(kept_kv, d)
        setattr(attn, self.q, _prune_rows(getattr(attn, self.q), q_index, o.weight.dtype))
        for p in (self.k, self.v):
            setattr(attn, p, _prune_rows(getattr(attn, p), kv_index, o.weight.dtype))
        setattr(attn, self.o, _prune_cols(o, q_index, o.weight.dtype))
        attn.register_buffer("hpbench_kv_index", torch.tensor([kept_kv.index(g) for g in kv_of], device=o.weight.device),
                             persistent=False)

    def state(self, owner, attr):
        attn = getattr(owner, attr)
        names = (self.q, self.k, self.v, self.o)
        return {"module": attn, "attrs": {k: getattr(attn, k) for k in names},
                "kv_index": getattr(attn, "hpbench_kv_index", None)}

    def restore(self, owner, attr, state):
        setattr(owner, attr, state["module"])
        for k, v in state["attrs"].items():
            setattr(state["module"], k, v)
        if state["kv_index"] is None and "hpbench_kv_index" in state["module"]._buffers:
            del state["module"]._buffers["hpbench_kv_index"]
        elif state["kv_index"] is not None:
            state["module"].hpbench_kv_index = state["kv_index"]

    def after_prune(self, model):
        register_gqa_attention()
        model.set_attn_implementation(GQA_ATTENTION)


ADAPTERS: Registry[AttentionAdapter] = Registry("attention adapter (config.model_type)")  # filled by architectures/


def unsupported(model_or_config, supported) -> TypeError:
    """The error for a model whose ``config.model_type`` hpbench does not know: it names the type and the supported
    ones, and says how to add one."""
    config = getattr(model_or_config, "config", model_or_config)
    return TypeError(f"head pruning does not support model_type {getattr(config, 'model_type', None)!r} "
                     f"({type(model_or_config).__name__}); supported: {', '.join(sorted(supported))}. Add one file to "
                     "hpbench/models/architectures/ (or register an Architecture from a plugin) to add one.")


def adapter_for(model_or_config) -> AttentionAdapter:
    """The adapter of a model (or config) by ``config.model_type`` (:func:`unsupported` when there is none)."""
    mt = getattr(getattr(model_or_config, "config", model_or_config), "model_type", None)
    if mt not in ADAPTERS:
        raise unsupported(model_or_config, ADAPTERS.names())
    return ADAPTERS.get(mt)
