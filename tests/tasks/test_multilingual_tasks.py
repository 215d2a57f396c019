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
