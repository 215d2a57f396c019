"""run_all.ipynb executes through papermill with tiny parameters and renders the HTML reports."""
from pathlib import Path

import papermill as pm

from conftest import needs_shared

ROOT = Path(__file__).resolve().parents[1]


@needs_shared
def test_run_all_renders_reports(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    res, rep = tmp_path / "results", tmp_path / "reports"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "run_all.ipynb"), str(tmp_path / "run_all.out.ipynb"), cwd=str(ROOT),
        progress_bar=False,
        parameters=dict(models=[tiny_model_dir], tasks=["sst2", "stsb", "xnli"], criteria=["his", "hies", "random"],
                        sparsities=[0.0, 0.5], seeds=[0, 1], n_dev=16, n_score=8,
                        overrides={"sst2": {"n_train": 32, "epochs": 1.0, "max_len": 32},
                                   "stsb": {"n_train": 32, "epochs": 1.0, "max_len": 32},
                                   "xnli": {"n_train": 32, "epochs": 1.0, "max_len": 32, "eval_languages": ["en", "de", "fr"]}},
                        results_dir=str(res), reports_dir=str(rep)),
    )
    index = (rep / "index.html").read_text()
    assert "comparison.html" in index and "3 cells, 0 failed" in index and "crosslingual.html" in index
    comp = (rep / "comparison.html").read_text()
    assert comp.count("data:image/png;base64") >= 4  # curves, 2 head maps, jaccard maps
    assert "Metric vs % of heads pruned" in comp and "Stability" in comp and "within 1 point" in comp
    assert "def " not in comp and "import hpbench" not in comp  # code hidden
    # intervals, significance marks, the claims table with a verdict for every claim, the stability view
    assert "95 % interval" in comp and "michel2019" in comp and "hies-stability-openreview" in comp
    assert "not comparable" in comp and "std, scoring subsets" in comp and "prunable %" in comp
    (run_page,) = (rep / "runs").glob(f"{Path(tiny_model_dir).name}-sst2-en-*.html")
    run_html = run_page.read_text()
    assert "data:image/png;base64" in run_html and "hies" in run_html
    xl = (rep / "crosslingual.html").read_text()
    assert xl.count("data:image/png;base64") >= 2  # language x criterion heatmaps, per-language curves
    assert "Fine-tuned and scored on <strong>en</strong>" in xl and "de, en, fr" in xl
    assert "pruning helped" in xl


def test_run_header_lists_metrics_only_and_survives_missing_values():
    """The run header names the unpruned metrics (not timings) and copes with values an older store lacks."""
    import pandas as pd

    from hpbench.report.text import run_header
    from hpbench.run import RunConfig

    cfg = RunConfig(model="minilm", task="sst2", n_dev=160)
    run = pd.DataFrame([{"seed": 0, "dense_seconds": None, "dense_accuracy": 0.85625,
                         "dense_full_dev_accuracy": float("nan"), "n_dev": 160, "finetune_seconds": None}])
    text = run_header(cfg, {"run": run})
    assert "accuracy = 0.8562" in text and "(whole dev split: accuracy = n/a)" in text
    assert "seconds =" not in text and "full_dev" not in text
