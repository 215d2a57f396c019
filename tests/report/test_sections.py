"""Report sections: the registry, pages that keep rendering when one section fails, absent sections, escaping."""
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from hpbench.core.registry import NameCollisionError, Registry
from hpbench.report.escape import code, esc
from hpbench.report.sections import base
from hpbench.report.sections.findings import findings_table, forest_rows

ROOT = Path(__file__).resolve().parents[2]


class Shown(list):
    def __call__(self, obj):
        self.append(obj)

    def text(self) -> str:
        out = []
        for o in self:
            out.append(getattr(o, "data", None) if hasattr(o, "data") else repr(type(o)))
        return "\n".join(str(x) for x in out)


@pytest.fixture
def fresh_registry(monkeypatch):
    reg = Registry("report section")
    monkeypatch.setattr(base, "SECTIONS", reg)
    return reg


def _section(key, order, *, applies=True, fails=False, text="body"):
    def render(self, ctx):
        if fails:
            raise RuntimeError("boom <b>bold</b>")
        yield f"{text} of {key}"

    cls = type(key.title(), (base.Section,), {"key": key, "title": f"Title {key}", "order": order, "pages": ("comparison",),
                                               "applies": lambda self, ctx: applies, "render": render})
    return base.register(cls)


def test_a_failing_section_shows_its_error_in_place_and_the_others_render(fresh_registry):
    _section("first", 1)
    _section("broken", 2, fails=True)
    _section("absent", 3, applies=False)
    _section("last", 4)
    shown = Shown()
    keys = base.render_page("comparison", ctx=None, display=shown)
    text = shown.text()
    assert keys == ["first", "broken", "last"]  # the absent section is not on the page
    assert text.index("body of first") < text.index("could not be drawn") < text.index("body of last")
    assert "Title absent" not in text and "body of absent" not in text
    # the error message is escaped: no live <b> from the exception text
    assert "boom &lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text


def test_an_error_in_applies_is_shown_too(fresh_registry):
    def bad(self, ctx):
        raise KeyError("no such column")

    base.register(type("X", (base.Section,), {"key": "x", "title": "X view", "order": 1, "applies": bad}))
    _section("after", 5)
    shown = Shown()
    assert base.render_page("comparison", None, display=shown) == ["x", "after"]
    assert "could not be drawn" in shown.text() and "body of after" in shown.text()


def test_registry_is_loud_about_collisions_bad_pages_and_missing_keys(fresh_registry):
    _section("dup", 1)
    with pytest.raises(NameCollisionError, match="'dup' is already registered"):
        _section("dup", 2)
    with pytest.raises(ValueError, match=r"page\(s\) \['index'\] unknown; pages are \['comparison', 'run'\]"):
        base.register(type("P", (base.Section,), {"key": "p", "pages": ("index",)}))
    with pytest.raises(ValueError, match="needs a key"):
        base.register(type("K", (base.Section,), {}))
    with pytest.raises(ValueError, match="unknown report page 'index'"):
        base.sections_for("index")


def test_builtin_sections_are_discovered_from_the_folder():
    from hpbench.report.sections import SECTIONS, sections_for

    files = {p.stem for p in (ROOT / "hpbench" / "report" / "sections").glob("*.py")} - {"__init__", "base", "context"}
    modules = {type(SECTIONS.get(k)).__module__.rsplit(".", 1)[1] for k in SECTIONS.names()}
    assert files <= modules  # every file registers a section, none registered elsewhere by the package
    assert [s.key for s in sections_for("comparison")][:2] == ["status", "findings"]  # findings first


def test_escape_makes_markup_inert():
    assert esc("<script>alert('x')</script> | a") == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &#124; a"
    assert code("<b>") == "<code>&lt;b&gt;</code>"


