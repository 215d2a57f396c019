"""Does pruning heads help zero-shot transfer? (Ma et al. 2021), measured so that choosing the level cannot make
a "holds" out of noise.

Per zero-shot run x eval language: the dev examples are split in two halves by a fixed permutation. On the
*selection* half the best pruned level of the criterion (mean over seeds) is chosen; on the *report* half the
gain of that level over the unpruned model is measured with its paired 95 % interval (bootstrap over the report
half's examples and over seeds, the same resamples for both levels). Picking the best of many noisy levels and
measuring it on the same examples would favour "holds"; here the measurement never saw the choice.
"""
from __future__ import annotations

import numpy as np

from ..evaluation.resampling import bootstrap_counts, resample
from ..report.intervals import LEVEL, N_BOOT, Replicates, percentile_interval
from ..report.languages import scored_on
from .measures import MEASURES, Evidence, Finding, _beats_baseline, _match, verdict

SPLIT_SEED = 20210  # the selection / report split of each language's dev examples (fixed: reports are comparable)


def halves(n: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(selection, report) example indices: a seeded permutation of ``range(n)`` cut in two (the first half
    one shorter when ``n`` is odd)."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[: n // 2]), np.sort(perm[n // 2:])


def _weights(n: int, idx: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """[1 + n_boot, n]: the indicator of ``idx``, then ``n_boot`` bootstrap count vectors over ``idx`` only."""
    w = np.zeros((1 + n_boot, n))
    w[0, idx] = 1.0
    w[1:, idx] = bootstrap_counts(len(idx), n_boot, seed)
    return w


def _pred(r: Replicates, crit: str, s: float, sd: int):
    """The predictions of ``crit`` at ``s`` for seed ``sd``; at 0 % any criterion's (the same unpruned model)."""
    if (crit, s, sd) in r.preds:
        return r.preds[(crit, s, sd)]
    return next((p for (c, s2, sd2), p in r.preds.items() if s == 0 and s2 == 0 and sd2 == sd), None)


def heldout_gain(r: Replicates, crit: str, *, n_boot: int = N_BOOT, seed: int = 0) -> dict | None:
    """The best pruned level of ``crit`` chosen on the selection half and its gain over 0 % on the report half:
    {sparsity, gain, lo, hi, n_report} (gain in the metric's better direction: + = pruning helped), or None when
    ``crit`` has no pruned level with every seed's predictions."""
    seeds = [sd for sd in r.seeds if _pred(r, crit, 0.0, sd) is not None]
    levels = [s for s in r.sparsities if s > 0 and seeds and all((crit, s, sd) in r.preds for sd in seeds)]
    if not levels:
        return None
    sel, rep = halves(len(r.y))
    sign = r.direction.sign
    w_sel = _weights(len(r.y), sel, 0, seed)  # the selection half's indicator only
    on_sel = {s: np.mean([resample(r.metric, r.y, [r.preds[(crit, s, sd)]], w_sel, r.label_names)[0, 0] for sd in seeds])
              for s in levels}
    best = max(levels, key=lambda s: sign * on_sel[s])
    W = _weights(len(r.y), rep, n_boot, seed)
    d = np.stack([resample(r.metric, r.y, [_pred(r, crit, best, sd), _pred(r, crit, 0.0, sd)], W, r.label_names)
                  for sd in seeds])  # [S, 2, 1 + B]
    diff = sign * (d[:, 0] - d[:, 1])  # [S, 1 + B]
    draws = np.random.default_rng(seed + 1).integers(0, len(seeds), size=(n_boot, len(seeds)))
    reps = np.take_along_axis(diff[:, 1:].T, draws, axis=1).mean(1)  # hierarchical: seeds drawn, then examples
    lo, hi = percentile_interval(reps, LEVEL)
    return {"sparsity": best, "gain": float(diff[:, 0].mean()), "lo": float(lo), "hi": float(hi), "n_report": len(rep)}


@MEASURES.register("transfer_heldout")
def transfer_heldout(ev: Evidence, criterion: str = "his") -> list[Finding]:
    """One finding per zero-shot run x eval language: :func:`heldout_gain`; holds when its interval lies above 0,
    does not hold when below; not comparable when the unpruned model does not beat the language's baseline."""
    zs = [r for r in ev.reps if r.keys.get("train_language") not in (None, r.keys.get("language"))]
    if not zs:
        return [Finding("(any)", "no zero-shot runs in these results (make report-multilingual)", "not comparable")]
    out = []
    for r in zs:
        crit = _match(r, criterion)
        scored = scored_on(r.keys)
        where = f"{r.keys['task']} / {r.keys['language']}" + (f" (heads scored on {scored})" if scored != r.keys["train_language"] else "")
        if crit is None:
            out.append(Finding(where, f"{criterion} not run", "not comparable", keys=r.keys))
            continue
        ok, why = _beats_baseline(r, r.criteria.index(crit), 0)
        g = heldout_gain(r, crit) if ok else None
        if g is None:
            out.append(Finding(where, why or f"{crit}: no pruned level with every seed", "not comparable", keys=r.keys))
            continue
        out.append(Finding(where, f"{crit}: best level {100 * g['sparsity']:.0f} % (chosen on the other half), gain "
                                  f"{g['gain']:+.3f} [{g['lo']:+.3f}, {g['hi']:+.3f}] on {g['n_report']} held-out examples",
                           verdict(g["lo"], g["hi"], 0.0), g["gain"], g["lo"], g["hi"], r.keys))
    return out
