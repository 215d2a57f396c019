"""Findings first: one picture (each criterion's AUC difference to HIS with its paired 95 % interval, one row per
run, one colour per criterion), a compact table of the same numbers, then the findings in words.

The forest plot reads every difference in the metric's better direction (for perplexity the sign is flipped), so
right of zero is always better than HIS; a filled marker is a significant difference (paired permutation p < 0.05),
a hollow one is not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..figures import criterion_colour
from ..findings import REFERENCE, findings
from ..text import variant_of
from .base import Section, register

DELTA = f"Δ vs {REFERENCE}"


def _run_label(r: pd.Series) -> str:
    setting = variant_of(r.get("run_id", ""), r["model"], r["task"], r.get("train_language") or r["language"], r["language"])
    return f"{r['model']} / {r['task']} / {r['language']}" + (f" [{setting}]" if setting else "")


RATIO = f"ratio vs {REFERENCE}"


def forest_rows(auc: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, criterion) with a difference to HIS: ``run``, ``criterion``, ``better_delta`` (> 0 is better
    than HIS), its interval ``lo``/``hi`` (same orientation), ``significant`` and ``scale``: ``difference`` (AUC − AUC(HIS))
    or, for metrics read in ratios (perplexity: ``ratio vs his`` in the table), ``ratio`` = AUC(HIS) / AUC when lower
    is better (AUC / AUC(HIS) when higher is), so > 1 is better than HIS."""
    cols = ["run", "criterion", "better_delta", "lo", "hi", "significant", "scale"]
    if auc is None or auc.empty or DELTA not in auc:
        return pd.DataFrame(columns=cols)
    t = auc[auc[DELTA].notna()].copy()
    lower = (t["better"] == "lower").to_numpy()
    ratio = t[RATIO].notna().to_numpy() if RATIO in t else np.zeros(len(t), bool)
    sign = np.where(lower, -1.0, 1.0)
    d, lo, hi = sign * t[DELTA].to_numpy(float), sign * t["Δ lo"].to_numpy(float), sign * t["Δ hi"].to_numpy(float)
    if ratio.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            rv, rl, rh = (t[k].to_numpy(float) for k in (RATIO, "ratio lo", "ratio hi"))
            rv, rl, rh = (np.where(lower, 1.0 / v, v) for v in (rv, rl, rh))
        d, lo, hi = np.where(ratio, rv, d), np.where(ratio, rl, lo), np.where(ratio, rh, hi)
    return pd.DataFrame({"run": [_run_label(r) for _, r in t.iterrows()], "criterion": t["criterion"].values,
                         "better_delta": d, "lo": np.minimum(lo, hi), "hi": np.maximum(lo, hi),
                         "significant": t["significant"].astype(bool).values,
                         "scale": np.where(ratio, "ratio", "difference")})


