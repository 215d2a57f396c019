"""Tasks as data: shipped GLUE specs load what GLUE's files hold; user specs for every source format; bad specs
fail naming the file and the field."""
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import SHARED, needs_shared
from hpbench.tasks.datadir import DataError
from hpbench.tasks.specs import SpecError, load_task

BUILTIN = Path(__file__).resolve().parents[2] / "hpbench" / "tasks" / "builtin"


def _reference_glue(path: Path, text: str, pair: str | None, label: str, header=True, names=None, regression=False):
    """An independent reading of a GLUE TSV: no quoting, tab-separated, utf-8 with BOM, blank lines skipped."""
    lines = [ln for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    head = names or lines[0].split("\t")
    rows = [dict(zip(head, ln.split("\t"))) for ln in (lines[1:] if header else lines)]
    return [(r[text].strip(), r[pair].strip() if pair else None, float(r[label]) if regression else int(r[label]))
            for r in rows]


@needs_shared
@pytest.mark.parametrize("name,folder,files,cols,kw", [
    ("sst2", "SST-2", {"train": ["train.tsv"], "dev": ["dev.tsv"]}, ("sentence", None, "label"), {}),
    ("mrpc", "MRPC", {"train": ["train.tsv"], "dev": ["dev.tsv"]}, ("#1 String", "#2 String", "Quality"), {}),
    ("rte", "RTE", {"train": ["train.tsv"], "dev": ["dev.tsv"]}, ("sentence1", "sentence2", "label"), {}),
    ("stsb", "STS-B", {"train": ["train.tsv"], "dev": ["dev.tsv"]}, ("sentence1", "sentence2", "score"),
     {"regression": True}),
])
def test_shipped_glue_specs_load_exactly_the_files_examples(name, folder, files, cols, kw):
    from hpbench.tasks import get_task

    task = get_task(name)
    for split, fs in files.items():
        want = [x for f in fs for x in _reference_glue(SHARED / "glue" / folder / f, *cols, **kw)]
        got = [(e.text, e.text_pair, e.label) for e in task.load(split)]
        assert got == want, (name, split)


@needs_shared
def test_shipped_cola_spec_reads_headerless_train_and_both_dev_files():
    from hpbench.tasks import get_task

    cola = get_task("cola")
    ref = lambda f, header: _reference_glue(SHARED / "glue" / "CoLA" / f, "sentence", None, "label", header=header,  # noqa: E731
                                             names=["sentence", "label"])
    assert [(e.text, e.text_pair, e.label) for e in cola.load("train")] == ref("train.tsv", False)
    assert [(e.text, e.text_pair, e.label) for e in cola.load("dev")] == (ref("in_domain_dev.tsv", True)
                                                                         + ref("out_of_domain_dev.tsv", True))


def _write(tmp_path, spec: dict, name="task.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(spec))
    return p


def _csv_task(tmp_path, **over):
    pd.DataFrame({"review": ["good", "bad", "fine", "awful"], "stars": ["pos", "neg", "pos", "neg"]}).to_csv(
        tmp_path / "train.csv", index=False)
    pd.DataFrame({"review": ["nice", "poor"], "stars": ["pos", "neg"]}).to_csv(tmp_path / "dev.csv", index=False)
    spec = {"name": "rev", "kind": "classification", "source": {"format": "csv", "files": {"train": "train.csv", "dev": "dev.csv"}},
            "columns": {"text": "review", "label": "stars"}, "labels": ["neg", "pos"], "metrics": ["accuracy"]}
    for k, v in over.items():
        spec[k] = v
    return _write(tmp_path, spec)


def test_csv_spec_maps_label_names_to_ids(tmp_path):
    t = load_task(_csv_task(tmp_path), register=False)
    ex = t.load("train")
    assert [(e.text, e.label) for e in ex] == [("good", 1), ("bad", 0), ("fine", 1), ("awful", 0)]
    assert t.num_labels == 2 and t.main_metric == "accuracy"


@pytest.mark.parametrize("change,field,message", [
    ({"kind": "ranking"}, "kind", "unknown kind 'ranking'; allowed: causal_lm, classification, image_classification, lm_choice, lm_perplexity, regression, token"),
    ({"metrics": ["accuracy", "f2"]}, "metrics", "unknown metric 'f2'; available: "),
    ({"columns": {"text": "body", "label": "stars"}}, "columns.text", "column 'body' not in"),
    ({"labels": ["neg", "neutral"]}, "labels", "label 'pos' not in labels ['neg', 'neutral']"),
    ({"source": {"format": "csv", "files": {"train": "nope.csv", "dev": "dev.csv"}}}, "source.files.train", "nope.csv' not found"),
])
def test_bad_specs_name_the_file_and_the_field(tmp_path, change, field, message):
    path = _csv_task(tmp_path, **change)
    with pytest.raises((SpecError, DataError)) as e:
        load_task(path, register=False).load("train")
    assert str(path) in str(e.value) and field in str(e.value) and message in str(e.value), str(e.value)


def test_empty_split_is_an_error_naming_the_split(tmp_path):
    path = _csv_task(tmp_path)
    (tmp_path / "dev.csv").write_text("review,stars\n")
    with pytest.raises(SpecError, match=rf"task spec {path}: split dev: is empty"):
        load_task(path, register=False).load("dev")


def test_jsonl_regression_and_split_rule(tmp_path):
    rows = [{"a": f"s{i}", "b": f"t{i}", "y": i / 10} for i in range(20)]
    (tmp_path / "all.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    t = load_task(_write(tmp_path, {"name": "sim", "kind": "regression", "label_range": [0, 5],
                                     "source": {"format": "jsonl", "files": {"train": "all.jsonl"}},
                                     "split": {"from": "train", "dev_fraction": 0.25, "seed": 1},
                                     "columns": {"text": "a", "text_pair": "b", "label": "y"}}), register=False)
    tr, dev = t.load("train"), t.load("dev")
    assert len(tr) == 15 and len(dev) == 5 and not {e.text for e in tr} & {e.text for e in dev}
    assert {e.text for e in tr + dev} == {r["a"] for r in rows} and t.metrics == ["pearson", "spearman"]


