"""One parse per page: the stages that read raw HTML share the tree trafilatura extracts from.

The tree is built by trafilatura's own `load_html` (its encoding and repair steps included),
so `extract(tree)` gives exactly the text `extract(html)` would. It lives on the document
(`Document.html_tree`) from the first stage that needs it until extraction replaces the HTML.
"""

from __future__ import annotations

import re
from typing import Any

from corpusforge.document import Document

_HIDDEN = frozenset({"script", "style", "noscript", "template"})
_BLANKS = re.compile(r"\s+")


def html_tree(doc: Document) -> Any:
    """The page's lxml tree, parsed on first use; None when lxml cannot make a tree of it."""
    if doc.html_tree is None:
        from trafilatura.utils import load_html

        try:
            doc.html_tree = load_html(doc.text)
        except Exception:  # noqa: BLE001 - an unparsable page is the caller's to count
            return None
    return doc.html_tree


def visible_text(tree: Any, max_chars: int) -> str:
    """What a reader of the page sees: its text without script, style, noscript and template
    content (and without comments), blanks collapsed, cut at `max_chars` characters."""
    from lxml import etree

    pieces: list[str] = []
    size, hidden = 0, 0  # hidden: how many hidden elements we are inside
    for event, element in etree.iterwalk(tree, events=("start", "end")):
        tag = element.tag
        if not isinstance(tag, str):  # a comment or processing instruction: only its tail shows
            text = element.tail if event == "end" and not hidden else None
        elif event == "start":
            if tag in _HIDDEN:
                hidden += 1
            text = None if hidden else element.text
        else:
            hidden -= tag in _HIDDEN
            text = None if hidden else element.tail
        if text:
            pieces.append(text)
            size += len(text)
            if size > 2 * max_chars:  # blanks collapse below: keep some spare
                break
    return _BLANKS.sub(" ", " ".join(pieces)).strip()[:max_chars]