def _forest_panel(ax, rows: pd.DataFrame, crits: list[str], scale: str) -> None:
    runs = list(dict.fromkeys(rows["run"]))
    step = 0.8 / max(len(crits), 1)
    for j, c in enumerate(crits):
        g = rows[rows["criterion"] == c]
        if g.empty:
            continue
        y = np.array([runs.index(r) for r in g["run"]]) + (j - (len(crits) - 1) / 2) * step
        colour = criterion_colour(c)
        ax.errorbar(g["better_delta"], y, xerr=[g["better_delta"] - g["lo"], g["hi"] - g["better_delta"]], fmt="none",
                    ecolor=colour, elinewidth=1.6, capsize=2)
        sig = g["significant"].to_numpy()
        ax.scatter(g["better_delta"][sig], y[sig], color=colour, s=28, zorder=3, label=c)
        ax.scatter(g["better_delta"][~sig], y[~sig], facecolor="white", edgecolor=colour, s=28, zorder=3,
                   label=None if sig.any() else c)
    ax.set_yticks(range(len(runs)), runs)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    if scale == "ratio":  # perplexities explode: ratios on a log axis, 1 = as good as HIS
        ax.axvline(1, color="black", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(f"AUC ratio to {REFERENCE}, in the metric's better direction (log; > 1: better than {REFERENCE})")
    else:
        ax.axvline(0, color="black", lw=1)
        ax.set_xlabel(f"AUC − AUC({REFERENCE}), in the metric's better direction (> 0: better than {REFERENCE})")


def forest_plot(auc: pd.DataFrame):
    """The findings' picture (see the module docstring): one panel of AUC differences and, for runs on a metric read
    in ratios (perplexity), one of AUC ratios on a log axis; None when no criterion has a difference to HIS."""
    import matplotlib.pyplot as plt

    rows = forest_rows(auc)
    if rows.empty:
        return None
    crits = list(dict.fromkeys(rows["criterion"]))
    panels = [(sc, rows[rows["scale"] == sc]) for sc in ("difference", "ratio") if (rows["scale"] == sc).any()]
    heights = [0.6 + 0.32 * p["run"].nunique() * max(len(crits), 2) for _, p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (sc, p) in zip(axes[:, 0], panels):
        _forest_panel(ax, p, crits, sc)
    axes[0, 0].set_title(f"Each criterion against {REFERENCE.upper()}: paired 95 % intervals (filled: p < 0.05)")
    handles, labels = {}, []
    for ax in axes[:, 0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), title="criterion", loc="center left", bbox_to_anchor=(0.99, 0.5),
               frameon=False)
    fig.tight_layout()
    return fig


def findings_table(auc: pd.DataFrame, prunable: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the reference's AUC, each other criterion's Δ vs HIS ``+0.012 [−0.003, +0.027]`` (perplexity: the
    AUC ratio ``×1.06 [0.98, 1.15]``) with ``*`` when significant, and the largest certified prunable share with the criterion that reaches it."""
    if auc is None or auc.empty:
        return pd.DataFrame()
    keys = [k for k in ("run_id", "model", "task", "language") if k in auc]
    out = []
    for _, g in auc.groupby(keys, sort=False):
        first = g.iloc[0]
        row = {"run": _run_label(first), "metric": f"{first['metric']} ({'↑' if first['better'] != 'lower' else '↓'})"}
        ref = g[g["criterion"] == REFERENCE]
        if len(ref):
            r = ref.iloc[0]
            row[f"AUC {REFERENCE}"] = f"{r['AUC']:.3f} [{r['AUC lo']:.3f}, {r['AUC hi']:.3f}]"
        for _, r in g[g["criterion"] != REFERENCE].iterrows():
            star = "*" if r.get("significant") else ""
            if RATIO in r and pd.notna(r[RATIO]):  # perplexity: AUC / AUC(his), the ratio the picture draws
                row[f"Δ {r['criterion']}"] = f"×{r[RATIO]:.3g}{star} [{r['ratio lo']:.3g}, {r['ratio hi']:.3g}]"
            elif DELTA in r and pd.notna(r[DELTA]):
                row[f"Δ {r['criterion']}"] = f"{r[DELTA]:+.3f}{star} [{r['Δ lo']:+.3f}, {r['Δ hi']:+.3f}]"
        sel = pd.Series(True, index=prunable.index)
        for k in keys:
            if k in prunable:
                sel &= prunable[k] == first[k]
        ok = prunable[sel & prunable["prunable %"].notna()] if len(prunable) else prunable
        if len(ok):
            top = ok.sort_values("prunable %", ascending=False, kind="stable").iloc[0]
            ties = ok[ok["prunable %"] == top["prunable %"]]["criterion"]
            within = top.get("within") if isinstance(top.get("within"), str) else "1 point"
            row["certified prunable"] = f"{int(top['prunable %'])} % ({', '.join(ties)}; within {within})"
        out.append(row)
    return pd.DataFrame(out).set_index("run").fillna("")


@register
class Findings(Section):
    key, pages, order = "findings", ("comparison",), 10
    title = "Findings"
    intro = (f"The picture: each criterion's AUC difference to {REFERENCE.upper()} with its paired 95 % interval, one row "
             "per run (right of 0 = better than HIS in the metric's direction; filled = significant). The table: the same "
             "differences (`*` = paired permutation p < 0.05) and the largest share of heads certified prunable within 1 "
             "point (perplexity: within +5 %; perplexities are compared as AUC ratios on a log axis). Then the findings "
             "in words.")

    def applies(self, ctx):
        return bool(ctx.reps)

    def render(self, ctx):
        fig = forest_plot(ctx.auc)
        if fig is not None:
            yield fig
        table = findings_table(ctx.auc, ctx.prunable)
        if len(table):
            yield table  # pandas escapes cell and index text
        yield findings(ctx.reps, ctx.derived("claims"), models=ctx.models(), auc=ctx.auc, equal_flops=ctx.equal_flops,
                       heading=False, claim_links=False, prunable=ctx.prunable)