def _conllu(path: Path, sents: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    words = {"NOUN": ["cat", "dog", "tree"], "VERB": ["runs", "sees"], "DET": ["the", "a"], "PUNCT": ["."]}
    out = []
    for s in range(sents):
        toks = [("DET", rng.choice(words["DET"])), ("NOUN", rng.choice(words["NOUN"])),
                ("VERB", rng.choice(words["VERB"])), ("PUNCT", ".")]
        out.append(f"# sent_id = {s}")
        out += [f"{i + 1}\t{w}\t{w}\t{t}\t_\t_\t0\t_\t_\t_" for i, (t, w) in enumerate(toks)]
        out.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


def test_ud_finds_any_treebank_and_refuses_an_ambiguous_language(tmp_path):
    from hpbench.tasks import get_task

    _conllu(tmp_path / "ud" / "UD_Zzish-Alpha" / "zz_alpha-ud-test.conllu", 6, 0)
    _conllu(tmp_path / "ud" / "UD_Zzish-Beta" / "zz_beta-ud-test.conllu", 4, 1)
    ud = get_task("ud")
    with pytest.raises(DataError, match=r"several UD treebanks for language 'zz': UD_Zzish-Alpha, UD_Zzish-Beta; "
                                        r"pick one with its treebank code as the language \('zz_alpha', 'zz_beta'\)"):
        ud.load("dev", language="zz", data_root=tmp_path)
    assert len(ud.load("dev", language="zz_alpha", data_root=tmp_path)) == 3  # PUD-style: second half of test
    assert len(ud.load("train", language="UD_Zzish-Beta", data_root=tmp_path)) == 2
    with pytest.raises(DataError, match=r"no UD treebank for language 'qq' .*languages there: zz"):
        ud.check_language("qq", tmp_path)


def _user_tasks(tmp_path: Path) -> dict[str, str]:
    """Four spec files in four formats, plus a UD treebank under the new language code 'qq'."""
    import datasets

    d = tmp_path / "tasks"
    d.mkdir()
    words = ["good", "bad", "great", "awful", "fine", "poor", "nice", "weak"]
    pd.DataFrame({"review": [f"{w} film {i}" for i, w in enumerate(words * 3)],
                  "stars": ["pos", "neg"] * 12}).to_csv(d / "reviews.csv", index=False)
    (d / "sim.jsonl").write_text("\n".join(json.dumps({"a": f"a {w} {i}", "b": f"b {w}", "y": (i % 6) * 1.0})
                                           for i, w in enumerate(words * 3)))
    pd.DataFrame({"q1": [f"how {w} {i}" for i, w in enumerate(words * 3)], "q2": [f"why {w}" for w in words * 3],
                  "same": [i % 2 for i in range(24)]}).to_parquet(d / "pairs.parquet")
    rows = {"text": [f"{w} day {i}" for i, w in enumerate(words * 3)], "label": [i % 2 for i in range(24)]}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows),
                          "test": datasets.Dataset.from_dict({k: v[:12] for k, v in rows.items()})}).save_to_disk(d / "saved")
    specs = {
        "reviews": {"kind": "classification", "source": {"format": "csv", "split_files": None},
                    "columns": {"text": "review", "label": "stars"}, "labels": ["neg", "pos"]},
        "sim": {"kind": "regression", "source": {"format": "jsonl", "files": {"train": "sim.jsonl"}},
                "split": {"from": "train", "dev_fraction": 0.33}, "columns": {"text": "a", "text_pair": "b", "label": "y"},
                "label_range": [0, 5]},
        "pairs": {"kind": "classification", "source": {"format": "parquet", "files": {"train": "pairs.parquet", "dev": "pairs.parquet"}},
                  "columns": {"text": "q1", "text_pair": "q2", "label": "same"}, "labels": ["different", "same"],
                  "metrics": ["accuracy", "f1"], "main_metric": "f1"},
        "saved": {"kind": "classification", "source": {"format": "hf_disk", "path": "saved", "splits": {"train": "train", "dev": "test"}},
                  "columns": {"text": "text", "label": "label"}, "labels": ["no", "yes"]},
    }
    specs["reviews"]["source"] = {"format": "csv", "files": {"train": "reviews.csv", "dev": "reviews.csv"}}
    out = {}
    for name, s in specs.items():
        p = d / f"{name}.yaml"
        p.write_text(yaml.safe_dump({"name": f"user_{name}", **s}))
        out[name] = str(p)
    data = tmp_path / "data"
    _conllu(data / "ud" / "UD_Qqish-Test" / "qq_test-ud-dev.conllu", 12, 2)
    _conllu(data / "ud" / "UD_Qqish-Test" / "qq_test-ud-test.conllu", 8, 3)
    return {**out, "data": str(data)}


