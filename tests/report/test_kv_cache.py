"""The KV-cache view of decoder runs: the share of KV heads a plan frees (counted by hand) and the section that draws
the metric against it, with each criterion's freed share in its table cells."""
import matplotlib
import pandas as pd
import torch

matplotlib.use("Agg")

from hpbench.report.sections.context import ReportContext  # noqa: E402
from hpbench.report.sections.kv_cache import KVCache  # noqa: E402
from hpbench.run.stages import kv_pruned_share  # noqa: E402


def test_a_kv_head_is_freed_only_when_its_whole_group_is_pruned():
    keep = torch.ones(2, 6, dtype=torch.bool)  # 2 layers x 6 query heads in 3 KV groups of 2
    keep[0, [0, 1]] = False  # layer 0: group 0 emptied
    keep[0, 2] = False  # group 1 half pruned: its KV head stays
    keep[1, [3, 5]] = False  # one head of groups 1 and 2: no KV head freed
    assert kv_pruned_share(keep, 3) == 1 / 6
    keep[1, [2, 4]] = False  # layer 1: groups 1 and 2 emptied too
    assert kv_pruned_share(keep, 3) == 3 / 6
    assert kv_pruned_share(keep, 6) == 7 / 12  # without grouping every pruned query head frees its own KV head


def _results(per_kv: int | None = 2) -> pd.DataFrame:
    rows = []
    for unit, kv in (("query", 0.0), ("group", 0.5)):
        for crit, ppl in (("his", 20.0), ("random", 80.0)):
            for seed in (0, 1):
                for s in (0.0, 0.5):
                    rows.append({"run_id": f"m-ewt-{unit}", "model": "m", "task": "ewt_ppl", "language": "en",
                                 "train_language": "en", "criterion": crit, "seed": seed, "sparsity": s, "main": True,
                                 "metric": "word_perplexity", "value": 10.0 if s == 0 else ppl + seed,
                                 "n_pruned": int(8 * s), "heads_total": 8, "pruned_share": s,
                                 "kv_pruned_share": 0.0 if s == 0 else kv, "gqa_unit": unit})
    df = pd.DataFrame(rows)
    return df if per_kv is None else df.assign(query_heads_per_kv=per_kv)


def _encoder() -> pd.DataFrame:
    """An encoder run (no grouping: each query head its own K and V, so the KV share is the head share)."""
    return pd.DataFrame([{"run_id": "enc-sst2", "model": "enc", "task": "sst2", "language": "en", "train_language": "en",
                          "criterion": c, "seed": 0, "sparsity": s, "main": True, "metric": "accuracy", "value": 0.9 - s / 4,
                          "n_pruned": int(8 * s), "heads_total": 8, "pruned_share": s, "kv_pruned_share": s,
                          "gqa_unit": "query", "query_heads_per_kv": 1} for c in ("his", "random") for s in (0.0, 0.5)])


def test_the_section_draws_decoder_runs_and_tabulates_each_plans_freed_share():
    ctx = ReportContext({"results": _results(), "masks": pd.DataFrame(), "run": pd.DataFrame(),
                         "predictions": pd.DataFrame(), "scores": pd.DataFrame()})
    sec = KVCache()
    assert sec.applies(ctx)
    fig, note, table = list(sec.render(ctx))
    assert fig.axes and fig.axes[0].get_yscale() == "log"  # perplexity explodes: log scale
    assert table.loc[("m", "ewt_ppl", "group", 0.5), "random"] == "80.5 (50 % KV)"  # mean over seeds 0 and 1
    assert table.loc[("m", "ewt_ppl", "query", 0.5), "his"] == "20.5 (0 % KV)"
    no_kv = _results().assign(kv_pruned_share=0.0)
    assert not KVCache().applies(ReportContext({"results": no_kv}))


def test_encoders_and_ungrouped_models_stay_out_of_the_kv_view():
    """An encoder's 'KV share' equals its head share (nothing to learn; the base144 report drew mpnet-base here):
    alone it gets no section; beside a decoder only the decoder's runs are drawn and tabulated. Results written
    before ``query_heads_per_kv`` existed are judged by whether the KV share ever differs from the head share."""
    enc = _encoder()
    assert not KVCache().applies(ReportContext({"results": enc}))
    assert not KVCache().applies(ReportContext({"results": enc.drop(columns="query_heads_per_kv")}))
    both = pd.concat([_results(), enc], ignore_index=True)
    sec, ctx = KVCache(), ReportContext({"results": both})
    assert sec.applies(ctx)
    fig, _, table = list(sec.render(ctx))
    assert sorted(ax.get_title() for ax in fig.axes) == ["m / ewt_ppl [group]", "m / ewt_ppl [query]"]
    assert set(table.index.get_level_values("model")) == {"m"}
    old = pd.concat([_results(None), enc.drop(columns="query_heads_per_kv")], ignore_index=True)
    assert KVCache().applies(ReportContext({"results": old}))
    assert set(list(KVCache().render(ReportContext({"results": old})))[2].index.get_level_values("model")) == {"m"}
    mixed = pd.concat([_results(None), enc], ignore_index=True)  # an old decoder store beside a new encoder run
    assert set(list(KVCache().render(ReportContext({"results": mixed})))[2].index.get_level_values("model")) == {"m"}
