"""Stage contracts after the layout move: parameters, content keys, one mask encoding, the table store."""
import shutil
import warnings
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import needs_shared
import torch



def test_runconfig_from_params_rejects_unknown_names_and_lists_allowed():
    from hpbench.run import RunConfig

    cfg = RunConfig.from_params({"task": "rte", "n_val": 17})
    assert cfg.task == "rte" and cfg.n_val == 17 and cfg.model == RunConfig().model
    with pytest.raises(TypeError, match=r"unknown run parameter\(s\) 'n_vall'; allowed: .*n_val"):
        RunConfig.from_params({"n_vall": 3})
    base = RunConfig(task="mrpc", seeds=[4])
    assert RunConfig.from_params({"n_dev": 5}, base=base).seeds == [4]


def test_notebook_params_are_the_injected_names_only():
    from hpbench.run.config import notebook_params

    ns = {"In": [], "Out": {}, "notebook_params": notebook_params, "_i1": "x"}
    before = set(ns)
    ns.update({"task": "rte", "n_val": 9, "_": None})
    assert notebook_params(ns, before) == {"task": "rte", "n_val": 9}


def test_mask_keys_round_trip_and_reject_bad_keys():
    from hpbench.models.masks import mask_from_key, mask_to_key, n_pruned_of_key, pruned_of_key

    keep = torch.tensor([[True, False, True], [False, False, True]])
    key = mask_to_key(keep)
    assert key == "101001"
    assert torch.equal(mask_from_key(key, (2, 3)), keep)
    assert pruned_of_key(key) == {1, 3, 4} and n_pruned_of_key(key) == 3
    with pytest.raises(ValueError, match="does not fit shape"):
        mask_from_key("1010", (2, 3))


def test_registry_collisions_are_loud_unless_overwrite():
    import hpbench
    from hpbench.core.registry import NameCollisionError
    from hpbench.criteria import CRITERIA

    original = CRITERIA.get("his")
    with pytest.raises(NameCollisionError, match=r"criterion 'his' is already registered .*overwrite=True"):
        hpbench.register_criterion("his")(lambda ctx: torch.zeros(1))
    assert CRITERIA.get("his") is original
    try:
        hpbench.register_criterion("his", overwrite=True)(lambda ctx: torch.zeros(1))
        assert CRITERIA.get("his") is not original
    finally:
        CRITERIA.add("his", original, overwrite=True)


def test_masks_for_sparsities_leaves_the_context_alone_and_shares_the_memo():
    from hpbench.criteria import ScoringContext, masks_for_sparsities, parse_spec
    from hpbench.criteria.stats import HeadStats

    calls = []

    class M:
        config = SimpleNamespace(model_type="bert", num_hidden_layers=2, num_attention_heads=3, hidden_size=12,
                                 intermediate_size=24)

    his = torch.tensor([[3.0, 1.0, 2.0], [6.0, 5.0, 4.0]])

    def fake_stats(keep):
        calls.append(None if keep is None else keep.clone())
        # under a mask, pruned heads score 0 and the rest keep their score
        return HeadStats(his if keep is None else his * keep, his, his, 1, 1, 0.0)

    from hpbench.criteria import base

    orig = base.head_stats
    base.head_stats = lambda model, task, enc, batch_size, keep, pad_id, precision: fake_stats(keep)
    try:
        ctx = ScoringContext(model=M(), task=None, encoded=[])
        crit, params = parse_spec("his:normalize=false")
        cm = masks_for_sparsities(crit, params, ctx, [0.0, 0.34, 0.5], iterative=True)
    finally:
        base.head_stats = orig
    assert ctx.keep is None  # never mutated
    assert [int((~r.keep).sum()) for r in cm.levels.values()] == [0, 2, 3]
    # iterative: heads 1 (1.0) and 2 (2.0) go first, then head 0 (3.0) of layer 0 among the rest
    assert cm.levels[0.5].keep.tolist() == [[False, False, False], [True, True, True]]
    # one pass for the full model (the first level re-scores under an all-ones mask: memo hit), one under the
    # first level's mask; the context's memo holds both
    assert len(calls) == 2 and calls[0] is None and calls[1].tolist() == [[True, False, False], [True, True, True]]
    assert len(ctx.memo) == 2


