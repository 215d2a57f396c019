"""run_all.ipynb executes through papermill with tiny parameters and renders the HTML reports."""
from pathlib import Path

import papermill as pm
import pytest

from conftest import needs_shared

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@needs_shared
def test_run_all_renders_reports(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    res, rep = tmp_path / "results", tmp_path / "reports"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "run_all.ipynb"), str(tmp_path / "run_all.out.ipynb"), cwd=str(ROOT),
        progress_bar=False,
        # criteria and seeds as papermill's -p passes them (strings): read as JSON/YAML
        parameters=dict(models=[tiny_model_dir], tasks=["sst2", "stsb", "xnli"], criteria='["his", "hies", "random"]',
                        sparsities=[0.0, 0.5], seeds="[0, 1]", n_dev=16, n_score=8,
                        overrides={"sst2": {"n_train": 32, "epochs": 1.0, "max_len": 32},
                                   "stsb": {"n_train": 32, "epochs": 1.0, "max_len": 32},
                                   "xnli": {"n_train": 32, "epochs": 1.0, "max_len": 32, "eval_languages": ["en", "de", "fr"],
                                            "score_language": ["de"]}},  # + a cell scored and evaluated on German
                        results_dir=str(res), reports_dir=str(rep)),
    )
    index = (rep / "index.html").read_text()
    assert "comparison.html" in index and "4 cells, 0 failed" in index and "crosslingual.html" in index
    cross = (rep / "crosslingual.html").read_text()  # zero-shot runs with heads scored on two languages (it crashed)
    assert "hpbench-error" not in cross and "Traceback" not in cross and "heads scored on" in cross
    comp = (rep / "comparison.html").read_text()
    # every section drew (English and zero-shot runs together: the cost view once crashed on them)
    assert "hpbench-error" not in comp, comp[comp.find("hpbench-error"):][:600]
    assert comp.count("data:image/png;base64") >= 4  # curves, 2 head maps, jaccard maps
    assert "Metric vs % of heads pruned" in comp and "Stability" in comp and "within 1 point" in comp
    # the language axis: xnli's zero-shot languages with their transfer effect, and ma2021's held-out verdicts
    assert "Languages: zero-shot transfer under pruning" in comp and "Ma et al. 2021, per language" in comp
    assert "xnli / de" in comp and "xnli / fr" in comp
    assert "def " not in comp and "import hpbench" not in comp  # code hidden
    # intervals, significance marks, the claims table with a verdict for every claim, the stability view
    assert "95 % interval" in comp and "michel2019" in comp and "hies-quality-cola50" in comp
    assert "not comparable" in comp and "std, scoring subsets" in comp and "prunable %" in comp
    # findings first, a table of contents naming every section, no NaN cells, the leaderboard linked
    import re

    h1 = comp.index("<h1")
    first_h2 = re.search(r"<h2[^>]*>(.*?)</h2>", comp[h1:], re.S).group(1)
    assert first_h2.startswith("Findings")
    toc = comp[comp.index('<nav class="toc"'):comp.index("</nav>")]
    for sid in re.findall(r'<h2 id="([^"]+)"', comp):
        assert sid in ("contents",) or f'href="#{sid}"' in toc, sid
    assert not re.search(r"<td>\s*(NaN|nan|None)\s*</td>", comp)
    assert "leaderboard.html" in index and (rep / "leaderboard.html").is_file()
    # the numbers of the findings table, read back from the page, are those of the AUC table of the results
    from hpbench.report.intervals import auc_table, replicates
    from hpbench.run.results import load_tables

    auc = auc_table(replicates(load_tables(res)))
    shown = next(t for t in _html_tables(comp) if t and "AUC his" in t[0])
    rows = {r[0]: dict(zip(shown[0], r)) for r in shown[2:]}
    assert len(rows) == 6  # sst2, stsb, and xnli on en, de, fr, and on de with heads scored on de
    assert any(k.endswith(" / xnli / de [zero-shot from en, heads scored on de]") for k in rows)
    assert any(k.endswith(" / xnli / en") for k in rows)  # the source language's row is not called zero-shot
    for run, row in rows.items():
        model, task, lang = run.split(" / ")
        lang = lang.split(" [")[0]  # ("de [zero-shot from en]")
        scored = auc["run_id"].str.contains("-scored-") == ("heads scored on" in run)
        g = auc[(auc["task"] == task) & (auc["language"] == lang) & scored].set_index("criterion")
        assert len(g), (run, auc[["task", "language"]].drop_duplicates().values.tolist())
        h = g.loc["his"]
        assert row["AUC his"] == f"{h['AUC']:.3f} [{h['AUC lo']:.3f}, {h['AUC hi']:.3f}]", run
        for crit in ("hies", "random"):
            c = g.loc[crit]
            want = (f"{c['Δ vs his']:+.3f}{'*' if c['significant'] else ''} [{c['Δ lo']:+.3f}, {c['Δ hi']:+.3f}]")
            assert row[f"Δ {crit}"] == want, (run, crit)
    _numbers_match_a_hand_computation(comp, load_tables(res)["results"])


