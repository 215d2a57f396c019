"""Bad input gets a clear error naming the bad value and what is allowed (no deep torch traceback)."""
from pathlib import Path

import pytest

from hpbench.tasks.datadir import DataError
from hpbench.run import RunConfig

OK = dict(model="minilm", task="sst2", results_dir=None)


def cfg(tmp_path, **kw):
    return RunConfig(**{**OK, "results_dir": str(tmp_path / "res"), **kw}).validate()


@pytest.mark.parametrize("field,value,pattern", [
    ("model", "gpt5", r"unknown model 'gpt5'; available: bert, gemma3-270m, mbert, me5-small, minilm, mpnet-base, smollm2-135m, tiny-random-gpt2, tiny-random-llama, tiny-random-vit, xlmr, a local model directory, or a hub id written owner/name"),
    ("task", "qnli", r"unknown task 'qnli'; available: .*sst2"),
    ("language", "xx", r"unknown language 'xx' for task 'sst2'; available: en"),
    ("criteria", ["his", "magic"], r"unknown criterion 'magic'; available: .*his"),
    ("criteria", "his", r"criteria must be a non-empty list"),
    ("sparsities", [0.5, 1.0], r"sparsity 1.0 is outside \[0, 1\)"),
    ("sparsities", [-0.1], r"sparsity -0.1 is outside \[0, 1\)"),
    ("sparsities", [], r"sparsities is empty"),
    ("sparsities", [0.1, 0.1], r"strictly increasing without duplicates"),
    ("sparsities", [0.3, 0.1], r"strictly increasing"),
    ("seeds", [0, 1.5], r"seed 1.5 is not an integer"),
    ("seeds", "0,1", r"seeds must be a non-empty list of integers, got '0,1'"),
    ("seeds", [], r"seeds must be a non-empty list"),
    ("n_dev", "200", r"n_dev must be a positive integer or None \(all\), got '200'"),
    ("n_score", 0, r"n_score must be a positive integer, got 0"),
    ("epochs", "two", r"epochs must be a positive finite number, got 'two'"),
    ("data_root", "/no/such/dir", r"data directory '/no/such/dir' does not exist"),
])
def test_run_config_errors(tmp_path, field, value, pattern):
    with pytest.raises((ValueError, KeyError)) as e:
        cfg(tmp_path, **{field: value})
    import re

    assert re.search(pattern, str(e.value)), str(e.value)


def test_results_folder_not_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match=r"results folder '.*a-file/res' is not writable"):
        RunConfig(results_dir=str(blocker / "res")).validate()


def test_data_dir_env_that_does_not_exist(monkeypatch):
    from hpbench.tasks import get_task

    monkeypatch.setenv("HPBENCH_DATA_DIR", "/nope/data")
    with pytest.raises(DataError, match=r"data directory '/nope/data' does not exist.*HPBENCH_DATA_DIR"):
        get_task("sst2").load("dev")


def _glue(tmp_path, text):
    d = tmp_path / "data" / "glue" / "SST-2"
    d.mkdir(parents=True)
    (d / "dev.tsv").write_text(text)
    return str(tmp_path / "data")


@pytest.mark.parametrize("text,pattern", [
    ("sentence\tscore\ngood\t1\n", r"sst2.yaml: columns.label: column 'label' not in .*dev.tsv row 1 \(columns: \['score', 'sentence'\]\)"),
    ("sentence\tlabel\ngood\t1\nbad\t7\n", r"dev.tsv row 2: label '7' not in labels \['negative', 'positive'\] \(task spec .*sst2.yaml: labels\)"),
    ("sentence\tlabel\ngood\tyes\n", r"dev.tsv row 1: label 'yes' not in labels \['negative', 'positive'\]"),
    ("", r"sst2.yaml: split dev: is empty"),
    ("sentence\tlabel\n", r"sst2.yaml: split dev: is empty"),
    ("sentence\tlabel\ngood\n", r"dev.tsv:2: expected 2 fields \(\['sentence', 'label'\]\), got 1"),
])
def test_tsv_errors(tmp_path, text, pattern):
    from hpbench.tasks import get_task

    root = _glue(tmp_path, text)
    with pytest.raises(DataError, match=pattern):
        get_task("sst2").load("dev", data_root=root)


def test_missing_tsv_file(tmp_path):
    from hpbench.tasks import get_task

    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match=r"glue/SST-2/dev.tsv' not found"):
        get_task("sst2").load("dev", data_root=str(tmp_path / "d"))


def test_conllu_malformed_line_names_file_and_line(tmp_path):
    from hpbench.tasks.conll import read_conllu

    p = tmp_path / "x.conllu"
    p.write_text("# sent_id = 1\n1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\n\n")
    with pytest.raises(DataError, match=r"x.conllu:3: malformed CoNLL-U line: expected 10 tab-separated fields, got 4"):
        read_conllu(p)
    p.write_text("1\tThe\tthe\tDT\tDT\t_\t2\tdet\t_\t_\n")
    with pytest.raises(DataError, match=r"x.conllu:1: unknown UPOS tag 'DT'; allowed: ADJ"):
        read_conllu(p)


def test_conll_malformed_line(tmp_path):
    from hpbench.tasks.conll import read_conll

    p = tmp_path / "ner.txt"
    p.write_text("Paris X B-X B-LOC\nis X B-X O\n\nlonely\n")
    with pytest.raises(DataError, match=r"ner.txt:4: malformed line: expected at least 2 fields, got 1"):
        read_conll(p)