def test_finetune_key_comes_from_content_not_install_path(tiny_model_dir, tmp_path):
    from hpbench.run.finetune import FinetuneConfig

    a, b = tmp_path / "env-a" / "model", tmp_path / "env-b" / "elsewhere"
    shutil.copytree(tiny_model_dir, a)
    shutil.copytree(tiny_model_dir, b)
    ka, kb = FinetuneConfig(str(a), "sst2").key(), FinetuneConfig(str(b), "sst2").key()
    assert ka == kb  # same weights, different folders
    from transformers import BertModel

    m = BertModel.from_pretrained(b)
    with torch.no_grad():
        m.encoder.layer[0].attention.self.query.weight[0, 0] += 1.0
    m.save_pretrained(b)
    assert FinetuneConfig(str(b), "sst2").key() != ka  # other weights, other key
    assert FinetuneConfig(str(a), "sst2", seed=1).key() != ka


def test_heldout_validation_never_overlaps_the_finetuning_subset():
    from hpbench.run import RunConfig
    from hpbench.run.stages import heldout_validation
    from hpbench.tasks import Example, Task

    task = Task("synthetic", "classification", 2, ["accuracy"], "accuracy",
                lambda split, language, root: [Example(f"ex{i}", None, i % 2) for i in range(500)])
    for per_seed in (False, True):
        cfg = RunConfig(n_train=300, n_val=150, seeds=[3, 5], finetune_per_seed=per_seed)
        for seed in cfg.seeds:
            train = task.load("train", n=cfg.n_train, seed=cfg.finetune_config(seed).seed)  # what finetune() uses
            val = heldout_validation(SimpleNamespace(cfg=cfg, task=task), seed)
            assert len(val) == 150 and not {e.text for e in val} & {e.text for e in train}
        assert len(heldout_validation(SimpleNamespace(cfg=RunConfig(n_train=450, n_val=150), task=task), 0)) == 50