def _numbers_match_a_hand_computation(page: str, results) -> None:
    """The findings table's AUC and Δ points and the prunable table's point estimates, read back from the page, equal
    those computed here by hand from the stored results (main metric rows): per seed the trapezoid area under metric
    vs fraction pruned over [0, max] divided by its width, then the mean over seeds; "within 1 pt" = the largest level
    whose seed-mean lies within 0.01 of the unpruned seed-mean on the metric's better side."""
    main = results[results["main"].astype(bool)]

    def mean_curve(task, lang, crit, scored=False):  # scored: the run whose heads were scored on another language
        g = main[(main["task"] == task) & (main["language"] == lang) & (main["criterion"] == crit)
                 & (main["run_id"].str.contains("-scored-") == scored)]
        by_seed = {}
        for r in g.itertuples():
            by_seed.setdefault(r.seed, {})[float(r.sparsity)] = float(r.value)
        return by_seed

    def auc_by_hand(task, lang, crit, scored=False):
        areas = []
        for curve in mean_curve(task, lang, crit, scored).values():
            xs = sorted(curve)
            area = sum((xs[i + 1] - xs[i]) * (curve[xs[i]] + curve[xs[i + 1]]) / 2 for i in range(len(xs) - 1))
            areas.append(area / (xs[-1] - xs[0]))
        return sum(areas) / len(areas)

    tables = _html_tables(page)
    shown = next(t for t in tables if t and "AUC his" in t[0])
    for r in shown[2:]:
        row = dict(zip(shown[0], r))
        _, task, lang = row[shown[0][0]].split(" / ")
        scored = "heads scored on" in lang
        lang = lang.split(" [")[0]
        his = auc_by_hand(task, lang, "his", scored)
        assert float(row["AUC his"].split(" [")[0]) == pytest.approx(his, abs=5.1e-4), (task, lang)
        for crit in ("hies", "random"):
            delta = float(row[f"Δ {crit}"].split(" [")[0].rstrip("*"))
            assert delta == pytest.approx(auc_by_hand(task, lang, crit, scored) - his, abs=1e-3), (task, lang, crit)
    within = next(t for t in tables if t and any("within 1 pt" in h for h in t[0]))
    col = next(i for i, h in enumerate(within[0]) if "within 1 pt" in h)
    checked, prev = 0, []
    for r in within[1:]:
        r = prev[:len(within[0]) - len(r)] + r  # pandas writes a repeated index label once (rowspan)
        prev = r
        cells = dict(zip(within[0], r))
        key = [c for c in r if c in ("sst2", "stsb", "xnli")]
        crit = next((c for c in r if c in ("his", "hies", "random")), None)
        if not key or crit is None or not r[col].strip():
            continue
        lang = next(c for c in r if c in ("en", "de", "fr"))
        by_seed = mean_curve(key[0], lang, crit, any("-scored-" in c for c in r))
        levels = sorted({x for c in by_seed.values() for x in c})
        mean = {x: sum(c[x] for c in by_seed.values()) / len(by_seed) for x in levels}
        assert int(r[col]) == max(int(round(100 * x)) for x in levels if mean[x] - mean[levels[0]] >= -0.01), cells
        checked += 1
    assert checked >= 9  # 5 runs x 3 criteria, less any without an unpruned point


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


def test_list_parameters_given_as_strings_are_parsed_or_rejected_naming_the_y_form():
    from hpbench.run import RunConfig
    from hpbench.run.params import grid_parameters

    p = grid_parameters(seeds="[0, 1]", criteria='["his","random"]', overrides="{sst2: {n_train: 10}}", n_dev=None)
    assert p == {"seeds": [0, 1], "criteria": ["his", "random"], "overrides": {"sst2": {"n_train": 10}}, "n_dev": None}
    with pytest.raises(ValueError, match=r"parameter criteria='his' must be a list; with papermill use -y, e\.g\. -y 'criteria: \[\.\.\.\]'"):
        grid_parameters(criteria="his")
    with pytest.raises(ValueError, match=r"parameter run_params='\[1\]' must be a mapping"):
        grid_parameters(run_params="[1]")
    cfg = RunConfig.from_params({"seeds": "[3, 4]", "sparsities": "[0, 0.5]", "criteria": "[his]"})
    assert cfg.seeds == [3, 4] and cfg.sparsities == [0, 0.5] and cfg.criteria == ["his"]
    with pytest.raises(ValueError, match=r"parameter seeds='0' must be a list"):
        RunConfig.from_params({"seeds": "0"})


def _html_tables(page: str) -> list[list[list[str]]]:
    """Every <table> of an HTML page as rows of cell texts (header cells included), with the standard library."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.row, self.cell = [], None, None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr" and self.tables:
                self.row = []
            elif tag in ("td", "th") and self.row is not None:
                self.cell = []

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.row.append("".join(self.cell).strip())
                self.cell = None
            elif tag == "tr" and self.row is not None:
                self.tables[-1].append(self.row)
                self.row = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    p = P()
    p.feed(page)
    return p.tables
