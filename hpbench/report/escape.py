"""Text from data (task specs, data files, plugins, parameters) on its way into a report page.

Every report section is Markdown or HTML that nbconvert passes through as it is, so a string a user or a file
controls is escaped before it is placed in a page: ``<script>`` in a task description shows as text, never runs.
"""
from __future__ import annotations

import html
from typing import Any

_MD_SPECIALS = str.maketrans({"|": "&#124;", "`": "&#96;", "[": "&#91;", "]": "&#93;"})


def esc(value: Any) -> str:
    """``value`` as text that is safe in HTML and in Markdown: ``<``, ``>``, ``&`` and quotes become entities,
    and so do the Markdown characters that would change the page's structure (table bars, code spans, links)."""
    return html.escape(str(value), quote=True).translate(_MD_SPECIALS)


def code(value: Any) -> str:
    """``value`` as inline code in Markdown or HTML (escaped: the renderer shows it literally)."""
    return f"<code>{html.escape(str(value), quote=True)}</code>"
