"""The leaderboard across runs: every criterion x (model, task, language) with its AUC, the paired AUC difference to
HIS and its significance, as a tidy table (``results/leaderboard.csv`` + Parquet) and a sortable HTML page
(``reports/leaderboard.html``, one colour per criterion as in every figure).

The entries are :func:`hpbench.report.intervals.auc_table`'s rows for each run, unchanged.
"""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..core.files import atomic_write_bytes
from .figures import criterion_colour
from .intervals import auc_table
from .text import variant_of

COLUMNS = ["model", "task", "language", "setting", "criterion", "metric", "better", "AUC", "AUC lo", "AUC hi", "Δ vs his", "Δ lo",
           "Δ hi", "p", "significant", "vs his"]


def leaderboard_table(reps, auc: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (model, task, eval language, criterion): the per-run AUC table's entries (``auc``: that table
    when already computed)."""
    t = auc_table(reps) if auc is None else auc
    if t.empty:
        return pd.DataFrame(columns=COLUMNS)
    t = t.copy()
    t["setting"] = [variant_of(r, m, k, lang) or "default" for r, m, k, lang in
                    zip(t.get("run_id", pd.Series("", index=t.index)), t["model"], t["task"],
                        t.get("train_language", t["language"]))]
    return t[[c for c in COLUMNS if c in t]].sort_values(["model", "task", "language", "setting", "AUC"],
                                                         ascending=[True, True, True, True, False]).reset_index(drop=True)


def save_leaderboard(table: pd.DataFrame, results_dir: str | Path) -> Path:
    """``<results_dir>/leaderboard.parquet`` (the record) and ``.csv`` beside it."""
    import io

    root = Path(results_dir)
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write_bytes(root / "leaderboard.parquet", buf.getvalue())
    atomic_write_bytes(root / "leaderboard.csv", table.to_csv(index=False).encode())
    return root / "leaderboard.parquet"


def _cell(r: pd.Series) -> tuple[str, float]:
    """(the HTML of one criterion x run cell, its sort key: Δ vs HIS, AUC for HIS itself)."""
    if r["criterion"] == "his" or pd.isna(r.get("Δ vs his")):
        return f"<b>{r['AUC']:.3f}</b> <small>[{r['AUC lo']:.3f}, {r['AUC hi']:.3f}] reference</small>", 0.0
    mark = "*" if bool(r["significant"]) else ""
    cls = {"better": "good", "worse": "bad"}.get(str(r.get("vs his")), "")
    return (f"<span class='{cls}'>{r['Δ vs his']:+.3f}{mark}</span> <small>[{r['Δ lo']:+.3f}, {r['Δ hi']:+.3f}] "
            f"AUC {r['AUC']:.3f}</small>", float(r["Δ vs his"]))


SORT_JS = """<script>
document.querySelectorAll('th[data-col]').forEach(th => th.addEventListener('click', () => {
  const tb = th.closest('table').tBodies[0], i = +th.dataset.col, dir = th.dataset.dir = th.dataset.dir === 'd' ? 'a' : 'd';
  [...tb.rows].sort((a, b) => { const x = parseFloat(a.cells[i].dataset.v), y = parseFloat(b.cells[i].dataset.v);
    return (isNaN(x) ? 1 : isNaN(y) ? -1 : (dir === 'd' ? y - x : x - y)); }).forEach(r => tb.appendChild(r)); }));
</script>"""


def leaderboard_html(table: pd.DataFrame) -> str:
    """A criteria x runs table: Δ AUC vs HIS with its 95 % interval, ``*`` = paired permutation p < 0.05, green /
    red = significantly better / worse in the metric's direction; click a column header to sort by it."""
    setting = table["setting"] if "setting" in table else pd.Series("default", index=table.index)
    runs = list(dict.fromkeys(zip(table["model"], table["task"], table["language"], setting)))
    crits = list(dict.fromkeys(table["criterion"]))
    def metric_of(m, t, lang, v) -> str:  # "word_perplexity ↓": which way is better, under each run's name
        g = table[(table["model"] == m) & (table["task"] == t) & (table["language"] == lang) & (setting == v)]
        if g.empty or "metric" not in g:
            return ""
        arrow = "↓" if "better" in g and g["better"].iloc[0] == "lower" else "↑"
        return f"<br><small>{html.escape(str(g['metric'].iloc[0]))} {arrow}</small>"

    head = "".join(f"<th data-col='{i + 1}' title='click to sort'>{html.escape(m)}<br>{html.escape(t)} / "
                   f"{html.escape(lang)}{'' if v == 'default' else '<br><small>' + html.escape(v) + '</small>'}"
                   f"{metric_of(m, t, lang, v)}</th>"
                   for i, (m, t, lang, v) in enumerate(runs))
    body = []
    for c in crits:
        cells = []
        for m, t, lang, v in runs:
            g = table[(table["model"] == m) & (table["task"] == t) & (table["language"] == lang) & (setting == v)
                      & (table["criterion"] == c)]
            if g.empty:
                cells.append("<td data-v='nan'></td>")
                continue
            txt, key = _cell(g.iloc[0])
            cells.append(f"<td data-v='{key}'>{txt}</td>")
        swatch = f"<span class='sw' style='background:{criterion_colour(c)}'></span>"
        body.append(f"<tr><td data-v='nan'>{swatch}<code>{html.escape(c)}</code></td>{''.join(cells)}</tr>")
    n = len(runs)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>hpbench leaderboard</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{padding:5px 9px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}th[data-col]{{cursor:pointer}}
.sw{{display:inline-block;width:12px;height:12px;margin-right:6px;border-radius:2px}}.good{{color:#176;font-weight:bold}}
.bad{{color:#b00;font-weight:bold}}small{{color:#555}}</style></head><body>
<h1>hpbench leaderboard</h1>
<p>Each cell: the criterion's AUC (metric vs fraction of heads pruned) minus HIS's on the same run, with its paired 95 %
interval; <b>*</b> = paired permutation test p &lt; 0.05; green / red = significantly better / worse than HIS in the
metric's direction. HIS's own cells give its AUC. {n} run(s); the same numbers as a tidy table:
<code>results/leaderboard.csv</code> (Parquet beside it). Click a column header to sort the criteria by it.</p>
<table><thead><tr><th>criterion</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
{SORT_JS}</body></html>"""


def write_leaderboard(reps, results_dir: str | Path, reports_dir: str | Path, auc: pd.DataFrame | None = None) -> Path:
    """Tidy table into ``results_dir``, page into ``reports_dir/leaderboard.html``; returns the page."""
    table = leaderboard_table(reps, auc)
    save_leaderboard(table, results_dir)
    out = Path(reports_dir) / "leaderboard.html"
    atomic_write_bytes(out, leaderboard_html(table).encode())
    return out
