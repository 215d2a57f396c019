"""Cross-lingual tasks: WikiANN NER (PAN-X), UD POS (XTREME and official treebanks), XNLI, extra NER.

Offline copies under ``<data_dir>/xtreme``, ``ud`` and ``ner`` (layout of ``../shared/data``); with no data
directory the same loaders read the hub (``datasets.load_dataset("xtreme", ...)``). Labelled test sets are
not available offline, so evaluation uses dev (or a fixed split), as stated per task below.
"""
from __future__ import annotations

from pathlib import Path

from .conll import UPOS, read_conll, read_conllu, to_iob2
from .datadir import DataError, read_tsv
from .spec import Example, Task, register_task
from .treebanks import find_treebank

SHARED9 = ["en", "de", "fr", "es", "zh", "ru", "tr", "ar", "hi"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
XNLI_LABELS = ["entailment", "neutral", "contradiction"]


def _hub(name: str, config: str, split: str):
    try:
        from datasets import load_dataset
    except ImportError as e:  # pragma: no cover
        raise DataError("no data directory found (set HPBENCH_DATA_DIR) and `datasets` is not installed") from e
    return load_dataset(name, config, split=split)


def _check_split(task: str, split: str, allowed=("train", "dev")) -> None:
    if split not in allowed:
        raise ValueError(f"unknown split {split!r} for {task}; available: {', '.join(allowed)}")


# ------------------------------------------------------------------ WikiANN (PAN-X)
PANX_LANGS = ["en", "de", "fr", "es", "zh", "ru", "tr", "ar", "hi", "ja", "fi"]


def _panx(split: str, *, language: str = "en", root: Path | None = None) -> list[Example]:
    _check_split("panx", split)
    allowed = set(NER_LABELS[:7])
    if root is None:
        ds = _hub("xtreme", f"PAN-X.{language}", "validation" if split == "dev" else "train")
        names = ds.features["ner_tags"].feature.names
        return [Example(list(r["tokens"]), None, [NER_LABELS.index(names[t]) for t in r["ner_tags"]]) for r in ds]
    sents = read_conll(root / "xtreme" / "panx" / f"{split}-{language}.tsv", sep="\t", allowed=allowed)
    return [Example(w, None, [NER_LABELS.index(t) for t in tags]) for w, tags in sents]


register_task(Task("panx", "token", len(NER_LABELS), ["seqeval_f1"], "seqeval_f1", _panx, NER_LABELS, PANX_LANGS,
                   "WikiANN NER (PAN-X, Rahimi splits; evaluated on dev)"))


# ------------------------------------------------------------------ UD POS (XTREME copy)
UDPOS_TRAIN = ["en", "ar", "fi", "ja", "tr", "zh"]
UDPOS_LANGS = ["en", "de", "fr", "es", "zh", "ru", "tr", "ar", "hi", "ja", "fi"]


def _udpos(split: str, *, language: str = "en", root: Path | None = None) -> list[Example]:
    _check_split("udpos", split)
    if root is None:
        ds = _hub("xtreme", f"udpos.{language}", "validation" if split == "dev" else "train")
        names = ds.features["pos_tags"].feature.names
        return [Example(list(r["tokens"]), None, [UPOS.index(names[t]) for t in r["pos_tags"]]) for r in ds]
    if split == "train" and language not in UDPOS_TRAIN:
        raise DataError(f"udpos has no offline training file for {language!r}; languages with train: "
                        f"{', '.join(UDPOS_TRAIN)} (use task 'ud' for per-language training)")
    sents = read_conll(root / "xtreme" / "udpos" / f"{split}-{language}.tsv", sep="\t", allowed=set(UPOS))
    return [Example(w, None, [UPOS.index(t) for t in tags]) for w, tags in sents]


register_task(Task("udpos", "token", len(UPOS), ["accuracy"], "accuracy", _udpos, UPOS, UDPOS_LANGS,
                   "UD POS (XTREME, UD v2.5 merged treebanks; first-subword token accuracy on dev)"))


# ------------------------------------------------------------------ UD POS (official treebanks)
def _ud(split: str, *, language: str = "en", root: Path | None = None) -> list[Example]:
    """Any treebank under ``<data_dir>/ud`` (see :mod:`hpbench.tasks.treebanks`). Training files over 4 MiB were
    not stored offline, so, the same for every treebank: 'train' = its dev file and 'dev' = its test file;
    without a dev file, 'train' = its train file if there is one, else (PUD: test only) the first half of
    test, and 'dev' = test (its second half for PUD)."""
    _check_split("ud", split)
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


# ------------------------------------------------------------------ XNLI
XNLI_LANGS = ["en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]


def _xnli(split: str, *, language: str = "en", root: Path | None = None) -> list[Example]:
    """Only XNLI dev is offline (2,490 parallel pairs per language; no English NLI training set): rows with
    index % 3 != 0 form 'train' (1,660), rows with index % 3 == 0 form 'dev' (830). Because XNLI dev is
    parallel, evaluating every language on the held-out indices keeps translations of training pairs out."""
    _check_split("xnli", split)
    if root is None:
        ds = _hub("xnli", language, "validation")
        rows = [(r["premise"], r["hypothesis"], XNLI_LABELS[r["label"]]) for r in ds]
    else:
        path = root / "xtreme" / "xnli" / f"dev-{language}.tsv"
        raw = read_tsv(path, ["premise", "hypothesis", "label"], header=False, names=["premise", "hypothesis", "label"])
        rows = []
        for i, r in enumerate(raw):
            lab = r["label"].strip()
            if lab not in XNLI_LABELS:
                raise DataError(f"{path} row {i + 1}: label {lab!r} not in {XNLI_LABELS}")
            rows.append((r["premise"], r["hypothesis"], lab))
    keep = (lambda i: i % 3 != 0) if split == "train" else (lambda i: i % 3 == 0)
    return [Example(p, h, XNLI_LABELS.index(lab)) for i, (p, h, lab) in enumerate(rows) if keep(i)]


register_task(Task("xnli", "classification", 3, ["accuracy"], "accuracy", _xnli, XNLI_LABELS, XNLI_LANGS,
                   "XNLI (trained on 2/3 of English dev; evaluated on the other 1/3 of each language's dev)"))


# ------------------------------------------------------------------ extra NER (de, ru, tr)
NER_RENAME = {"PERSON": "PER", "LOCATION": "LOC", "ORGANIZATION": "ORG", "OTH": "MISC"}


def _ner(split: str, *, language: str = "de", root: Path | None = None) -> list[Example]:
    """linspector NER copies, normalised to IOB2 PER/LOC/ORG/MISC: 'train' = train.txt where present (ru),
    else dev.txt; 'dev' = test.txt."""
    _check_split("ner", split)
    if root is None:
        raise DataError("task 'ner' reads local CoNLL files; set HPBENCH_DATA_DIR")
    folder = root / "ner" / language
    fname = ("train.txt" if (folder / "train.txt").is_file() else "dev.txt") if split == "train" else "test.txt"
    path = folder / fname
    out = []
    for words, tags in read_conll(path, tag_col=3, min_fields=4):
        try:
            iob2 = to_iob2(tags, NER_RENAME)
        except ValueError as e:
            raise DataError(f"{path}: {e}") from None
        bad = [t for t in iob2 if t not in NER_LABELS]
        if bad:
            raise DataError(f"{path}: tag {bad[0]!r} not in {NER_LABELS}")
        out.append(Example(words, None, [NER_LABELS.index(t) for t in iob2]))
    return out


register_task(Task("ner", "token", len(NER_LABELS), ["seqeval_f1"], "seqeval_f1", _ner, NER_LABELS, ["de", "ru", "tr"],
                   "NER (GermEval / WikiNER / Turkish NER via linspector; IOB2 PER/LOC/ORG/MISC; evaluated on test)"))
