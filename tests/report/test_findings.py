"""The comparison report's Findings sentences, on synthetic runs whose truth is known."""
import pandas as pd

from hpbench.report.findings import claims_counts, findings
from hpbench.report.intervals import auc_table, replicates
from synthetic_runs import _tables


def _one(n, acc, majority=0.5):
    t = _tables(n, acc, seeds=(0, 1), majority=majority)
    return replicates(t, n_boot=300)


def test_a_known_winner_is_ranked_first_and_called_significant():
    reps = _one(4000, {"his": {0.0: 0.85, 0.5: 0.84}, "random": {0.0: 0.85, 0.5: 0.70}})
    text = findings(reps)
    auc = auc_table(reps).set_index("criterion")
    line = next(l for l in text.splitlines() if l.startswith("* "))
    assert line.index("<code>his</code>") < line.index("<code>random</code>")  # ranked by AUC, best first
    assert f"<code>his</code> {auc.loc['his', 'AUC']:.3f} [{auc.loc['his', 'AUC lo']:.3f}, {auc.loc['his', 'AUC hi']:.3f}]" in line
    assert "<code>random</code> " in line and "**worse** than HIS" in line
    assert "unpruned 0.8" in line and "4000 dev examples, 2 seed(s)" in line


def test_a_tie_is_reported_as_no_significant_difference():
    t = _tables(1500, {"his": {0.0: 0.8, 0.5: 0.75}, "entropy": {0.0: 0.8, 0.5: 0.75}}, seeds=(0, 1))
    p = t["predictions"]
    for sd in (0, 1):  # entropy makes exactly HIS's predictions: a true tie
        for s in (0.0, 0.5):
            src = p[(p.criterion == "his") & (p.seed == sd) & (p.sparsity == s)]["y_pred"].iloc[0]
            p.loc[(p.criterion == "entropy") & (p.seed == sd) & (p.sparsity == s), "y_pred"] = src
    reps = replicates(t, n_boot=300)
    text = findings(reps)
    assert "<code>entropy</code> +0.000 [+0.000, +0.000], p = 1.000: no significant difference" in text
    assert "**worse**" not in text and "**better**" not in text


def test_a_task_below_its_baseline_gets_a_warning_and_no_ranking():
    reps = _one(2000, {"his": {0.0: 0.55, 0.5: 0.5}, "random": {0.0: 0.55, 0.5: 0.45}}, majority=0.6)
    text = findings(reps)
    assert "does not clear its baseline" in text and "By AUC" not in text
    warn = text.split("**Warnings**:")[1]
    assert "does not clear its baseline (0.600)" in warn


def test_claims_counts_and_tiny_models_are_in_the_findings():
    claims = pd.DataFrame({"verdict": ["holds", "holds", "inconclusive", "not comparable"]})
    assert claims_counts(claims) == ("**The papers' claims** (4 claim x task rows, [table](#claims)): 2 holds; "
                                     "1 inconclusive; 1 not comparable.")
    rows = pd.DataFrame({"claim": ["a", "b"], "task": ["sst2", "cola"], "run": ["m-sst2-en", "m-cola-en"],
                         "verdict": ["holds", "not comparable"], "note": [None, "x"]})
    text = claims_counts(rows)
    assert "1 holds ([a / sst2](#claim-a-sst2-m-sst2-en))" in text and "1 not comparable." in text
    from hpbench.report.findings import claims_table_html

    table = claims_table_html(rows)
    assert '<tr id="claim-a-sst2-m-sst2-en">' in table and "None" not in table and "nan" not in table
    # one claim measured at two sparsities on one run: two rows, two distinct ids, each linked
    two = pd.concat([rows.iloc[:1], rows.iloc[:1]], ignore_index=True)
    assert "(#claim-a-sst2-m-sst2-en)" in claims_counts(two) and "(#claim-a-sst2-m-sst2-en-2)" in claims_counts(two)
    assert claims_table_html(two).count('id="claim-a-sst2-m-sst2-en') == 2 and 'id="claim-a-sst2-m-sst2-en-2"' in claims_table_html(two)
    reps = _one(500, {"his": {0.0: 0.85, 0.5: 0.84}})
    assert "tiny-random-llama is a tiny random-init model" in findings(reps, claims, models=["tiny-random-llama", "m"])


