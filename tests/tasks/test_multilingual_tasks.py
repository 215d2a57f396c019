import pytest

from hpbench.tasks.conll import to_iob2
from conftest import needs_shared


def test_iob1_to_iob2_and_type_names():
    iob1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-ORG", "I-PERSON", "B-LOCderiv", "I-OTH"]
    got = to_iob2(iob1, {"PERSON": "PER", "OTH": "MISC"})
    assert got == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG", "B-PER", "B-MISC", "B-MISC"]
    assert to_iob2(["B-PER", "I-PER", "O"]) == ["B-PER", "I-PER", "O"]  # IOB2 stays as it is
    with pytest.raises(ValueError, match="tag 'PER' is not IOB"):
        to_iob2(["PER"])


def test_first_subword_label_alignment(tiny_model_dir):
    from transformers import AutoTokenizer

    from hpbench.tasks.encoding import encode
    from hpbench.tasks import Example, get_task

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ex = [Example(["Unbelievably", "good", "Zuccalmaglio"], None, [1, 0, 3])]
    enc = encode(get_task("panx"), tok, ex)[0]
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    labels = enc["labels"]
    assert pieces[0] == "[CLS]" and labels[0] == -100 and labels[-1] == -100
    firsts = [i for i, p in enumerate(pieces) if i not in (0, len(pieces) - 1) and not p.startswith("##")]
    assert [labels[i] for i in firsts] == [1, 0, 3]  # the first subword of each word carries its label
    assert all(labels[i] == -100 for i, p in enumerate(pieces) if p.startswith("##"))
    assert len(pieces) > 5  # the words really were split


@needs_shared
def test_multilingual_tasks_read_the_shared_copies():
    from hpbench.tasks import get_task

    assert len(get_task("panx").load("dev", language="hi")) == 1000
    assert len(get_task("udpos").load("dev", language="tr")) == 988
    ru = get_task("ner").load("train", language="ru")
    assert len(ru) == 9840 and all(ex.label[0] != 2 for ex in ru if ex.label)  # no sentence starts inside an I-PER
    with pytest.raises(Exception, match=r"udpos.yaml: source.files.train\[0\]: file '.*train-hi.tsv' not found"):
        get_task("udpos").load("train", language="hi")
    with pytest.raises(ValueError, match=r"unknown language 'xx' for task 'panx'; available: en, de"):
        get_task("panx").load("dev", language="xx")


@needs_shared
def test_panx_spec_reads_what_the_file_holds():
    """An independent reading of PAN-X's token<TAB>tag lines (blank line between sentences)."""
    from conftest import SHARED
    from hpbench.tasks import get_task

    t = get_task("panx")
    sents, cur = [], []
    for line in (SHARED / "xtreme" / "panx" / "dev-de.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if cur:
                sents.append(cur)
            cur = []
            continue
        w, tag = line.split("\t")
        cur.append((w, t.label_names.index(tag)))
    if cur:
        sents.append(cur)
    got = t.load("dev", language="de")
    assert [(e.text, e.label) for e in got] == [([w for w, _ in s], [y for _, y in s]) for s in sents]


def test_a_words_label_never_sits_on_a_bare_sentencepiece_boundary():
    """Sentencepiece splits a word it has no "▁word" piece for into "▁" + the word (every Chinese word in
    multilingual-e5): the label goes on the word's piece, by hand, not on the "▁" every such word shares."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from hpbench.tasks import Example
    from hpbench.tasks.kinds import KINDS

    vocab = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0), ("\u2581", -2.0), ("\u2581the", -1.0), ("\u2581cat", -1.0),
             ("年", -1.0), ("實現", -1.0), ("s", -2.0)]
    tk = Tokenizer(models.Unigram(vocab, unk_id=0))
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Metaspace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    ex = [Example(["the", "年", "cats", "實現"], None, [1, 2, 3, 4])]
    enc = KINDS.get("token").encode(tok, ex, 32)[0]
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    assert pieces == ["\u2581the", "\u2581", "年", "\u2581cat", "s", "\u2581", "實現"]
    assert enc["labels"] == [1, -100, 2, 3, -100, -100, 4]
