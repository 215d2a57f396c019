"""MPNet (Song et al. 2020; all-mpnet-base-v2): ``encoder.layer[i].attention.attn`` with ``q``/``k``/``v``/``o`` linears
and a relative position bias that the encoder computes once for all layers, ``[B, heads, T, T]`` (one bucket
embedding per head); FFN ``intermediate.dense`` -> ``output.dense`` as in BERT.

Pruning heads of a layer also has to drop those heads' rows of the shared position bias: the pruned attention module
keeps the original index of each head it still has (``hpbench_heads``) and a forward pre-hook selects them from the
bias passed in. The bias table itself stays whole (other layers keep other heads), so a pruned MPNet reloads through
hpbench (both savers) but not as a standard transformers checkpoint.
"""
from __future__ import annotations

import torch

from ..adapters import Projections
from ..ffn import FFNMap
from .base import Architecture, TinyConfig, register_architecture


def _select_position_bias(module, args, kwargs):
    """Forward pre-hook: the shared position bias (3rd positional argument or ``position_bias=``) cut to the heads this
    module still has, by their original index."""
    heads = getattr(module, "hpbench_heads", None)
    if heads is None:
        return None
    if len(args) > 2 and args[2] is not None:
        args = (*args[:2], args[2].index_select(1, heads.to(args[2].device)), *args[3:])
    elif kwargs.get("position_bias") is not None:
        kwargs = {**kwargs, "position_bias": kwargs["position_bias"].index_select(1, heads.to(kwargs["position_bias"].device))}
    return args, kwargs


class MPNetProjections(Projections):
    """:class:`~hpbench.models.adapters.Projections` plus the bookkeeping MPNet's shared position bias needs: the kept
    heads' original indices (a non-persistent buffer, rebuilt on load from ``config.hpbench_pruned_heads``) and
    ``all_head_size``, which MPNet's forward reshapes by."""

    def sites(self, model):
        return [(layer.attention, "attn") for layer, _ in super().sites(model)]

    def prune(self, owner, attr, keep_positions):
        attn = getattr(owner, attr)
        before = getattr(attn, "hpbench_heads", None)
        before = torch.arange(self.n_heads(attn)) if before is None else before.cpu()
        super().prune(owner, attr, keep_positions)
        attn = getattr(owner, attr)
        if not keep_positions or not hasattr(attn, self.o):  # every head gone: a stand-in returns O's bias
            return
        attn.all_head_size = len(keep_positions) * attn.attention_head_size
        attn.register_buffer("hpbench_heads", before[keep_positions].to(getattr(attn, self.o).weight.device),
                             persistent=False)
        if not getattr(attn, "_hpbench_bias_hook", False):
            attn.register_forward_pre_hook(_select_position_bias, with_kwargs=True)
            attn._hpbench_bias_hook = True

    def state(self, owner, attr):
        st = super().state(owner, attr)
        attn = getattr(owner, attr)
        st["attrs"]["all_head_size"] = getattr(attn, "all_head_size", None)
        st["heads"] = getattr(attn, "hpbench_heads", None)
        return st

    def restore(self, owner, attr, state):
        super().restore(owner, attr, state)
        attn = state["module"]
        if state["heads"] is None:
            attn._buffers.pop("hpbench_heads", None)
        else:
            attn.hpbench_heads = state["heads"]


register_architecture(Architecture(
    name="mpnet", model_types=("mpnet",), post_norm=True,
    attention=MPNetProjections(layers="encoder.layer", attention="attention", q="q", k="k", v="v", o="o",
                               heads_attr="num_attention_heads", head_dim_attr="attention_head_size"),
    ffn=FFNMap("encoder.layer", ("intermediate.dense",), "output.dense"),
    tiny=TinyConfig("MPNetConfig", "MPNetForSequenceClassification", dict(
        vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=80, relative_attention_num_buckets=32, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, initializer_range=0.3, num_labels=3, pad_token_id=1), attention=("eager",)),
    description="MPNet encoders (relative position bias shared across layers)"))
