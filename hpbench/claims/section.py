"""The comparison page's claims section, and the claims table it and the findings read (registered as the derived
table ``claims``): report sections living in the room whose data they show."""
from __future__ import annotations

from IPython.display import HTML

from ..report.findings import claims_table_html
from ..report.sections import Section, register
from ..report.sections.context import DERIVED
from . import claims_table

DERIVED.add("claims", lambda ctx: claims_table(ctx.all_tables, ctx.all_reps))


@register
class Claims(Section):
    key, pages, order, anchor = "claims", ("comparison",), 70, "claims"
    title = "The papers' claims: hpbench's closest measurement, its 95 % interval and a verdict"
    intro = ("*holds* / *does not hold*: the interval lies on one side of the claim's threshold, **in hpbench's "
             "setting** (the last column says how it differs from the paper's: model size, training data, steps); "
             "*inconclusive*: the interval straddles it; *not comparable*: hpbench cannot measure it from these results "
             "(the reason is given). Claims are data: `hpbench/claims/claims.yaml`. A*, DSP and SMP need `make "
             "report-search`; the cross-lingual claim `make report-multilingual`; stability across fine-tuning seeds "
             "`make report PRESET=stability`.")

    def applies(self, ctx):
        return len(ctx.derived("claims")) > 0

    def render(self, ctx):
        yield HTML(claims_table_html(ctx.derived("claims")))
