"""XNLI's train/dev split from its dev file: whole premise groups held apart, the same items in every language."""
import csv

from conftest import needs_shared

from hpbench.tasks.datadir import data_dir
from hpbench.tasks.lookup import get_task


@needs_shared
def test_no_evaluated_premise_was_trained_on_and_every_language_holds_out_the_same_items():
    task = get_task("xnli")
    path = data_dir(None) / "xtreme" / "xnli" / "dev-en.tsv"
    raw = [r for r in csv.reader(open(path, encoding="utf-8", newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)]
    premise_of = {}
    for i, r in enumerate(raw):  # by hand: the file's rows, three per premise
        premise_of.setdefault(i // 3, set()).add(r[0])
    assert len(raw) == 2490 and all(len(p) == 1 for p in premise_of.values())
    dev, train = task.load("dev"), task.load("train")
    assert len(dev) == 1002 and len(train) == 1488  # >= 1,000 evaluated pairs per language
    assert not {e.text for e in dev} & {e.text for e in train}
    assert sorted(e.label for e in dev).count(0) == 334  # whole groups: one pair per label each
    for lang in ("de", "zh", "hi"):
        other = task.load("dev", language=lang)
        assert [e.label for e in other] == [e.label for e in dev]  # the same items (their translations)
        assert {e.text for e in other}.isdisjoint({e.text for e in task.load("train", language=lang)})
