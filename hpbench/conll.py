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
    """IOB1 or IOB2 -> IOB2, renaming entity types (e.g. PERSON -> PER, OTH -> MISC).

    In IOB1 an entity may start with I-; in IOB2 it starts with B-. An I-X that follows O or
    an entity of another type becomes B-X.
    """
    out: list[str] = []
    prev = "O"
    for t in tags:
        if t == "O":
            out.append("O")
            prev = "O"
            continue
        if len(t) < 3 or t[1] != "-" or t[0] not in "BI":
            raise ValueError(f"tag {t!r} is not IOB (expected O, B-TYPE or I-TYPE)")
        kind = (rename or {}).get(t[2:], t[2:])
        if t[0] == "I" and (prev == "O" or prev[2:] != kind):
            out.append(f"B-{kind}")
        else:
            out.append(f"{t[0]}-{kind}")
        prev = out[-1]
    return out
