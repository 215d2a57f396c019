"""Report sections as a registry: a section says when it applies (from the tables) and renders itself.

The run and comparison notebooks call :func:`render_page`, which walks :data:`SECTIONS` in ``order``: a section that
does not apply is absent from the page (and so from its contents list); one that raises shows its error in place
and the others still render. Built-in sections are the modules of this folder (each registers itself on import, as
lm-evaluation-harness finds its tasks by walking a folder); a plugin registers its own the same way::

    from hpbench.report.sections import Section, register

    @register
    class MySection(Section):
        key, title, pages, order = "my-section", "My view", ("comparison",), 55

        def applies(self, ctx):
            return "my_column" in ctx.tables["results"]

        def render(self, ctx):
            yield ctx.tables["results"].groupby("criterion")["my_column"].mean().to_frame()

``render`` yields what the page shows, in order: a ``str`` is Markdown (escape text from data with
:func:`hpbench.report.escape.esc`), a matplotlib figure is drawn and closed, anything else goes to ``display``
(DataFrames, ``IPython.display.HTML``). Figures a helper left open are drawn at the end of the section.
"""
from __future__ import annotations

import sys
import traceback
from typing import Any, Callable, ClassVar, Iterable

from ...core.registry import Registry
from ..escape import esc

PAGES = ("comparison", "run")


class Section:
    """One part of a report page. Subclasses set the class attributes and override :meth:`render` (and
    :meth:`applies` when the section only makes sense for some results)."""

    key: ClassVar[str] = ""
    title: ClassVar[str | None] = None  # the h2 heading; None: no heading (the page's preamble)
    intro: ClassVar[str] = ""  # Markdown under the heading: what the view shows and how to read it
    pages: ClassVar[tuple[str, ...]] = ("comparison",)
    order: ClassVar[float] = 100.0
    anchor: ClassVar[str | None] = None  # an extra id the page's links point at (``#claims``)
    needs_results: ClassVar[bool] = True  # the default ``applies``: the page has result rows

    def applies(self, ctx: Any) -> bool:
        return ctx.has_results if self.needs_results else True

    def render(self, ctx: Any) -> Iterable[Any]:
        raise NotImplementedError(f"section {self.key!r} does not render anything")


SECTIONS: Registry[Section] = Registry("report section")


def register(cls: type[Section]) -> type[Section]:
    """Class decorator: register one instance of ``cls`` under ``cls.key`` (a taken key is an error; a bad page name
    too, listing the pages)."""
    if not cls.key:
        raise ValueError(f"report section {cls.__name__} needs a key (a short name, e.g. 'curves')")
    bad = [p for p in cls.pages if p not in PAGES]
    if bad:
        raise ValueError(f"report section {cls.key!r}: page(s) {bad} unknown; pages are {list(PAGES)}")
    SECTIONS.add(cls.key, cls())
    return cls


def sections_for(page: str) -> list[Section]:
    """The registered sections of ``page``, in order."""
    if page not in PAGES:
        raise ValueError(f"unknown report page {page!r}; pages are {list(PAGES)}")
    found = [SECTIONS.get(k) for k in SECTIONS.names()]
    return sorted((s for s in found if page in s.pages), key=lambda s: (s.order, s.key))


def per_run(table):
    """``(title, rows)`` per run of a comparison's table (``"model / task / language"``), or ``("", table)`` for one
    run's own tables (which carry no such columns). Scores and masks of runs that scored heads on another language
    than the training one (``score_language``) are left out: they would mix with the training language's."""
    keys = [k for k in ("model", "task", "language") if k in table]
    if "score_language" in table and "language" in table:  # heads scored on another language: the language section's
        table = table[table["score_language"] == table["language"]]
    if not keys:
        yield "", table
        return
    for key, g in table.groupby(keys):
        yield " / ".join(map(str, key if isinstance(key, tuple) else (key,))), g


def error_box(section: Section, exc: BaseException) -> str:
    """What a failed section shows in its place (HTML; the message escaped)."""
    return (f'<div class="hpbench-error" style="border-left:4px solid #b00;padding:6px 12px;background:#fff4f4">'
            f"<b>This section could not be drawn</b> ({esc(section.key)}): <code>{esc(type(exc).__name__)}: "
            f"{esc(exc)}</code>. The other sections are unaffected; the traceback is in the notebook's log.</div>")


def _show(item: Any, display: Callable[[Any], None]) -> None:
    from IPython.display import Markdown
    from matplotlib.figure import Figure

    if isinstance(item, str):
        display(Markdown(item))
    elif isinstance(item, Figure):
        import matplotlib.pyplot as plt

        display(item)
        plt.close(item)
    elif item is not None:
        display(item)


def _flush_figures(display: Callable[[Any], None], keep: Any = None) -> None:
    """Draw and close the figures a helper left open (in the order made), except ``keep`` (shown next)."""
    import matplotlib.pyplot as plt

    for num in plt.get_fignums():
        fig = plt.figure(num)
        if fig is not keep:
            display(fig)
            plt.close(fig)


def render_section(section: Section, ctx: Any, display: Callable[[Any], None]) -> bool:
    """Render one section if it applies; returns whether it was shown. Errors (in ``applies`` too) are shown in place."""
    from IPython.display import HTML, Markdown

    try:
        if not section.applies(ctx):
            return False
    except Exception as exc:  # noqa: BLE001 - a section's failure must not take the page with it
        return _failed(section, exc, display, heading=True)
    if section.anchor:
        display(HTML(f'<a id="{esc(section.anchor)}"></a>'))
    if section.title:
        display(Markdown(f"## {section.title}" + (f"\n\n{section.intro}" if section.intro else "")))
    try:
        for item in section.render(ctx) or ():
            _flush_figures(display, keep=item)  # figures made before this item come before it
            _show(item, display)
        _flush_figures(display)
    except Exception as exc:  # noqa: BLE001
        return _failed(section, exc, display, heading=False)
    return True


def _failed(section: Section, exc: BaseException, display, *, heading: bool) -> bool:
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Markdown

    plt.close("all")
    print(f"report section {section.key!r} failed:", file=sys.stderr)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if heading and section.title:
        display(Markdown(f"## {section.title}"))
    display(HTML(error_box(section, exc)))
    return True


def render_page(page: str, ctx: Any, display: Callable[[Any], None] | None = None) -> list[str]:
    """Render every section of ``page`` that applies to ``ctx``; returns the keys of those shown."""
    if display is None:
        from IPython.display import display
    return [s.key for s in sections_for(page) if render_section(s, ctx, display)]