def test_leaderboard_entries_equal_each_runs_auc_table(tmp_path):
    """Two runs (two tasks): every leaderboard row is that run's own AUC-table row; CSV + Parquet written; the page
    has one row per criterion, a column per run, the criterion's colour and the significance mark."""
    from hpbench.report.figures import criterion_colour
    from hpbench.report.leaderboard import write_leaderboard

    a = _tables(3000, {"his": {0.0: 0.85, 0.5: 0.84}, "random": {0.0: 0.85, 0.5: 0.7}})
    b = _tables(3000, {"his": {0.0: 0.8, 0.5: 0.7}, "random": {0.0: 0.8, 0.5: 0.75}}, seed=1)
    for name, t in (("pred", b["predictions"]), ("res", b["results"]), ("run", b["run"])):
        t["task"] = "mrpc"
        if "run_id" in t:
            t["run_id"] = "m-mrpc-en"
    both = {k: pd.concat([a[k], b[k]], ignore_index=True) for k in ("predictions", "results", "run")}
    reps = replicates(both, n_boot=300)
    page = write_leaderboard(reps, tmp_path, tmp_path)
    lb = pd.read_parquet(tmp_path / "leaderboard.parquet")
    assert (tmp_path / "leaderboard.csv").is_file() and len(lb) == 4
    for r in reps:
        own = auc_table([r]).set_index("criterion")
        for crit, row in lb[lb["task"] == r.keys["task"]].set_index("criterion").iterrows():
            for col in ("AUC", "AUC lo", "AUC hi"):
                assert row[col] == own.loc[crit, col]
    html = page.read_text()
    assert html.count("<tr><td data-v='nan'>") == 2 and criterion_colour("random") in html
    mrpc_random = lb[(lb.task == "mrpc") & (lb.criterion == "random")].iloc[0]
    assert mrpc_random["vs his"] == "better" and f"{mrpc_random['Δ vs his']:+.3f}*" in html
    assert html.count("<small>accuracy ↑</small>") == 2  # each run's header says which way its metric is better


def test_runs_of_one_task_are_told_apart_by_their_setting():
    from hpbench.report.text import variant_of

    assert variant_of("minilm-sst2-en", "minilm", "sst2", "en") == ""
    assert variant_of("minilm-sst2-en-rec-mask_tuning", "minilm", "sst2", "en") == "recovery: mask_tuning"
    assert variant_of("tiny-random-llama-ud_lm-en-group-uniform", "tiny-random-llama", "ud_lm", "en") == \
        "unit: group, layer-uniform"
    assert variant_of("minilm-sst2-en-ftseeds-balanced-rec-finetune", "minilm", "sst2", "en") == \
        "fine-tuning seeds, unit: balanced, recovery: finetune"
    # and the run id that RunConfig builds for those settings reads back the same
    from hpbench.run import RunConfig

    rid = RunConfig(model="tiny-random-llama", task="ud_lm", gqa_unit="group", layer_uniform=True, recovery="finetune").run_id
    assert variant_of(rid, "tiny-random-llama", "ud_lm", "en") == "unit: group, layer-uniform, recovery: finetune"


def test_claim_links_name_the_run_setting_when_a_task_has_several_runs():
    import pandas as pd

    from hpbench.report.findings import claims_counts

    c = pd.DataFrame({"claim": ["michel2019"] * 2, "task": ["sst2"] * 2, "verdict": ["holds"] * 2,
                      "run": ["minilm-sst2-en", "minilm-sst2-en-rec-finetune"]})
    text = claims_counts(c)
    assert "[michel2019 / sst2](#claim-michel2019-sst2-minilm-sst2-en)" in text
    assert "[michel2019 / sst2, recovery: finetune](#claim-michel2019-sst2-minilm-sst2-en-rec-finetune)" in text
