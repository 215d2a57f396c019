import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def tiny_config(kind: str = "bert", **kw):
    from transformers import BertConfig, XLMRobertaConfig

    common = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=80, initializer_range=0.3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    common.update(kw)
    if kind == "bert":
        return BertConfig(vocab_size=200, **common)
    return XLMRobertaConfig(vocab_size=200, pad_token_id=1, **common)


def tiny_model(kind: str = "bert", num_labels: int = 2, seed: int = 0, attn: str = "eager", **kw):
    from transformers import BertForSequenceClassification, XLMRobertaForSequenceClassification

    torch.manual_seed(seed)
    cls = BertForSequenceClassification if kind == "bert" else XLMRobertaForSequenceClassification
    cfg = tiny_config(kind, num_labels=num_labels, **kw)
    cfg._attn_implementation = attn
    m = cls(cfg)
    m.eval()
    return m


def tiny_batch(n: int = 4, T: int = 9, seed: int = 0, pad_id: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 200, (n, T), generator=g)
    mask = torch.ones(n, T, dtype=torch.long)
    for i in range(n):  # ragged lengths: padding on the right
        L = T - (i * 2) % (T - 2)
        ids[i, L:] = pad_id
        mask[i, L:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture
def bert():
    return tiny_model("bert")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random BERT saved locally with minilm's tokenizer: a "local directory" model for fast tests."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from hpbench.models import resolve_model

    src = resolve_model("minilm")
    tok = AutoTokenizer.from_pretrained(src)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tiny-bert")
    BertModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")


@pytest.fixture(scope="session")
def slurm():
    """A real one-node SLURM cluster for the session (tests/slurm_cluster.py); ``SLURM_CONF`` set while it runs."""
    from slurm_cluster import OneNodeCluster, why_not

    if why_not():
        pytest.skip(why_not())
    cluster = OneNodeCluster()
    try:
        env = cluster.__enter__()
    except Exception as e:  # noqa: BLE001 - SLURM installed but not startable here: say why (.ci/run prints it too)
        pytest.skip(f"SLURM is installed but the one-node cluster did not start: {str(e)[:500]}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = env["SLURM_CONF"]
    try:
        yield env
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        cluster.__exit__(None, None, None)
