"""The language axis: per evaluation language the unpruned model, every criterion against HIS and the transfer effect
of pruning; Ma et al.'s held-out verdict per language; and whether heads chosen on each language agree with
English's (rank correlation with its interval, overlap of the pruned sets)."""
from __future__ import annotations

import pandas as pd

from .. import figures
from ..escape import esc
from ..languages import language_table, rank_agreement, zero_shot_keys
from .base import Section, register


def readable(g: pd.DataFrame) -> pd.DataFrame:
    """The language table of one model x task as a page shows it: the unpruned model as "value [lo, hi]" with its
    half-width in points, the comparisons as they are; one index level per language (and scoring language when the
    runs scored heads on more than one)."""
    out = g.assign(**{"unpruned [95 %]": [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in zip(g["unpruned"], g["lo"], g["hi"])],
                      "± (points)": (100 * g["± (half-width)"]).round(1)})
    drop = ["model", "task", "train_language", "metric", "unpruned", "lo", "hi", "± (half-width)", "baseline"]
    out = out.drop(columns=[c for c in drop if c in out])
    out = out[["n", "unpruned [95 %]", "± (points)", *[c for c in out if c not in ("n", "unpruned [95 %]", "± (points)")]]]
    out = out.set_index(["language", "heads scored on"])
    return out.droplevel(1) if out.index.get_level_values(1).nunique() == 1 else out


@register
class Languages(Section):
    key, pages, order = "languages", ("comparison",), 14
    title = "Languages: zero-shot transfer under pruning"
    intro = ("Models fine-tuned and scored on one language, evaluated on others. Per evaluation language: the unpruned "
             "model with its 95 % interval (bootstrap over the language's dev sentences and seeds) and the no-skill "
             "baseline; **Δ AUC vs his**: each criterion's area under metric vs % pruned minus HIS's, paired interval "
             "and permutation p (same examples); **his 30 % vs 0 %** (and the run's other levels among 20, 30 and "
             "50 %): the transfer effect of pruning that share of heads, paired interval (+ = pruning helped, in the "
             "metric's better direction).")

    def applies(self, ctx):
        return ctx.has_results and bool(zero_shot_keys(ctx.reps))

    def render(self, ctx):
        t = language_table(ctx.reps)
        for (m, task, tl), g in t.groupby(["model", "task", "train_language"]):
            n = f"{int(g['n'].min())}" + (f"-{int(g['n'].max())}" if g["n"].max() != g["n"].min() else "")
            base = "" if g["baseline"].isna().all() else f"; no-skill baseline {g['baseline'].dropna().iloc[0]:.3f}"
            yield (f"**{esc(m)} / {esc(task)}**, trained on **{esc(tl)}** ({esc(g['metric'].iloc[0])}{base}): "
                   f"{len(g)} languages, {n} dev examples each; the widest unpruned interval is "
                   f"±{100 * g['± (half-width)'].max():.1f} points.")
            yield readable(g)
        scores = ctx.tables.get("scores", pd.DataFrame())
        agree = rank_agreement(scores)
        if len(agree):
            for (m, task), sc in scores[scores["criterion"] == "his"].groupby(["model", "task"]):
                if sc["score_language"].nunique() > 1:
                    yield figures.head_maps(sc.assign(criterion="scored on " + sc["score_language"]),
                                            title=f"{m} / {task}: HIS head scores by the language they were scored on")
            yield ("**Heads chosen on each language vs on English** (runs with `score_language`): Spearman correlation "
                   "of the head scores, 95 % interval from resampling heads, and the overlap of the heads each would "
                   "prune at 50 %.")
            yield agree.round(3).set_index(["model", "task", "criterion", "language"])
        claims = ctx.derived("claims")
        if claims is not None and len(claims) and "claim" in claims:
            ma = claims[claims["claim"].astype(str).str.startswith("ma2021")]
            if len(ma):
                yield ("**Ma et al. 2021, per language** (best level chosen on half of the dev sentences, its gain over "
                       "the unpruned model measured on the other half):")
                yield ma[["task", "hpbench measurement [95 % interval]", "verdict"]].set_index("task")
