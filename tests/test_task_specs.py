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

BUILTIN = Path(__file__).resolve().parents[1] / "hpbench" / "tasks" / "builtin"


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
    ({"kind": "ranking"}, "kind", "unknown kind 'ranking'; allowed: classification, regression, token"),
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
