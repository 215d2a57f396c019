"""Find Universal Dependencies treebanks in the data directory, whatever they are (no closed table).

A treebank folder ``<data_dir>/ud/UD_<Language>-<Name>/`` holds ``<code>_<name>-ud-{train,dev,test}.conllu``
(UD's own naming). A language is asked for by its code as used in those file names (ISO 639-1 where it
exists: ``pt``), by the folder's language name (``Portuguese``, any case), or a treebank by its full code
(``pt_bosque``) or folder name (``UD_Portuguese-Bosque``). A language with several treebanks is an error
that lists them.
"""
from __future__ import annotations

import re
from pathlib import Path

from .datadir import DataError

_FILE = re.compile(r"^(?P<code>[a-z]{2,3})_(?P<name>[a-z0-9]+)-ud-(?:train|dev|test)\.conllu$")


def list_treebanks(root: Path) -> dict[str, Path]:
    """``{treebank code (e.g. 'pt_bosque'): folder}`` of every treebank under ``root/ud``."""
    out: dict[str, Path] = {}
    for f in sorted((Path(root) / "ud").glob("UD_*/*.conllu")):
        m = _FILE.match(f.name)
        if m:
            out.setdefault(f"{m['code']}_{m['name']}", f.parent)
    return out


def _folder_language(folder: Path) -> str:
    return folder.name[len("UD_"):].split("-")[0].lower()


def find_treebank(root: Path | None, language: str) -> Path:
    """The one treebank folder for ``language`` (a code, a language name, a treebank code or a folder name)."""
    if root is None:
        raise DataError("task 'ud' reads treebanks from a data directory; set HPBENCH_DATA_DIR")
    banks = list_treebanks(root)
    want = language.lower()
    hits = sorted({folder for code, folder in banks.items()
                   if want in (code, code.split("_")[0], folder.name.lower(), _folder_language(folder))})
    if not hits:
        langs = sorted({c.split("_")[0] for c in banks})
        raise DataError(f"no UD treebank for language {language!r} under {Path(root) / 'ud'}; languages there: "
                        f"{', '.join(langs) or 'none'} (or a language name / treebank code such as "
                        f"{next(iter(banks), 'en_ewt')!r})")
    if len(hits) > 1:
        codes = [c for c, f in banks.items() if f in hits]
        raise DataError(f"several UD treebanks for language {language!r}: {', '.join(f.name for f in hits)}; pick one "
                        f"with its treebank code as the language ({', '.join(map(repr, codes))})")
    return hits[0]


def known_languages(root: Path | None) -> list[str]:
    """Language codes (and treebank codes) available under ``root/ud``."""
    if root is None:
        return []
    banks = list_treebanks(root)
    return sorted({c.split("_")[0] for c in banks} | set(banks))