@pytest.mark.slow
def test_user_tasks_in_every_format_run_through_run_all_and_render(tiny_model_dir, tmp_path, monkeypatch):
    import papermill as pm

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    t = _user_tasks(tmp_path)
    res, rep = tmp_path / "results", tmp_path / "reports"
    root = Path(__file__).resolve().parents[2]
    pm.execute_notebook(str(root / "notebooks" / "run_all.ipynb"), str(tmp_path / "out.ipynb"), cwd=str(root),
                        progress_bar=False, parameters=dict(
                            models=[tiny_model_dir], tasks=[t["reviews"], t["sim"], t["pairs"], t["saved"], "ud"],
                            languages={"ud": ["qq"]}, criteria=["his", "random"], sparsities=[0.0, 0.5], seeds=[0],
                            n_dev=None, n_score=4, overrides={}, run_params={"n_train": None, "epochs": 1.0,
                                                                              "max_len": 24, "data_root": t["data"]},
                            results_dir=str(res), reports_dir=str(rep)))
    assert "5 cells, 0 failed" in (rep / "index.html").read_text()
    from hpbench.run.results import load_tables

    tab = load_tables(res)
    main = tab["results"][tab["results"]["main"]]
    got = {(r.task, r.metric) for r in main.itertuples()}
    assert got == {(t["reviews"], "accuracy"), (t["sim"], "pearson"), (t["pairs"], "f1"), (t["saved"], "accuracy"),
                   ("ud", "accuracy")}
    assert (tab["run"].set_index("task").loc[t["saved"], "n_dev"] == 12).all()  # the saved dataset's 'test' split
    assert {p.name for p in res.iterdir() if p.is_file()} == {"leaderboard.csv", "leaderboard.parquet"}
    assert sorted(p.name for p in res.iterdir() if p.is_dir() and p.name != "_cells") == sorted(
        f"{Path(tiny_model_dir).name}-{n}" for n in ("reviews-en", "sim-en", "pairs-en", "saved-en", "ud-qq"))
    comp = (rep / "comparison.html").read_text()
    assert comp.count("data:image/png;base64") >= 5  # curves and a head map per run
    assert "tiny-bert0-ud-qq" in (rep / "index.html").read_text() or "ud-qq" in (rep / "index.html").read_text()


def test_unquoted_yes_no_labels_are_caught(tmp_path):
    with pytest.raises(SpecError, match=r"labels: \[False, True\] holds booleans.*quote the label names"):
        load_task(_write(tmp_path, {"name": "yn", "kind": "classification", "labels": [False, True],
                                    "source": {"format": "csv", "files": {"train": "x.csv"}}, "columns": {"text": "t", "label": "y"}}),
                  register=False)
