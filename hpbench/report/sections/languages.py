"""The language axis: per evaluation language the unpruned model, every criterion against HIS and the transfer effect
of pruning; Ma et al.'s held-out verdict per language; and whether heads chosen on each language agree with
English's (rank correlation with its interval, overlap of the pruned sets)."""
from __future__ import annotations

import pandas as pd

from ..escape import esc
from ..languages import language_table, rank_agreement, zero_shot_keys
from .base import Section, register


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
            worst = g["± (half-width)"].max()
            yield (f"**{esc(m)} / {esc(task)}**, trained on **{esc(tl)}**: {len(g)} languages, {int(g['n'].min())}-"
                   f"{int(g['n'].max())} dev sentences each; the widest unpruned interval is ±{100 * worst:.1f} points.")
            shown = g.drop(columns=["model", "task", "train_language"]).set_index(["language", "heads scored on"])
            if shown.index.get_level_values(1).nunique() == 1:  # every run scored on the training language
                shown = shown.droplevel(1)
            yield shown.round(3)
        agree = rank_agreement(ctx.tables.get("scores", pd.DataFrame()))
        if len(agree):
            yield ("**Heads chosen on each language vs on English** (runs with `score_language`): Spearman correlation "
                   "of the head scores, 95 % interval from resampling heads, and the overlap of the heads each would "
                   "prune at 50 %.")
            yield agree.round(3)
        claims = ctx.derived("claims")
        if claims is not None and len(claims) and "claim" in claims:
            ma = claims[claims["claim"].astype(str).str.startswith("ma2021")]
            if len(ma):
                yield ("**Ma et al. 2021, per language** (best level chosen on half of the dev sentences, its gain over "
                       "the unpruned model measured on the other half):")
                yield ma[[c for c in ("task", "measurement", "verdict") if c in ma]].reset_index(drop=True)
