"""Text from a task spec, its data and its parameters never runs in a report page: a spec full of HTML and script,
run through run_all.ipynb, leaves none of it live in any page."""
import pytest
import re
from pathlib import Path

import papermill as pm
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ["<script>alert('desc')</script>", "<img src=x onerror=alert('label')>", "<b>bold</b>"]


def _spec(tmp_path: Path) -> Path:
    rows = ["sentence\tlabel"] + [f"{'good fine' if i % 2 else 'bad awful'} <script>alert('row')</script> {i}\t{i % 2}"
                                  for i in range(48)]
    (tmp_path / "train.tsv").write_text("\n".join(rows[:33]) + "\n")
    (tmp_path / "dev.tsv").write_text("\n".join([rows[0]] + rows[33:]) + "\n")
    spec = {"name": "evil_reviews", "kind": "classification",
            "description": f"{PAYLOADS[0]} reviews {PAYLOADS[2]}",
            "source": {"format": "tsv", "files": {"train": "train.tsv", "dev": "dev.tsv"}},
            "columns": {"text": "sentence", "label": "label"}, "labels": [PAYLOADS[1], "positive"],
            "metrics": ["accuracy"]}
    p = tmp_path / "reviews.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


@pytest.mark.slow
def test_html_in_a_task_spec_is_inert_in_every_page(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    res, rep = tmp_path / "results", tmp_path / "reports"
    spec = _spec(tmp_path)
    pm.execute_notebook(str(ROOT / "notebooks" / "run_all.ipynb"), str(tmp_path / "out.ipynb"), cwd=str(ROOT),
                        progress_bar=False,
                        parameters=dict(models=[tiny_model_dir], tasks=[str(spec)], criteria=["his", "random"],
                                        sparsities=[0.0, 0.5], seeds=[0], n_dev=15, n_score=8,
                                        overrides={"evil_reviews": {"n_train": 32, "epochs": 1.0, "max_len": 24}},
                                        results_dir=str(res), reports_dir=str(rep)))
    pages = list(rep.rglob("*.html"))
    names = {p.name for p in pages}
    assert {"index.html", "comparison.html", "leaderboard.html"} <= names and any(p.parent.name == "runs" for p in pages)
    run_page = next(p for p in pages if p.parent.name == "runs").read_text()
    # the description is on the run page, as text
    assert "&lt;script&gt;alert(" in run_page and "&lt;/script&gt; reviews &lt;b&gt;bold&lt;/b&gt;" in run_page
    assert "hpbench-error" not in run_page and "hpbench-error" not in (rep / "comparison.html").read_text()
    for page in pages:
        body = page.read_text()
        for payload in PAYLOADS + ["<script>alert('row')</script>"]:
            assert payload not in body, (page.name, payload)
        live = [s for s in re.findall(r"<script[^>]*>(.*?)</script>", body, re.S) if "alert(" in s]
        assert not live, (page.name, live)
