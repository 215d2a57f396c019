"""Every preset runs end to end at tiny sizes through the hub path (tests/preset_smoke.py): ``bert``, ``mbert`` and
``xlmr`` resolve offline from a hub-layout cache (``HF_HOME``) holding their real configs shrunk to 2 layers of the
same 12 heads, with random weights and stand-in tokenizers (tests/hub_cache.py). Presets run two at a time."""
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import needs_shared

pytestmark = needs_shared
ROOT = Path(__file__).resolve().parents[2]
PRESETS = sorted(p.stem for p in (ROOT / "notebooks" / "presets").glob("*.yaml"))
HUB = {"bert": "bert-base-uncased", "mbert": "bert-base-multilingual-cased", "xlmr": "xlm-roberta-base"}


@pytest.fixture(scope="module")
def preset_runs(tmp_path_factory):
    from hub_cache import write_hub_cache

    tmp = tmp_path_factory.mktemp("presets")
    write_hub_cache(tmp / "hf")
    env = {**os.environ, "HF_HOME": str(tmp / "hf"), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
           "HPBENCH_CACHE": str(tmp / "cache"), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    todo, running, out = list(PRESETS), {}, {}
    logs = tmp / "logs"
    logs.mkdir()
    while todo or running:
        while todo and len(running) < 2:
            name = todo.pop(0)
            # output goes to files: two runs polled side by side never read a pipe, and lm-eval's progress bars filled
            # one (64 KB) and blocked the run forever
            with open(logs / f"{name}.out", "w") as o, open(logs / f"{name}.err", "w") as e:
                running[name] = subprocess.Popen([sys.executable, str(ROOT / "tests" / "preset_smoke.py"), name,
                                                  str(tmp / "res" / name)], env=env, text=True, stdout=o, stderr=e)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                stdout, stderr = (logs / f"{name}.out").read_text(), (logs / f"{name}.err").read_text()
                out[name] = (proc.returncode, [json.loads(ln) for ln in stdout.splitlines() if ln.startswith("{")],
                             stderr[-4000:])
                del running[name]
        time.sleep(0.2)
    return out


def _override(p: dict, model: str, task: str) -> dict:
    """What the preset's overrides set for a cell: the model's, the task's, then model/task's, later winning."""
    o = p.get("overrides") or {}
    return {**(o.get(model) or {}), **(o.get(task) or {}), **(o.get(f"{model}/{task}") or {})}


def _cells_wanted(p: dict) -> int:
    """models x tasks x every listed axis value, counted by hand (an override giving one value pins its axis)."""
    n = 0
    for m in p.get("models") or ["minilm"]:
        for t in p.get("tasks") or ["sst2", "mrpc", "stsb", "cola"]:
            own = _override(p, m, t)
            axes = [own.get(k, v) for k, v in (p.get("run_params") or {}).items()
                    if k in ("gqa_unit", "layer_uniform", "recovery")]
            n += math.prod(len(v) if isinstance(v, list) else 1 for v in axes)
    return n


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs_end_to_end_through_the_hub_path(preset, preset_runs):
    code, cells, err = preset_runs[preset]
    assert code == 0, err
    p = yaml.safe_load((ROOT / "notebooks" / "presets" / f"{preset}.yaml").read_text())
    assert len(cells) == _cells_wanted(p)
    for c in cells:
        assert c["finite"] and c["rows"] > 0
        if c["model"] in HUB or c["model"].endswith("-standin"):  # the real head layout: 12 heads in 2 shrunk layers
            real = json.loads((ROOT / "tests" / "data" / "hub_configs" / f"{c['registry_model']}.json").read_text()
                              ) if c["model"].endswith("-standin") else {"num_attention_heads": 12}
            assert c["heads_total"] == 2 * real["num_attention_heads"]
        own = _override(p, c["registry_model"], c["task"]).get("criteria")  # a task's (model's) own criteria list
        n_crit = len(own or p.get("criteria") or ["his", "entropy", "hies", "random"])
        assert len(c["criteria"]) == n_crit
        langs = (p.get("run_params") or {}).get("eval_languages")
        if langs:
            assert c["languages"] == sorted(langs)
