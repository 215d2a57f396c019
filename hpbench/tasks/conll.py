"""Readers for CoNLL-U (Universal Dependencies) and CoNLL-style tagged text, with file:line errors."""
from __future__ import annotations

from pathlib import Path

from .datadir import DataError

UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]


def _lines(path: Path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} not found")
    with open(path, encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            yield n, line.rstrip("\r\n")


def read_conllu(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Sentences of (word forms, UPOS tags); multiword-token ranges and empty nodes are skipped."""
    sents: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    for n, line in _lines(path):
        if not line.strip():
            if words:
                sents.append((words, tags))
                words, tags = [], []
            continue
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 10:
            raise DataError(f"{path}:{n}: malformed CoNLL-U line: expected 10 tab-separated fields, got {len(parts)}")
        tid = parts[0]
        if "-" in tid or "." in tid:
            continue
        if not tid.isdigit():
            raise DataError(f"{path}:{n}: malformed CoNLL-U line: token id {tid!r} is not an integer")
        if parts[3] not in UPOS:
            raise DataError(f"{path}:{n}: unknown UPOS tag {parts[3]!r}; allowed: {', '.join(UPOS)}")
        words.append(parts[1])
        tags.append(parts[3])
    if words:
        sents.append((words, tags))
    if not sents:
        raise DataError(f"{path}: no sentences")
    return sents


def read_conllu_texts(path: str | Path, *, documents: bool = False) -> list[str]:
    """The raw text of each sentence (its ``# text =`` line); with ``documents``, one string per document (the
    sentences after each ``# newdoc`` line joined by spaces; a file without such lines is one document)."""
    docs: list[str] = []
    sents: list[str] = []
    for _, line in _lines(path):
        if documents and line.startswith("# newdoc") and sents:
            docs.append(" ".join(sents))
            sents = []
        elif line.startswith("# text ="):
            sents.append(line[len("# text ="):].strip())
    if documents and sents:
        docs.append(" ".join(sents))
    texts = docs if documents else sents
    if not texts:
        raise DataError(f"{path}: no '# text =' lines")
    return texts


def read_conll(path: str | Path, *, tag_col: int = -1, sep: str | None = None, min_fields: int = 2,
               allowed: set[str] | None = None) -> list[tuple[list[str], list[str]]]:
    """Sentences of (tokens, tags) from one-token-per-line text (blank line between sentences).

    ``sep=None`` splits on whitespace; the token is column 0 and the tag ``tag_col``."""
    sents: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    for n, line in _lines(path):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sents.append((words, tags))
                words, tags = [], []
            continue
        parts = line.split(sep) if sep else line.split()
        if len(parts) < min_fields:
            raise DataError(f"{path}:{n}: malformed line: expected at least {min_fields} fields, got {len(parts)}: {line[:60]!r}")
        tag = parts[tag_col]
        if allowed is not None and tag not in allowed:
            raise DataError(f"{path}:{n}: unknown tag {tag!r}; allowed: {', '.join(sorted(allowed))}")
        words.append(parts[0])
        tags.append(tag)
    if words:
        sents.append((words, tags))
    if not sents:
        raise DataError(f"{path}: no sentences")
    return sents


def to_iob2(tags: list[str], rename: dict[str, str] | None = None) -> list[str]:
    """IOB1 or IOB2 -> IOB2 with entity types renamed by ``rename`` (a type ending in ``*`` there, e.g.
    ``{"ORGpart": "MISC"}``, is matched exactly; see :func:`normalise_type`)."""
    return _to_iob2(tags, rename)


def normalise_type(kind: str, rename: dict[str, str] | None = None) -> str:
    """PERSON -> PER etc. via ``rename``; GermEval's nested-derivation types (``LOCderiv``, ``ORGpart``, ...)
    become MISC, as they are not names of the outer type."""
    if kind in (rename or {}):
        return rename[kind]
    if kind.endswith("deriv") or kind.endswith("part"):
        return "MISC"
    return kind


def _to_iob2(tags: list[str], rename: dict[str, str] | None = None) -> list[str]:
    out: list[str] = []
    prev = None  # original entity type of the previous token (None after O)
    for t in tags:
        if t == "O":
            out.append("O")
            prev = None
            continue
        if len(t) < 3 or t[1] != "-" or t[0] not in "BI":
            raise ValueError(f"tag {t!r} is not IOB (expected O, B-TYPE or I-TYPE)")
        raw = t[2:]
        kind = normalise_type(raw, rename)
        # continuity is decided on the original type, before renaming merges types
        out.append(f"B-{kind}" if t[0] == "B" or prev != raw else f"I-{kind}")
        prev = raw
    return out