def test_results_tables_round_trip_with_types_and_read_legacy_masks(tmp_path):
    from hpbench.run.results import SCHEMA, load_tables, save_tables

    run = tmp_path / "res" / "m-sst2-en"
    tables = {
        "results": pd.DataFrame([{**{c: None for c in SCHEMA["results"]}, "model": "m", "task": "sst2", "language": "en",
                                  "train_language": "en", "score_language": "en", "criterion": "his",
                                  "protocol": "prune-after-finetune", "seed": 0, "sparsity": 0.5, "n_pruned": 3,
                                  "heads_total": 6, "metric": "accuracy", "value": 0.75, "main": True,
                                  "encoder_gflops_128": 1.0, "iterative": False, "score_seconds": 1.0,
                                  "eval_seconds": 2.0, "within_bound": None, "evaluations": 7}]),
        "scores": pd.DataFrame([{"criterion": "his", "seed": 0, "score_language": "en", "layer": 0, "head": 1, "score": 0.5}]),
        "masks": pd.DataFrame([{"criterion": "his", "seed": 0, "score_language": "en", "sparsity": 0.5, "n_pruned": 3,
                                "mask": "010101"}]),
        "run": pd.DataFrame([{"model": "m", "task": "sst2", "language": "en", "seed": 0, "eval_language": "en",
                              "main_metric": "accuracy", "n_dev": 10, "n_score": 8, "n_train": None, "epochs": 1.0,
                              "iterative": False, "finetune_per_seed": False, "finetune_seconds": 3.0,
                              "dense_seconds": 0.1, "dense_accuracy": 0.8, "device": "cpu", "device_name": "cpu",
                              "precision": "fp32", "torch_version": "2", "cuda_version": None,
                              "peak_accelerator_mib": None}]),
    }
    save_tables(tables, run)
    t = load_tables(tmp_path / "res")
    assert str(t["results"]["within_bound"].dtype) == "boolean" and t["results"]["evaluations"].iloc[0] == 7
    assert t["masks"]["mask"].iloc[0] == "010101" and t["masks"]["task"].iloc[0] == "sst2"
    assert pd.isna(t["run"]["n_train"].iloc[0]) and t["run"]["run_id"].iloc[0] == "m-sst2-en"
    # a folder written before Parquet masks: a 'pruned' list in CSV is converted to keys, with a warning
    (run / "masks.parquet").unlink()
    pd.DataFrame([{"criterion": "his", "seed": 0, "sparsity": 0.5, "n_pruned": 3, "pruned": "[0, 2, 4]"}]).to_csv(
        run / "masks.csv", index=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t = load_tables(tmp_path / "res")
    assert t["masks"]["mask"].iloc[0] == "010101" and any("older hpbench" in str(x.message) for x in w)


def test_grid_progress_prints_one_line_per_cell_with_score_and_eta(tmp_path):
    import io

    from hpbench.run.progress import GridProgress

    run = tmp_path / "m-sst2-en"
    run.mkdir()
    pd.DataFrame([{"main_metric": "accuracy", "dense_accuracy": 0.8}, {"main_metric": "accuracy", "dense_accuracy": 0.9}]
                 ).to_parquet(run / "run.parquet")
    out = io.StringIO()
    p = GridProgress(3, tmp_path, stream=out)
    p.t0 -= 30.0  # 30 s elapsed when the first cell ends: 2 cells left at 30 s each -> ETA 1:00
    p.done({"run_id": "m-sst2-en", "status": "ok", "seconds": 29.6, "skipped": False})
    p.done({"run_id": "m-rte-en", "status": "failed", "seconds": 3, "error": "ValueError: bad\\nthing"})
    lines = out.getvalue().splitlines()
    assert lines[0] == "[hpbench] grid: 3 cell(s)"
    import re

    assert re.match(r"\[hpbench\] \[1/3\] m-sst2-en ok 30 s accuracy=0.8500 \| elapsed 0:3[0-1], ETA 1:0[0-3]$", lines[1]), lines[1]
    assert lines[2].startswith("[hpbench] [2/3] m-rte-en failed 3 s ValueError: bad")


def test_plugins_load_reload_on_edit_and_fail_clearly(tmp_path):
    from hpbench.criteria import CRITERIA
    from hpbench.run.plugins import load_plugins

    f = tmp_path / "lab_criteria.py"
    f.write_text("import hpbench, torch\n@hpbench.register_criterion('lab_crit_a')\n"
                 "def lab_crit_a(ctx):\n    return torch.zeros(ctx.shape)\n")
    d1 = load_plugins([str(f)])
    assert "lab_crit_a" in CRITERIA and list(d1) == [str(f.resolve())]
    assert load_plugins([str(f)]) == d1  # same source: not executed again (no collision)
    code1 = CRITERIA.get("lab_crit_a").source_digest
    f.write_text(f.read_text().replace("torch.zeros", "torch.ones"))
    d2 = load_plugins([str(f)])  # edited: executed again, replacing its own criterion
    assert d2 != d1 and CRITERIA.get("lab_crit_a").source_digest != code1
    with pytest.raises(ModuleNotFoundError, match=r"plugin 'no_such_lab_module'"):
        load_plugins(["no_such_lab_module"])
    with pytest.raises(FileNotFoundError, match=r"plugin file 'missing/crit.py' not found"):
        load_plugins(["missing/crit.py"])
    with pytest.raises(ValueError, match=r"plugins must be a list"):
        load_plugins(str(f))
    spec = tmp_path / "lab_task.yaml"  # a task spec as a plugin registers its task
    (tmp_path / "d.csv").write_text("t,y\na,0\nb,1\n")
    spec.write_text("name: lab_task\nkind: classification\nsource: {format: csv, files: {train: d.csv, dev: d.csv}}\n"
                    "columns: {text: t, label: y}\nlabels: ['no', 'yes']\n")
    from hpbench.tasks import get_task, list_tasks

    load_plugins([str(spec)])
    assert "lab_task" in list_tasks() and len(get_task("lab_task").load("dev")) == 2


def test_grid_with_a_missing_plugin_or_criterion_fails_before_any_cell(tmp_path):
    from hpbench.run.grid import run_grid

    cell = {"model": "minilm", "task": "sst2", "criteria": ["his"], "plugins": ["missing_lab.py"]}
    with pytest.raises(FileNotFoundError, match="missing_lab.py"):
        run_grid([cell], results_dir=str(tmp_path / "res"), reports_dir=str(tmp_path / "rep"))
    with pytest.raises(KeyError, match="unknown criterion 'lab_nope'"):
        run_grid([{**cell, "plugins": [], "criteria": ["lab_nope"]}], results_dir=str(tmp_path / "res"),
                 reports_dir=str(tmp_path / "rep"))
    assert not (tmp_path / "res").exists()


def test_a_finished_cell_is_skipped_only_while_its_folder_holds_every_table_and_its_code_is_unchanged(tmp_path,
                                                                                                     monkeypatch):
    """A cell finished by an older hpbench (no predictions table) runs again; a complete one is skipped while the
    code it ran is the same; an edited plugin file (or hpbench source) runs it again."""
    import json

    from hpbench.core.files import config_hash
    from hpbench.run import cell as C
    from hpbench.run.results import TABLES, cell_status_path

    plugin = tmp_path / "my_criterion.py"
    plugin.write_text("X = 1\n")
    params = {"model": "minilm", "task": "sst2", "language": "en", "results_dir": str((tmp_path / "res").resolve()),
              "plugins": [str(plugin)]}
    run_id, key = C.cell_run_id(params), config_hash(params)
    html = tmp_path / "rep" / "runs" / f"{run_id}-{key[:8]}.html"
    html.parent.mkdir(parents=True)
    html.write_text("<html/>")
    status = cell_status_path(tmp_path / "res", run_id, key)
    status.parent.mkdir(parents=True)
    status.write_text(json.dumps({"run_id": run_id, "status": "ok", "seconds": 1.0, "code": C.code_digest(params)}))
    folder = tmp_path / "res" / run_id
    folder.mkdir()
    for t in TABLES[:-1]:  # everything but the newest table
        (folder / f"{t}.parquet").write_bytes(b"")
    assert not C._complete(folder)
    (folder / f"{TABLES[-1]}.parquet").write_bytes(b"")
    assert C._complete(folder)
    assert C.run_cell(params, str(tmp_path / "res"), str(tmp_path / "rep"))["skipped"] is True
    ran = []
    monkeypatch.setattr(C, "execute", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(C, "to_html", lambda *a, **k: None)
    plugin.write_text("X = 2\n")  # the criterion's code changed: its results are stale
    assert C.run_cell(params, str(tmp_path / "res"), str(tmp_path / "rep"))["skipped"] is False and len(ran) == 1


@needs_shared
def test_two_cells_sharing_a_fine_tuned_model_train_it_once(tiny_model_dir, tmp_path, monkeypatch):
    """Cells that start together on one model (score_language: each) wait for one fine-tuning instead of each
    training it: the second finds the first's checkpoint after the lock."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from hpbench.run import finetune as ft

    calls = []
    real = ft._train_into

    def slow_counting(*a, **k):
        calls.append(1)
        time.sleep(0.5)  # the other cell arrives while this one trains
        return real(*a, **k)

    monkeypatch.setattr(ft, "_train_into", slow_counting)
    cfg = ft.FinetuneConfig(str(tiny_model_dir), "sst2", n_train=16, epochs=1.0, max_len=16)
    with ThreadPoolExecutor(2) as ex:
        paths = list(ex.map(lambda _: ft.finetune(cfg, cache=tmp_path), range(2)))
    assert paths[0] == paths[1] and (paths[0] / "hpbench_train.json").is_file() and len(calls) == 1
