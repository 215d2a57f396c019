"""The language axis of the comparison: numbers by hand from the predictions, head agreement by hand, and the whole
comparison page over English and zero-shot runs together rendering every section without an error."""
import json

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import _tables

from hpbench.report.intervals import replicates
from hpbench.report.languages import language_table, rank_agreement


def crosslingual_tables():
    """One English-trained model: its own-language run (en, 0.85) and zero-shot runs on de (0.70) and zh (0.60)
    where pruning 30 % costs 0, 5 and 10 points."""
    parts = []
    for k, (lang, a0, drop) in enumerate([("en", 0.85, 0.0), ("de", 0.70, 0.05), ("zh", 0.60, 0.10)]):
        t = _tables(800, {"his": {0.0: a0, 0.3: a0 - drop, 0.5: a0 - 2 * drop},
                          "random": {0.0: a0, 0.3: a0 - 2 * drop, 0.5: a0 - 4 * drop}}, seeds=(0, 1), seed=10 + k)
        rid = "m-sst2-en" if lang == "en" else "m-sst2-en-zeroshot"
        for name in ("results", "predictions"):
            t[name]["train_language"], t[name]["language"], t[name]["run_id"] = "en", lang, rid
            t[name]["protocol"] = "prune-after-finetune"
        t["run"]["eval_language"], t["run"]["run_id"] = lang, rid
        t["results"]["encoder_gflops_128"] = 1.0 - t["results"]["sparsity"]
        parts.append(t)
    return {k: pd.concat([p[k] for p in parts], ignore_index=True) for k in ("results", "predictions", "run", "masks")}


def test_language_table_numbers_come_from_the_predictions():
    t = crosslingual_tables()
    table = language_table(replicates(t, n_boot=300))
    assert sorted(table["language"]) == ["de", "en", "zh"] and set(table["n"]) == {800}
    p = t["predictions"]
    for lang in ("de", "zh"):
        g = p[(p["language"] == lang) & (p["criterion"] == "his")]
        acc = {(s, sd): np.mean(np.array(json.loads(q)) == np.array(json.loads(y)))
               for s, sd, q, y in zip(g["sparsity"], g["seed"], g["y_pred"], g["y_true"])}
        row = table[table["language"] == lang].iloc[0]
        assert row["unpruned"] == pytest.approx(np.mean([acc[(0.0, 0)], acc[(0.0, 1)]]))
        d30 = np.mean([acc[(0.3, sd)] - acc[(0.0, sd)] for sd in (0, 1)])
        assert row["his 30 % vs 0 %"].startswith(f"{d30:+.3f} [")
        assert row["lo"] < row["unpruned"] < row["hi"] and row["± (half-width)"] < 0.035
        assert row["Δ AUC random vs his"].startswith("-")  # random loses twice as much


def test_rank_agreement_by_hand():
    rng = np.random.default_rng(0)
    s_en = rng.normal(size=24)
    s_de = s_en + rng.normal(scale=0.5, size=24)
    rows = [{"model": "m", "task": "udpos", "criterion": "his", "seed": 0, "score_language": lang, "layer": i // 6,
             "head": i % 6, "score": s} for lang, sc in (("en", s_en), ("de", s_de), ("zh", -s_en)) for i, s in enumerate(sc)]
    a = rank_agreement(pd.DataFrame(rows), n_boot=300).set_index("language")
    rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731  (no ties)
    assert a.loc["de", "rank correlation"] == pytest.approx(np.corrcoef(rank(s_en), rank(s_de))[0, 1])
    assert a.loc["zh", "rank correlation"] == pytest.approx(-1.0)
    assert a.loc["de", "lo"] < a.loc["de", "rank correlation"] < a.loc["de", "hi"]
    low_en, low_de = set(np.argsort(s_en)[:12]), set(np.argsort(s_de)[:12])
    assert a.loc["de", "Jaccard of pruned at 50 %"] == pytest.approx(len(low_en & low_de) / len(low_en | low_de))
    assert a.loc["zh", "Jaccard of pruned at 50 %"] == 0.0


def test_the_language_section_shows_each_language_and_ma2021_per_language():
    """(The whole comparison page over English and zero-shot runs: tests/notebooks/test_notebooks.py.)"""
    import hpbench.claims.section  # noqa: F401  (the claims table the page derives)
    from hpbench.report.sections import base
    from hpbench.report.sections.context import ReportContext

    shown = []
    ctx = ReportContext(crosslingual_tables(), page="comparison")
    assert base.render_section(base.SECTIONS.get("languages"), ctx, shown.append)
    text = " ".join(str(getattr(x, "data", x)) for x in shown)
    assert "could not be drawn" not in text
    tables = [x for x in shown if isinstance(x, pd.DataFrame)]
    assert sorted(tables[0].index) == ["de", "en", "zh"] and "unpruned [95 %]" in tables[0]
    assert "Ma et al. 2021, per language" in text
    ma = tables[-1]
    assert sorted(ma.index) == ["sst2 / de", "sst2 / zh"]  # the zero-shot languages; English is the source
    assert set(ma["verdict"]) == {"does not hold"}  # pruning costs 5 and 10 points there


def test_heads_scored_on_other_languages_get_their_own_maps_and_never_mix_into_the_training_languages():
    """English-scored and German-scored HIS scores of one model: the language section draws one map per scoring
    language and the agreement table; the per-run head maps and masks (per_run) keep only the English-scored rows."""
    from matplotlib.figure import Figure

    import hpbench.claims.section  # noqa: F401
    from hpbench.report.sections import base
    from hpbench.report.sections.context import ReportContext

    t = crosslingual_tables()
    rng = np.random.default_rng(0)
    t["scores"] = pd.DataFrame([{"model": "m", "task": "sst2", "language": "en", "criterion": "his", "seed": 0,
                                 "score_language": lang, "layer": i // 4, "head": i % 4, "score": rng.random()}
                                for lang in ("en", "de") for i in range(16)])
    shown = []
    base.render_section(base.SECTIONS.get("languages"), ReportContext(t, page="comparison"), shown.append)
    (fig,) = [x for x in shown if isinstance(x, Figure)]
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["scored on en", "scored on de"]
    assert any(isinstance(x, pd.DataFrame) and "rank correlation" in x for x in shown)
    [(title, rows)] = list(base.per_run(t["scores"]))
    assert title == "m / sst2 / en" and set(rows["score_language"]) == {"en"} and len(rows) == 16
