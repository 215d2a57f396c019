"""Where each criterion prunes: the share of each layer's heads it removes at 50 % pruned (mean over seeds).

Two criteria with the same AUC can prune very different layers (HIS tends to empty the last layers of a fine-tuned
encoder, random spreads evenly); this view shows it as one heatmap per run, criterion x layer, without reading the
head-score maps one by one. Masks searched under a FLOPs budget are left out (their level is a share of FLOPs).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...models.masks import mask_from_key
from .base import Section, per_run, register

SPARSITY = 0.5


def pruned_per_layer(masks: pd.DataFrame, layers: int, sparsity: float = SPARSITY) -> pd.DataFrame:
    """Criterion x layer: the share of the layer's heads pruned at ``sparsity``, mean over seeds. ``masks``: one run's
    masks table (``mask`` keys of ``layers`` x H heads)."""
    m = masks[np.isclose(masks["sparsity"], sparsity)]
    if "ffn_mask" in m:
        m = m[m["ffn_mask"].fillna("") == ""]
    rows = {}
    for crit, g in m.groupby("criterion", sort=False):
        shares = [1.0 - mask_from_key(k, (layers, len(k) // layers)).float().mean(1).numpy() for k in g["mask"]]
        rows[crit] = np.mean(shares, axis=0)
    return pd.DataFrame(rows, index=pd.RangeIndex(layers, name="layer")).T


def _layers(ctx, masks: pd.DataFrame) -> int:
    scores = ctx.tables["scores"]
    sel = scores
    for k in ("model", "task", "language"):
        if k in masks and k in scores:
            sel = sel[sel[k] == masks[k].iloc[0]]
    return int(sel["layer"].max()) + 1


@register
class LayerProfile(Section):
    key, pages, order = "layer-profile", ("comparison", "run"), 97
    title = "Where each criterion prunes: share of each layer's heads removed at 50 %"
    intro = ("Rows: criteria; columns: layers (0 = closest to the input); a cell is the share of that layer's heads the "
             "criterion removes at 50 % pruned, mean over seeds. Criteria with similar AUCs can empty different layers.")

    def applies(self, ctx):
        m, s = ctx.tables.get("masks"), ctx.tables.get("scores")
        return (m is not None and len(m) > 0 and s is not None and len(s) > 0
                and bool(np.isclose(m["sparsity"], SPARSITY).any()))

    def render(self, ctx):
        import matplotlib.pyplot as plt
        import seaborn as sns

        for title, m in per_run(ctx.tables["masks"]):
            table = pruned_per_layer(m, _layers(ctx, m))
            if table.empty:
                continue
            fig, ax = plt.subplots(figsize=(1.0 + 0.55 * table.shape[1], 0.9 + 0.42 * len(table)))
            sns.heatmap(table, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="rocket_r", ax=ax, cbar=False)
            ax.set_title(f"{title}: share of heads pruned per layer at 50 %" if title else "share pruned per layer at 50 %")
            ax.set_xlabel("layer")
            ax.set_ylabel("")
            fig.tight_layout()
            yield fig
