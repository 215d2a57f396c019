"""Cross-lingual tasks: WikiANN NER (PAN-X), UD POS (XTREME and official treebanks), XNLI, extra NER.

``panx``, ``udpos``, ``xnli`` and ``ner`` are shipped specs (``hpbench/tasks/builtin/*.yaml``) reading the
offline copies under ``<data_dir>/xtreme`` and ``ner`` (layout of ``../shared/data``), with hub twins
(``datasets``) where the data exist there. ``ud`` reads *any* treebank under ``<data_dir>/ud`` (found, not
listed: :mod:`hpbench.tasks.treebanks`). Labelled test sets are not available offline, so evaluation uses
dev (or a fixed split), as each spec's description says.
"""
from __future__ import annotations

from pathlib import Path

from .conll import UPOS, read_conllu
from .datadir import DataError
from .spec import Example, Task, register_task
from .specs import load_task
from .treebanks import find_treebank

BUILTIN = Path(__file__).resolve().parent / "builtin"
SPECS = ["panx", "udpos", "xnli", "ner"]

for _name in SPECS:
    load_task(BUILTIN / f"{_name}.yaml")


def _ud(split: str, *, language: str = "en", root: Path | None = None) -> list[Example]:
    """Any treebank under ``<data_dir>/ud`` (see :mod:`hpbench.tasks.treebanks`). Training files over 4 MiB were
    not stored offline, so, the same for every treebank: 'train' = its dev file and 'dev' = its test file;
    without a dev file, 'train' = its train file if there is one, else (PUD: test only) the first half of
    test, and 'dev' = test (its second half for PUD)."""
    if split not in ("train", "dev"):
        raise ValueError(f"unknown split {split!r} for ud; available: train, dev")
    folder = find_treebank(root, language)
    files = sorted(folder.glob("*.conllu"))
    train = [f for f in files if f.name.endswith("-ud-train.conllu")]
    dev = [f for f in files if f.name.endswith("-ud-dev.conllu")]
    test = [f for f in files if f.name.endswith("-ud-test.conllu")]
    if not test:
        raise DataError(f"{folder}: no *-ud-test.conllu file")
    if dev or train:
        sents = read_conllu((dev or train)[0] if split == "train" else test[0])
    else:
        allt = read_conllu(test[0])
        half = len(allt) // 2
        sents = allt[:half] if split == "train" else allt[half:]
    return [Example(w, None, [UPOS.index(t) for t in tags]) for w, tags in sents]


def _ud_language(language: str, root: Path | None) -> None:
    find_treebank(root, language)


register_task(Task("ud", "token", len(UPOS), ["accuracy"], "accuracy", _ud, UPOS, ["any treebank under <data_dir>/ud"],
                   "UD POS, official treebanks (trained on dev, evaluated on test)", language_check=_ud_language))
