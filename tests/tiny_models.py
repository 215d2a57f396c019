"""Tiny random models of every registered architecture (tests only; never reported), built from each
architecture record's ``tiny`` configuration (hpbench/models/architectures/), and an input batch for each."""
import torch

from hpbench.models.architectures import FAMILIES

KINDS = FAMILIES.names()  # the shared test matrix: one tiny model per architecture record
DECODERS = [k for k in KINDS if "num_key_value_heads" in FAMILIES.get(k).tiny.kwargs]  # 4 query heads, 2 KV heads
EAGER_ONLY = {k for k in KINDS if "sdpa" not in FAMILIES.get(k).tiny.attention}
# layer 0: groups of unequal size; layer 1: every head pruned; layer 2: the whole first KV group pruned
KEEP = torch.tensor([[1, 0, 1, 1], [0, 0, 0, 0], [0, 0, 1, 1]], dtype=torch.bool)


def tiny(kind: str, attn: str = "eager", seed: int = 0, relative: bool = True, init_range: float = 0.3):
    """A tiny random model of architecture ``kind`` and an input batch for it. ``init_range`` 0.3 (the records'):
    attention far from uniform, so the entropy tests bite. DeBERTa-v2's record has disentangled relative attention
    with its own position projections; ``relative=False`` leaves it out (content attention only)."""
    import transformers as T

    spec = FAMILIES.get(kind).tiny
    kwargs = {**spec.kwargs, "initializer_range": init_range}
    if not relative and kind == "deberta-v2":
        kwargs.update(relative_attention=False, pos_att_type=[])
        for k in ("share_att_key", "max_relative_positions", "position_buckets"):
            kwargs.pop(k, None)
    torch.manual_seed(seed)
    model = getattr(T, spec.model)(getattr(T, spec.config)(**kwargs))
    model.set_attn_implementation(attn)
    model.eval()
    g = torch.Generator().manual_seed(seed + 1)
    if spec.inputs == "image":
        return model, {"pixel_values": torch.randn(3, 3, 16, 16, generator=g)}
    ids = torch.randint(1, 100, (3, 9), generator=g)
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    return model, {"input_ids": ids, "attention_mask": mask}


def tiny_decoder(kind, attn="eager"):
    """A tiny GQA decoder (8 query heads over 4 KV heads, width 64) of ``kind`` (llama, qwen2, mistral)."""
    import transformers as T

    torch.manual_seed(0)
    name = {"llama": "Llama", "qwen2": "Qwen2", "mistral": "Mistral"}[kind]
    cfg = getattr(T, f"{name}Config")(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                                      num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=64,
                                      initializer_range=0.3)
    m = getattr(T, f"{name}ForCausalLM")(cfg)
    m.set_attn_implementation(attn)
    return m.eval()
