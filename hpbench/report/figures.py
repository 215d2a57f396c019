"""Tables and seaborn figures for the HTML reports (per run and across runs).

All functions take the tidy tables of :mod:`hpbench.run.results` (``run_benchmark`` or ``load_tables``).
Every metric has a direction (:func:`hpbench.tasks.metrics.direction`: perplexity is lower-is-better) and a
"point" (0.01 for metrics in [0, 1], 1.0 for perplexity): axis labels say which way is better, "within 1 point",
the Pareto front and "better / worse" readings follow it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..models.masks import pruned_of_key
from ..tasks.lookup import task_label
from ..tasks.metrics import direction
from .text import variant_of

RUN_KEYS = ["model", "task", "language"]

# One colour per criterion in every figure of every report: the built-ins have fixed colours; any other
# criterion spec (a parameterised built-in, a plugin) gets one from a stable hash of its spec string.
CRITERION_COLOURS = {"his": "#1f77b4", "entropy": "#ff7f0e", "hies": "#2ca02c", "random": "#7f7f7f",
                     "astar": "#d62728", "dsp": "#9467bd", "smp": "#8c564b",
                     "smp_distance": "#5254a3", "l2": "#e377c2", "ad": "#bcbd22", "hies_recon": "#98df8a",
                     "fisher": "#17becf", "kwon": "#8b0000", "l0": "#b8860b", "flap": "#006d2c",
                     "flap_heads": "#74c476", "kwon_heads": "#7b4173", "wanda_sp": "#e7ba52"}
_EXTRA = ["#aec7e8", "#ffbb78", "#ff9896", "#c5b0d5", "#c49c94",
          "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79", "#637939", "#8c6d31", "#843c39"]


def criterion_colour(spec: str) -> str:
    """The colour of a criterion spec string ("his", "hies:alpha=0.25", a plugin's name), the same everywhere."""
    if spec in CRITERION_COLOURS:
        return CRITERION_COLOURS[spec]
    import hashlib

    return _EXTRA[int(hashlib.sha1(spec.encode()).hexdigest(), 16) % len(_EXTRA)]


def criterion_palette(specs) -> dict[str, str]:
    """``{spec: colour}`` for seaborn's ``palette=`` (hue="criterion")."""
    return {s: criterion_colour(s) for s in dict.fromkeys(specs)}


def metric_label(metric: str, prefix: str = "dev ") -> str:
    """Axis label naming the metric and which way is better: "dev perplexity (↓ lower is better)"."""
    d = direction(metric)
    return f"{prefix}{metric} ({'↑' if d.higher_is_better else '↓'} {d.label})"


def log_if_ratio(ax, metric: str) -> None:
    """A log y axis for metrics read in ratios (perplexity: it explodes by orders of magnitude when heads go)."""
    if direction(metric).relative is not None:
        ax.set_yscale("log")


def main_results(results: pd.DataFrame, budget: str | None = "heads") -> pd.DataFrame:
    """Rows of each task's main metric only; ``budget="heads"`` leaves out criteria searched under a FLOPs budget
    (``kwon``, whose sparsity is a share of FLOPs: never drawn against % heads pruned), None keeps them."""
    keep = results["main"].astype(bool)
    if budget == "heads" and "budget" in results:
        keep &= results["budget"].fillna("heads") != "flops"
    return results[keep].copy()


def curves(results: pd.DataFrame, reps=None, *, col: str = "task", hue: str = "criterion", height: float = 3.2):
    """Main metric vs % heads pruned, one line per criterion (mean over seeds). Band: the 95 % interval
    (bootstrap over dev examples and seeds, :mod:`hpbench.report.intervals`) when ``reps`` holds replicates;
    +/- 1 std across seeds otherwise (results stored without predictions)."""
    if reps and hue == "criterion":
        return _interval_curves(results, reps, col=col, height=height)
    df = main_results(results)
    df["% heads pruned"] = 100 * df["n_pruned"] / df["heads_total"]
    style = "protocol" if "protocol" in df and df["protocol"].nunique() > 1 else None
    palette = criterion_palette(df[hue]) if hue == "criterion" else None
    g = sns.relplot(data=df, x="% heads pruned", y="value", hue=hue, style=style, col=col, kind="line", marker="o",
                    palette=palette,
                    errorbar="sd", height=height, aspect=1.25, facet_kws={"sharey": False},
                    col_wrap=min(4, df[col].nunique()))
    names = df.groupby(col)["metric"].first()
    for key, ax in g.axes_dict.items():
        ax.set_ylabel(metric_label(names[key]) if key in names else "dev metric")
        ax.set_title(task_label(key) if col == "task" else str(key))
        if key in names:
            log_if_ratio(ax, names[key])
    return g.figure


def _pruned_share(results: pd.DataFrame) -> pd.DataFrame:
    """(run keys, criterion, sparsity) -> mean % of heads actually pruned (masks may round the target)."""
    df = main_results(results)
    df["% heads pruned"] = 100 * df["n_pruned"] / df["heads_total"]
    keys = [k for k in ("run_id", "model", "task", "criterion", "sparsity") if k in df]
    return df.groupby(keys)["% heads pruned"].mean().reset_index()


def _interval_curves(results: pd.DataFrame, reps, *, col: str, height: float):
    from .intervals import curve_table

    ct = curve_table(reps, paired=False)
    ct = ct[ct["language"] == ct["train_language"]] if "train_language" in ct and col == "task" else ct
    ct = ct.merge(_pruned_share(results), on=[k for k in ("run_id", "model", "task", "criterion", "sparsity") if k in ct])
    if col == "task" and "run_id" in ct:  # runs of one task in other settings (units, recovery): a panel each
        ct["panel"] = [task_label(t) + (f" [{v}]" if v else "") for t, v in
                       zip(ct["task"], (variant_of(r, m, t, lang) for r, m, t, lang in
                                        zip(ct["run_id"], ct["model"], ct["task"], ct["train_language"])))]
        if ct["panel"].nunique() > ct["task"].nunique():
            col = "panel"
    palette = criterion_palette(ct["criterion"])
    g = sns.relplot(data=ct, x="% heads pruned", y="value", hue="criterion", col=col, kind="line", marker="o",
                    palette=palette, errorbar=None, height=height, aspect=1.25, facet_kws={"sharey": False},
                    col_wrap=min(4, ct[col].nunique()))
    for key, ax in g.axes_dict.items():
        sub = ct[ct[col] == key]
        for crit, c in sub.groupby("criterion"):
            c = c.sort_values("% heads pruned")
            ax.fill_between(c["% heads pruned"], c["lo"], c["hi"], color=palette[crit], alpha=0.15, lw=0)
        ax.set_ylabel(metric_label(sub["metric"].iloc[0]) if len(sub) else "dev metric")
        ax.set_title(task_label(key) if col == "task" else str(key))
        if len(sub):
            log_if_ratio(ax, sub["metric"].iloc[0])
    return g.figure


def kv_curves(results: pd.DataFrame, height: float = 3.0):
    """Main metric vs % of the KV cache removed (KV heads whose whole group is pruned), one line per criterion (mean
    over seeds), one panel per model x task x pruning unit; a log scale for perplexities (they explode)."""
    df = main_results(results)
    df = df[df["kv_pruned_share"].notna()].assign(**{"% KV cache removed": lambda d: 100 * d["kv_pruned_share"]})
    df["panel"] = df["model"] + " / " + df["task"] + " [" + df["gqa_unit"].fillna("query") + "]"
    mean = df.groupby(["panel", "criterion", "sparsity"], as_index=False).agg(
        **{"% KV cache removed": ("% KV cache removed", "mean"), "value": ("value", "mean"), "metric": ("metric", "first")})
    g = sns.relplot(data=mean, x="% KV cache removed", y="value", hue="criterion", col="panel", kind="line", marker="o",
                    palette=criterion_palette(mean["criterion"]), errorbar=None, height=height, aspect=1.2,
                    facet_kws={"sharey": False, "sharex": False}, col_wrap=min(3, mean["panel"].nunique()))
    for key, ax in g.axes_dict.items():
        sub = mean[mean["panel"] == key]
        ax.set_ylabel(metric_label(sub["metric"].iloc[0]))
        ax.set_title(key, fontsize=9)
        log_if_ratio(ax, sub["metric"].iloc[0])
    return g.figure


def head_maps(scores: pd.DataFrame, *, title: str = ""):
    """Layer x head heatmap of each criterion's scores (mean over seeds; per-criterion min-max colour scale)."""
    crits = list(dict.fromkeys(scores["criterion"]))
    fig, axes = plt.subplots(1, len(crits), figsize=(3.3 * len(crits), 2.8), squeeze=False)
    for ax, c in zip(axes[0], crits):
        m = scores[scores["criterion"] == c].groupby(["layer", "head"])["score"].mean().unstack("head")
        sns.heatmap(m, ax=ax, cmap="viridis", cbar=True, xticklabels=2, yticklabels=1)
        ax.set_title(c)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def auc(results: pd.DataFrame, reps=None, *, reference: str = "his", table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Area under main metric vs fraction pruned (trapezoid over the swept range, divided by its width).
    With replicates: its 95 % interval and the paired difference to ``reference`` (interval, permutation p,
    significant; ``table``: that auc_table when already computed); else mean and std across seeds."""
    if reps:
        from .intervals import auc_table

        t = auc_table(reps, reference=reference) if table is None else table
        return _reference_cells(t.set_index(_interval_index(t)).round(4), reference)
    df = main_results(results).groupby(RUN_KEYS + ["criterion", "seed", "sparsity"])["value"].mean().reset_index()

    def area(g: pd.DataFrame) -> float:
        g = g.sort_values("sparsity")
        x, y = g["sparsity"].to_numpy(), g["value"].to_numpy()
        return float(np.trapezoid(y, x) / (x[-1] - x[0])) if len(x) > 1 else float(y[0])

    per_seed = df.groupby(RUN_KEYS + ["criterion", "seed"]).apply(area, include_groups=False).rename("auc").reset_index()
    return per_seed.groupby(RUN_KEYS + ["criterion"])["auc"].agg(["mean", "std"]).round(4).rename(
        columns={"mean": "AUC mean", "std": "AUC std"})


def _reference_cells(t: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The comparison columns of the reference's own rows say "reference" (first) and stay blank, never NaN."""
    cols = [c for c in (f"Δ vs {reference}", "Δ lo", "Δ hi", "p", "significant", f"vs {reference}") if c in t]
    if not cols or "criterion" not in t.index.names:
        return t
    t = t.copy()
    t[cols] = t[cols].astype(object)
    ref = t.index.get_level_values("criterion") == reference
    t.loc[ref, cols] = ""
    t.loc[ref, cols[0]] = "reference"
    return t


def prunable_within(results: pd.DataFrame, tol: float | None = None, reps=None) -> pd.DataFrame:
    """Largest % of heads pruned within ``tol`` (one point of the metric by default, on its worse side) of the
    unpruned model. With replicates: the worse end of the paired 95 % interval of (metric - unpruned) must stay
    within ``tol`` up to that sparsity, and no answer (with the reason) when the unpruned model does not beat
    the majority baseline; else the mean curve over seeds (no uncertainty: results stored without per-example
    predictions)."""
    if reps:
        from .intervals import prunable_table

        t = prunable_table(reps, tol=tol)
        if "reason" in t and len(t):  # a reason said once per run, not repeated in every criterion's row
            run = t[[k for k in ("run_id", "model", "task", "language") if k in t]].astype(str).agg("/".join, axis=1)
            t["reason"] = t["reason"].where(~t.assign(_r=run).duplicated(["_r", "reason"]), "(as above)")
            t["reason"] = t["reason"].replace("ok", "")
        return t.set_index(_interval_index(t)).round(4)
    df = main_results(results)
    mean = df.groupby(RUN_KEYS + ["metric", "criterion", "sparsity"])["value"].mean().reset_index()
    rows = []
    for key, g in mean.groupby(RUN_KEYS + ["metric", "criterion"]):
        d = direction(key[len(RUN_KEYS)])
        dense = g.loc[g["sparsity"] == g["sparsity"].min(), "value"].iloc[0]
        ok = g[d.sign * (g["value"] - dense) >= -(d.point if tol is None else tol)]
        rows.append({**dict(zip(RUN_KEYS + ["metric", "criterion"], key)), "better": d.better,
                     "dense": round(dense, 4), "max % pruned within 1 pt": int(round(100 * ok["sparsity"].max())) if len(ok) else 0})
    return pd.DataFrame(rows).set_index(RUN_KEYS + ["criterion"])


def jaccard(masks: pd.DataFrame, sparsity: float, by: str = "criterion") -> pd.DataFrame:
    """Mean Jaccard overlap of pruned-head sets between groups (criteria or languages) at one sparsity,
    averaged over seeds present in both. Masks searched under a FLOPs budget (``ffn_mask`` set) are left out: their
    sparsity is a share of FLOPs, not of heads."""
    df = masks[np.isclose(masks["sparsity"], sparsity)]
    if "ffn_mask" in df:
        df = df[df["ffn_mask"].fillna("") == ""]
    names = list(dict.fromkeys(df[by]))
    sets = {(r[by], r["seed"]): pruned_of_key(r["mask"]) for _, r in df.iterrows()}
    out = pd.DataFrame(np.nan, index=names, columns=names)
    for a in names:
        for b in names:
            vals = []
            for (na, seed), sa in sets.items():
                if na == a and (b, seed) in sets:
                    sb = sets[(b, seed)]
                    u = sa | sb
                    vals.append(len(sa & sb) / len(u) if u else 1.0)
            out.loc[a, b] = np.mean(vals) if vals else np.nan
    return out


def jaccard_map(masks: pd.DataFrame, sparsity: float = 0.5, by: str = "criterion", title: str = ""):
    j = jaccard(masks, sparsity, by)
    fig, ax = plt.subplots(figsize=(1.1 * len(j) + 2, 0.9 * len(j) + 1.5))
    sns.heatmap(j.astype(float), annot=True, fmt=".2f", vmin=0, vmax=1, cmap="mako", ax=ax)
    ax.set_title(title or f"Jaccard overlap of pruned heads at {int(100 * sparsity)}% pruned")
    fig.tight_layout()
    return fig


def _interval_index(t: pd.DataFrame) -> list[str]:
    return [k for k in ("run_id", "model", "task", "language", "criterion") if k in t]


def summary(results: pd.DataFrame, reps=None, *, reference: str = "his") -> pd.DataFrame:
    """Main metric per sparsity (wide): with replicates "mean [95 % interval]" and "*" where the paired
    permutation test says the criterion differs from ``reference`` (p < 0.05); else mean +/- std across seeds."""
    if reps:
        from .intervals import curve_table

        ct = curve_table(reps, reference=reference)
        sig = ct["significant"].fillna(False).astype(bool) if "significant" in ct else False
        ct["cell"] = (ct["value"].map("{:.3f}".format) + " [" + ct["lo"].map("{:.3f}".format) + ", "
                      + ct["hi"].map("{:.3f}".format) + "]" + np.where(sig, "*", ""))
        t = ct.set_index(_interval_index(ct) + [k for k in ("metric", "better") if k in ct] + ["sparsity"])["cell"].unstack("sparsity")
        t.columns = [f"{int(round(100 * c))}%" for c in t.columns]
        return t
    df = main_results(results)
    g = df.groupby(RUN_KEYS + ["criterion", "sparsity"])["value"]
    t = (g.mean().round(3).astype(str) + " ± " + g.std(ddof=1).fillna(0).round(3).astype(str)).unstack("sparsity")
    t.columns = [f"{int(round(100 * c))}%" for c in t.columns]
    return t


COST_COLUMNS = ["evaluations", "training_steps", "score_seconds", "search_seconds", "train_seconds", "eval_seconds"]


def cost(results: pd.DataFrame) -> pd.DataFrame:
    """Cost per method and sparsity: masks evaluated by a search, training steps, seconds (mean over seeds).

    ``score_seconds`` covers scoring and mask search for all sparsities of a (criterion, seed);
    ``eval_seconds`` is the dev evaluation of one sparsity (for SMP it includes fine-tuning the pruned model).
    Criteria searched under a FLOPs budget are listed too (their levels are shares of FLOPs removed)."""
    df = main_results(results, budget=None)
    cols = [c for c in COST_COLUMNS if c in df]
    t = df.groupby(RUN_KEYS + ["criterion", "sparsity"])[cols].mean().round(2).dropna(axis=1, how="all")
    if t.empty:
        return t
    # one row per (run, criterion, cost), a column per sparsity: a wide table instead of a long one
    wide = t.stack().rename_axis(RUN_KEYS + ["criterion", "sparsity", "cost"]).unstack("sparsity")
    wide.columns = [f"{int(round(100 * c))}%" for c in wide.columns]
    return wide


# ------------------------------------------------------------------ cross-lingual views
def language_heatmaps(results: pd.DataFrame, sparsities=(0.0, 0.3, 0.5), title: str = ""):
    """Language x criterion heatmap of the main metric (mean over seeds) at each chosen sparsity."""
    df = main_results(results)
    sps = [s for s in sparsities if np.isclose(df["sparsity"], s).any()]
    fig, axes = plt.subplots(1, len(sps), figsize=(4.2 * len(sps), 0.45 * df["language"].nunique() + 1.8), squeeze=False)
    mats = [df[np.isclose(df["sparsity"], s)].groupby(["language", "criterion"])["value"].mean().unstack("criterion")
            for s in sps]
    lo, hi = min(m.min().min() for m in mats), max(m.max().max() for m in mats)  # one colour scale for all panels
    for ax, s, m in zip(axes[0], sps, mats):
        sns.heatmap(m, annot=True, fmt=".2f", cmap="rocket_r", ax=ax, cbar=False, vmin=lo, vmax=hi)
        ax.set_title(f"{int(round(100 * s))}% heads pruned")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def language_curves(results: pd.DataFrame, height: float = 3.0):
    """Main metric vs % pruned, one line per language, one panel per criterion."""
    return curves(results, col="criterion", hue="language", height=height)


def transfer_effect(results: pd.DataFrame, reps=None) -> pd.DataFrame:
    """Change of the zero-shot main metric vs the unpruned model, per language, criterion and sparsity
    (positive = pruning helped transfer when higher is better; negative when lower is, e.g. perplexity). With replicates: "Δ [95 % interval]", ``*`` where the paired interval
    excludes 0; else the mean over seeds."""
    if reps:
        from .intervals import delta_table
        from .languages import scored_on

        d = delta_table(reps)
        d["cell"] = (d["delta"].map("{:+.3f}".format) + " [" + d["lo"].map("{:+.3f}".format) + ", "
                     + d["hi"].map("{:+.3f}".format) + "]" + np.where(d["significant"], "*", ""))
        d["heads scored on"] = [scored_on(k) for k in d.to_dict("records")]  # runs scoring on other languages: rows
        keys = [k for k in ("model", "task", "train_language", "language", "heads scored on", "criterion") if k in d]
        t = d.set_index(keys + ["sparsity"])["cell"].unstack("sparsity")
        t.columns = [f"{int(round(100 * c))}%" for c in t.columns]
        return t
    df = main_results(results)
    keys = ["model", "task", "train_language", "language", "criterion"] if "train_language" in df else RUN_KEYS + ["criterion"]
    if "run_id" in df:  # runs of one model x task that scored heads on different languages stay apart
        keys = keys[:-1] + ["run_id", keys[-1]]
    mean = df.groupby(keys + ["sparsity"])["value"].mean()
    dense = mean.groupby(level=keys).transform(lambda s: s.xs(s.index.get_level_values("sparsity").min(), level="sparsity").iloc[0])
    delta = (mean - dense).round(4).unstack("sparsity")
    delta.columns = [f"{int(round(100 * c))}%" for c in delta.columns]
    return delta


def pareto_front(x: np.ndarray, y: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Indices of the non-dominated points when lower ``x`` (cost) and higher ``y`` (metric; lower when
    ``higher_is_better`` is False, e.g. perplexity) are better, ordered by cost: a point is on the front when
    every cheaper point scores worse."""
    x, y = np.asarray(x, dtype=float), (1 if higher_is_better else -1) * np.asarray(y, dtype=float)
    order = np.lexsort((-y, x))  # by cost, best metric first among equal costs
    front, best = [], -np.inf
    for i in order:
        if y[i] > best:
            front.append(i)
            best = y[i]
    return np.array(front, dtype=int)


def _own_language_intervals(reps, with_model: bool = False) -> pd.DataFrame | None:
    """(task, criterion, sparsity) -> lo, hi of the 95 % interval, from runs evaluated on their own language
    (``with_model``: the task column reads "model / task", as the Pareto view's panels when several models ran)."""
    if not reps:
        return None
    from .intervals import curve_table

    ct = curve_table([r for r in reps if r.keys.get("train_language", r.keys.get("language")) == r.keys.get("language")],
                     paired=False)
    if with_model and len(ct):
        ct = ct.assign(task=ct["model"] + " / " + ct["task"])
    return ct.groupby(["task", "criterion", "sparsity"])[["lo", "hi"]].mean().reset_index() if len(ct) else None


def pareto(results: pd.DataFrame, run: pd.DataFrame, x: str = "seconds", reps=None):
    """Main metric vs cost of the physically pruned models, one panel per task, mean over seeds, with the
    Pareto front over all criteria and sparsities (black steps). ``x="seconds"``: measured dev-subset
    evaluation time (s per 100 examples; cells running side by side share the CPU, so it is noisy);
    ``x="gflops"``: encoder GFLOPs per 128-token sequence (the FLOP count, exact). Search/learned
    methods whose evaluation time includes training are left out of the time view. With replicates each point
    carries its 95 % interval (vertical bar, the criterion's colour)."""
    df = main_results(results, budget=None)  # every criterion: cost is the common axis here
    df = df[(df["protocol"] == "prune-after-finetune")] if "protocol" in df else df
    if "train_language" in df:  # zero-shot runs: the cost of a model, at its quality on its own language (the
        df = df[df["language"] == df["train_language"]]  # language its intervals below are computed on)
    if x == "gflops":
        col = next((c for c in df if c.startswith("encoder_gflops_")), None)
        if col is None:
            raise ValueError("these results carry no encoder_gflops_* column (made by an older hpbench); use x='seconds'")
        df = df.rename(columns={col: "t"})
        label = f"GFLOPs / {col.rsplit('_', 1)[1]}-token sequence"
    elif x == "seconds":
        if "training_steps" in df:
            df = df[df["training_steps"].isna()]
        dense_s = run.groupby(["model", "task"])["dense_seconds"].mean() if "dense_seconds" in run else None
        n_dev = run.groupby(["model", "task"])["n_dev"].first()
        df = df.copy()
        if dense_s is not None:
            key = list(zip(df["model"], df["task"]))
            df.loc[df["sparsity"] == 0, "eval_seconds"] = [dense_s.get(k) for k, s0 in zip(key, df["sparsity"] == 0) if s0]
        df["t"] = 100 * df["eval_seconds"] / [n_dev.get(k, np.nan) for k in zip(df["model"], df["task"])]
        label = "measured s / 100 dev examples"
    else:
        raise ValueError(f"unknown x {x!r}; allowed: 'seconds', 'gflops'")
    several = df["model"].nunique() > 1  # one panel per model x task: two models' costs are no common front
    if several:
        df = df.assign(task=df["model"] + " / " + df["task"])
    g = df.groupby(["task", "criterion", "sparsity"]).agg(metric=("value", "mean"), t=("t", "mean"),
                                                         name=("metric", "first")).reset_index()
    grid = sns.relplot(data=g, x="t", y="metric", hue="criterion", col="task", kind="line", marker="o", sort=False,
                       palette=criterion_palette(g["criterion"]),
                       height=3.0, aspect=1.2, facet_kws={"sharex": False, "sharey": False},
                       col_wrap=min(4, g["task"].nunique()))
    bars = _own_language_intervals(reps, with_model=several)
    for task, ax in grid.axes_dict.items():
        sub = g[(g["task"] == task) & g["t"].notna()].reset_index(drop=True)
        front = sub.iloc[pareto_front(sub["t"], sub["metric"], direction(sub["name"].iloc[0]).higher_is_better)] if len(sub) else sub
        ax.step(front["t"], front["metric"], where="post", color="black", lw=1.2, ls="--", label="Pareto front")
        if bars is not None:
            e = sub.merge(bars, on=["task", "criterion", "sparsity"])
            for crit, ec in e.groupby("criterion"):
                # (runs with unequal seed counts weigh a point and its interval slightly differently: never < 0)
                err = [np.maximum(ec["metric"] - ec["lo"], 0), np.maximum(ec["hi"] - ec["metric"], 0)]
                ax.errorbar(ec["t"], ec["metric"], yerr=err, fmt="none", ecolor=criterion_colour(crit), alpha=0.5, lw=1)
    grid.set_axis_labels(label, "main metric")
    for task, ax in grid.axes_dict.items():
        ax.set_title(task if several else task_label(task))
        names = g.loc[g["task"] == task, "name"]
        if len(names):
            ax.set_ylabel(metric_label(names.iloc[0], ""))
            log_if_ratio(ax, names.iloc[0])
    return grid.figure
