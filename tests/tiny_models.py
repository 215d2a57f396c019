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


def three_live_heads():
    """A tiny BERT (3 x 4 heads) whose output depends on three heads only (the others' output columns zeroed),
    dropout off, and a distillation loss to its own unpruned logits: any kept set holding the three live heads has
    loss 0, and for fewer kept heads the optimum is found by enumeration."""
    import itertools
    import math

    from hpbench.models.heads import HeadGates, head_shape

    model, _ = tiny("bert")
    L, H = head_shape(model)
    d = model.config.hidden_size // H
    live = [(0, 1), (1, 0), (2, 3)]
    with torch.no_grad():
        for layer in range(L):
            w = model.bert.encoder.layer[layer].attention.output.dense.weight
            for h in range(H):
                if (layer, h) not in live:
                    w[:, h * d:(h + 1) * d] = 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.Dropout):
            mod.p = 0.0
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 100, (32, 8), generator=g)
    with torch.no_grad():
        target = model(input_ids=ids).logits
    data = [{"input_ids": ids[i].tolist(), "attention_mask": [1] * 8, "labels": 0, "idx": torch.tensor(i)} for i in range(32)]

    def loss_fn(m, b, gates):
        return ((m(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float()
                 - target[b["idx"]]) ** 2).sum(-1).mean()

    def hard_loss(keep: torch.Tensor) -> float:
        with torch.no_grad(), HeadGates(model) as hg:
            hg.gates = keep.float()
            return float(((model(input_ids=ids).logits - target) ** 2).sum(-1).mean())

    def best_of(k: int) -> float:  # the exhaustive optimum over all k-subsets of the 12 heads
        best = math.inf
        for kept in itertools.combinations(range(L * H), k):
            keep = torch.zeros(L * H, dtype=torch.bool)
            keep[list(kept)] = True
            best = min(best, hard_loss(keep.view(L, H)))
        return best

    live_mask = torch.zeros(L, H, dtype=torch.bool)
    for layer, h in live:
        live_mask[layer, h] = True
    return model, loss_fn, data, hard_loss, best_of, live_mask


def continuation_logp(model, tok, context: str, continuation: str) -> float:
    """The independent reference for lm-eval 0.4.13's causal loglikelihood: the whole string and the context encoded
    with the tokenizer's defaults, the continuation's tokens being the whole's after the context's length, their
    log-probabilities summed (float64) from one forward pass over context + continuation."""
    whole, ctx = tok(context + continuation)["input_ids"], tok(context)["input_ids"]
    cont = whole[len(ctx):]
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=ids).logits.double(), -1)[0]
    return float(sum(lp[len(ctx) - 1 + j, t] for j, t in enumerate(cont)))