def test_tokenizer_model_mismatch(tmp_path, tiny_model_dir):
    import shutil

    from transformers import BertConfig, BertModel

    from hpbench.models import load
    from hpbench.tasks import get_task

    d = tmp_path / "mismatch"
    BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(d)
    for f in Path(tiny_model_dir).iterdir():
        if "token" in f.name or f.name == "vocab.txt":
            shutil.copy(f, d / f.name)
    with pytest.raises(ValueError, match=r"tokenizer/model mismatch.*30522 tokens.*100 rows"):
        load(str(d), get_task("sst2"))


def test_local_dir_without_config(tmp_path):
    from hpbench.models import resolve_model

    with pytest.raises(ValueError, match=r"has no config.json"):
        resolve_model(str(tmp_path))


def test_unknown_executor(tmp_path):
    from hpbench.run.grid import run_grid

    with pytest.raises(ValueError, match=r"unknown executor 'kubernetes'; available: dask, local, slurm"):
        run_grid([], results_dir=str(tmp_path / "r"), reports_dir=str(tmp_path / "p"), executor="kubernetes")


@pytest.mark.parametrize("name", ["HIS", "", None])
def test_bad_criterion_spec(name):
    from hpbench.criteria import parse_spec

    with pytest.raises((KeyError, ValueError), match=r"criterion"):
        parse_spec(name)


INVALID = {  # RunConfig field -> invalid values (each must be named in the error, before any file is written)
    "n_train": [0, -3, 1.5, "100", True], "n_dev": [0, -1, 2.5, "all"], "n_score": [0, -8, None, 3.0, "32"],
    "n_val": [0, -1, None, 1.5], "batch_size": [0, -32, 8.5, None, False], "max_len": [0, -1, 64.0, "128"],
    "eval_batch_size": [0, -16, 1.5], "epochs": [0, -1.0, float("nan"), float("inf"), "2", True],
    "lr": [0, -1.0, float("nan"), float("inf"), "1e-4", True], "iterative": [1, "yes", None],
    "finetune_per_seed": [0, "no", None], "full_dev": [1, "no", None], "freeze_word_embeddings": ["yes", 2],
    "seeds": [[], [0, 0], [0.5], "0", 3], "sparsities": [[], [1.0], [-0.1], [0.5, 0.2], ["a"]],
    "criteria": [[], "his", ["nope"], ["hies:alpha=2"]], "device": ["gpu0", "cuda:99"], "precision": ["fp8", "half"],
    "model": ["gpt5", "minlm"], "task": ["qnli", "sst-2"], "language": ["xx", "EN"], "eval_languages": ["en", ["en", "xx"]],
    "score_language": ["xx"], "plugins": [["/no/such/plugin.py"], ["no_such_module_xyz"]], "data_root": ["/no/such/dir"],
    "results_dir": ["{a file}/res"], "gqa_unit": ["groups", "kv", 1], "layer_uniform": ["yes", 1, None],
    "recovery": ["retrain", "Finetune", None], "recovery_steps": [0, -5, 2.5, "100"], "recovery_lr": [0, -1e-5, float("nan"), "1e-5"],
    "recovery_n": [0, -1, 1.5, None],
}


def test_every_runconfig_field_has_invalid_values_drawn():
    """A field added to RunConfig without invalid values here fails this test (so its check gets written)."""
    from hpbench.run import RunConfig

    assert set(RunConfig.__dataclass_fields__) == set(INVALID)


def test_random_invalid_runconfig_values_fail_before_any_file_naming_field_and_value(tmp_path):
    """Random draws of invalid values, one field at a time: each is a ValueError (or KeyError for unknown names)
    that names the field (or the value) and what is allowed, raised before the results folder exists."""
    import random

    from hpbench.run import RunConfig

    rng = random.Random(0)
    draws = [(f, v) for f, vals in INVALID.items() for v in vals]
    rng.shuffle(draws)
    (tmp_path / "a-file").write_text("")
    for i, (field, value) in enumerate(draws):
        out = tmp_path / f"r{i}"
        value = value.replace("{a file}", str(tmp_path / "a-file")) if isinstance(value, str) else value
        kw = {"results_dir": str(out), field: value}
        with pytest.raises((ValueError, KeyError, PermissionError, ImportError, FileNotFoundError)) as err:
            RunConfig(**kw).validate()
        msg = str(err.value)
        elements = value if isinstance(value, list) else [value]
        assert field[:6] in msg or any(repr(x) in msg or str(x) in msg for x in elements), (field, value, msg)
        assert any(w in msg for w in ("must", "allowed", "not one of", "outside", "not available", "duplicates",
                                      "unknown", "is not", "empty", "does not exist", "not writable", "give ")), (field, value, msg)
        assert not out.exists(), (field, value)


@pytest.mark.parametrize("name, hub_id", [("bert", "bert-base-uncased"), ("xlmr", "xlm-roberta-base"),
                                          ("someone/not-cached-model", "someone/not-cached-model")])
def test_a_hub_model_that_is_not_available_offline_names_the_id_why_and_how(tmp_path, monkeypatch, name, hub_id):
    from hpbench.run import RunConfig
    from hpbench.run.grid import check_cell

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = tmp_path / "res"
    for check in (lambda: RunConfig(model=name, task="sst2", results_dir=str(res)).validate(),
                  lambda: check_cell({"model": name, "criteria": ["his"]})):
        with pytest.raises(RuntimeError) as e:
            check()
        msg = str(e.value)
        assert repr(hub_id) in msg and "HF_HUB_OFFLINE" in msg and "model='DIR'" in msg and "minilm" in msg
    assert not res.exists() or not any(res.iterdir())