def _auc_rows():
    # two runs; one higher-is-better (accuracy), one lower-is-better (perplexity)
    return pd.DataFrame([
        dict(run_id="m-sst2-en", model="m", task="sst2", language="en", criterion="his", metric="accuracy", better="higher",
             AUC=0.80, **{"AUC lo": 0.78, "AUC hi": 0.82}),
        dict(run_id="m-sst2-en", model="m", task="sst2", language="en", criterion="random", metric="accuracy",
             better="higher", AUC=0.70, **{"AUC lo": 0.68, "AUC hi": 0.72, "Δ vs his": -0.10, "Δ lo": -0.13,
                                           "Δ hi": -0.07, "p": 0.001, "significant": True}),
        dict(run_id="m-lm-en", model="m", task="lm", language="en", criterion="his", metric="perplexity", better="lower",
             AUC=20.0, **{"AUC lo": 19.0, "AUC hi": 21.0}),
        dict(run_id="m-lm-en", model="m", task="lm", language="en", criterion="random", metric="perplexity",
             better="lower", AUC=25.0, **{"AUC lo": 24.0, "AUC hi": 26.0, "Δ vs his": 5.0, "Δ lo": 3.0, "Δ hi": 7.0,
                                          "p": 0.2, "significant": False}),
    ])


def test_forest_rows_read_every_difference_in_the_metrics_better_direction():
    rows = forest_rows(_auc_rows()).set_index("run")
    acc, ppl = rows.loc["m / sst2 / en"], rows.loc["m / lm / en"]
    assert (acc.better_delta, acc.lo, acc.hi) == pytest.approx((-0.10, -0.13, -0.07))
    # 5 points more perplexity is worse than HIS: -5, interval [-7, -3]
    assert (ppl.better_delta, ppl.lo, ppl.hi) == pytest.approx((-5.0, -7.0, -3.0))
    assert bool(acc.significant) and not bool(ppl.significant)
    assert set(rows["scale"]) == {"difference"}


def test_perplexity_differences_are_drawn_as_ratios_to_his():
    """With the AUC ratio in the table (a metric read in ratios), the picture reads AUC(his) / AUC for lower-is-better:
    random's 25 against HIS's 20 is 0.8 (worse), its ratio interval [1.15, 1.35] becomes [1/1.35, 1/1.15]."""
    auc = _auc_rows()
    auc["ratio vs his"], auc["ratio lo"], auc["ratio hi"] = np.nan, np.nan, np.nan
    auc.loc[3, ["ratio vs his", "ratio lo", "ratio hi"]] = [1.25, 1.15, 1.35]
    rows = forest_rows(auc).set_index("run")
    ppl, acc = rows.loc["m / lm / en"], rows.loc["m / sst2 / en"]
    assert ppl.scale == "ratio" and acc.scale == "difference"
    assert (ppl.better_delta, ppl.lo, ppl.hi) == pytest.approx((0.8, 1 / 1.35, 1 / 1.15))
    assert (acc.better_delta, acc.lo, acc.hi) == pytest.approx((-0.10, -0.13, -0.07))
    from hpbench.report.sections.findings import forest_plot

    fig = forest_plot(auc)
    assert [a.get_xscale() for a in fig.axes] == ["linear", "log"]
    t = findings_table(auc, pd.DataFrame(columns=["run_id", "criterion", "prunable %"]))
    assert t.loc["m / lm / en", "Δ random"] == "×1.25 [1.15, 1.35]" and t.loc["m / sst2 / en", "Δ random"].startswith("-0.100*")


def test_findings_table_has_one_row_per_run_with_the_numbers_of_the_auc_table():
    pt = pd.DataFrame([dict(run_id="m-sst2-en", model="m", task="sst2", language="en", criterion="his",
                            **{"prunable %": 30.0}),
                       dict(run_id="m-sst2-en", model="m", task="sst2", language="en", criterion="random",
                            **{"prunable %": 10.0})])
    t = findings_table(_auc_rows(), pt)
    assert list(t.index) == ["m / sst2 / en", "m / lm / en"]
    assert t.loc["m / sst2 / en", "AUC his"] == "0.800 [0.780, 0.820]"
    assert t.loc["m / sst2 / en", "Δ random"] == "-0.100* [-0.130, -0.070]"
    assert t.loc["m / lm / en", "Δ random"] == "+5.000 [+3.000, +7.000]"
    assert t.loc["m / sst2 / en", "certified prunable"] == "30 % (his; within 1 point)"


