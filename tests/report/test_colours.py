"""One colour per criterion in every figure, whatever other criteria a figure shows."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import pandas as pd  # noqa: E402

from hpbench.report.figures import CRITERION_COLOURS, criterion_colour, curves  # noqa: E402


def _results(criteria):
    rows = []
    for c in criteria:
        for s in (0.0, 0.5):
            for seed in (0, 1):
                rows.append({"model": "m", "task": "sst2", "language": "en", "criterion": c, "seed": seed, "sparsity": s,
                             "n_pruned": int(s * 12), "heads_total": 12, "metric": "accuracy", "value": 0.8 - s / 10,
                             "main": True, "protocol": "prune-after-finetune"})
    return pd.DataFrame(rows)


def _legend_colours(fig) -> dict[str, str]:
    leg = fig.legends[0]
    return {t.get_text(): mcolors.to_hex(h.get_color()) for t, h in zip(leg.get_texts(), leg.legend_handles)
            if hasattr(h, "get_color")}


def test_a_criterion_keeps_its_colour_across_figures():
    a = _legend_colours(curves(_results(["his", "random", "my_plugin:power=2"])))
    b = _legend_colours(curves(_results(["my_plugin:power=2", "entropy", "his"])))  # other set, other order
    assert a["his"] == b["his"] == CRITERION_COLOURS["his"]
    assert a["my_plugin:power=2"] == b["my_plugin:power=2"] == criterion_colour("my_plugin:power=2")
    assert a["random"] == CRITERION_COLOURS["random"] and b["entropy"] == CRITERION_COLOURS["entropy"]
    assert len(set(CRITERION_COLOURS.values())) == len(CRITERION_COLOURS)  # built-ins never share a colour


def test_interval_curves_and_bands_use_the_criterion_colours():
    """The curves drawn with 95 % interval bands: each line and its band in the criterion's colour."""
    import json

    import numpy as np

    from hpbench.report.intervals import replicates

    res = _results(["his", "smp_distance", "my_plugin:power=2"])
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    preds = pd.DataFrame([{"criterion": r.criterion, "seed": r.seed, "score_language": "en", "sparsity": r.sparsity,
                           "language": "en", "y_true": json.dumps(y.tolist()),
                           "y_pred": json.dumps(np.where(rng.random(40) < 0.8, y, 1 - y).tolist()), "model": "m",
                           "task": "sst2", "train_language": "en"} for r in res.itertuples()])
    fig = curves(res, replicates({"results": res, "predictions": preds}, n_boot=50))
    legend = _legend_colours(fig)
    assert legend["his"] == CRITERION_COLOURS["his"] and legend["smp_distance"] == CRITERION_COLOURS["smp_distance"]
    bands = {mcolors.to_hex(p.get_facecolor()[0][:3]) for p in fig.axes[0].collections}
    assert bands == {criterion_colour(c) for c in ("his", "smp_distance", "my_plugin:power=2")}
    assert not set(CRITERION_COLOURS.values()) & set(__import__("hpbench.report.figures", fromlist=["_EXTRA"])._EXTRA)