def test_layer_profile_counts_pruned_heads_per_layer_by_hand():
    from hpbench.models.masks import mask_to_key
    from hpbench.report.sections.layer_profile import pruned_per_layer
    import torch

    a0 = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=torch.bool)  # pruned 2, 0, 3 of 4
    a1 = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 0], [0, 0, 1, 1]], dtype=torch.bool)  # pruned 1, 1, 2
    b0 = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1]], dtype=torch.bool)  # pruned 0, 4, 1
    rows = [{"criterion": "a", "seed": 0, "sparsity": 0.5, "mask": mask_to_key(a0), "ffn_mask": ""},
            {"criterion": "a", "seed": 1, "sparsity": 0.5, "mask": mask_to_key(a1), "ffn_mask": ""},
            {"criterion": "b", "seed": 0, "sparsity": 0.5, "mask": mask_to_key(b0), "ffn_mask": ""},
            {"criterion": "b", "seed": 0, "sparsity": 0.3, "mask": mask_to_key(a0), "ffn_mask": ""},  # other level
            {"criterion": "k", "seed": 0, "sparsity": 0.5, "mask": mask_to_key(a0), "ffn_mask": "0101"}]  # FLOPs budget
    t = pruned_per_layer(pd.DataFrame(rows), 3)
    assert list(t.index) == ["a", "b"]
    assert t.loc["a"].tolist() == pytest.approx([(2 + 1) / 8, (0 + 1) / 8, (3 + 2) / 8])
    assert t.loc["b"].tolist() == pytest.approx([0.0, 1.0, 0.25])


def test_the_cost_view_of_zero_shot_runs_draws_each_model_at_its_own_language():
    """A run evaluated on English (its training language, 0.85) and zero-shot on German (0.55): the Pareto view's points
    are the English ones, inside their intervals (averaging the languages put a point below its own interval and
    matplotlib refused the negative error bar: the comparison of cross-lingual runs crashed)."""
    import matplotlib.pyplot as plt
    from synthetic_runs import _tables

    from hpbench.report import figures
    from hpbench.report.intervals import replicates

    en = _tables(1500, {"his": {0.0: 0.85, 0.5: 0.85}}, seed=1)
    de = _tables(1500, {"his": {0.0: 0.55, 0.5: 0.55}}, seed=2)
    for t in (en, de):
        t["results"]["train_language"] = "en"
        t["results"]["protocol"] = "prune-after-finetune"
        t["results"]["encoder_gflops_128"] = 1.0 - t["results"]["sparsity"]
    de["results"]["language"] = "de"
    de["predictions"]["language"] = "de"
    tables = {"results": pd.concat([en["results"], de["results"]], ignore_index=True),
              "predictions": pd.concat([en["predictions"], de["predictions"]], ignore_index=True),
              "run": pd.concat([en["run"], de["run"].assign(eval_language="de")], ignore_index=True),
              "masks": pd.DataFrame()}
    fig = figures.pareto(tables["results"], tables["run"], x="gflops", reps=replicates(tables, n_boot=200))
    ys = [y for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "o" for y in line.get_ydata()]
    plt.close(fig)
    assert ys and all(abs(y - 0.85) < 0.03 for y in ys)


def test_settings_table_says_when_nothing_was_trained_and_the_whole_dev_was_not_evaluated():
    """A zero-shot decoder run (epochs 0) on a 40-document subset without the whole-dev reference: the row says no
    training examples and no whole-dev number, instead of the split's size and "the same (whole dev used)"."""
    from hpbench.report.text import comparison_header

    run = pd.DataFrame([dict(model="m", task="ewt_ppl", language="en", main_metric="word_perplexity",
                             dense_word_perplexity=199.0, n_dev=40, n_train=4000, epochs=0.0, dev_subset=True),
                        dict(model="m", task="sst2", language="en", main_metric="accuracy", dense_accuracy=0.85,
                             majority_accuracy=0.51, n_dev=872, n_train=None, epochs=1.0, dev_subset=False)])
    rows = {line.split(" | ")[1]: line for line in comparison_header({"run": run}).splitlines() if line.startswith("| m |")}
    assert "none (pretrained, epochs 0)" in rows["ewt_ppl"] and "not evaluated (full_dev off)" in rows["ewt_ppl"]
    assert "| 4000 |" not in rows["ewt_ppl"]
    assert "| all |" in rows["sst2"] and "the same (whole dev used)" in rows["sst2"]
