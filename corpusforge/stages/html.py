"""One parse per page: the stages that read raw HTML share the tree trafilatura extracts from.

The tree is built by trafilatura's own `load_html` (its encoding and repair steps included),
so `extract(tree)` gives exactly the text `extract(html)` would. It lives on the document
(`Document.html_tree`) from the first stage that needs it until extraction replaces the HTML.
"""

from __future__ import annotations

import re
from typing import Any

from corpusforge.document import Document

# Never shown to a reader.
_HIDDEN = frozenset({"script", "style", "noscript", "template"})
# Shown, but the site's and not the page's: menus, links, forms, headers and footers. Their
# text is in the site's language, which is not always the article's (bench/prefilter.py: with it
# counted, English menus lifted foreign articles' English score and foreign menus sank English
# articles'; without it, every kept English page scored >= 0.6 and most foreign ones < 0.1).
_CHROME = _HIDDEN | {"a", "nav", "header", "footer", "aside", "form", "select", "option", "button", "menu"}
MIN_PIECE_CHARS = 30  # shorter text runs are labels and captions, not prose
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


def running_text(tree: Any, max_chars: int) -> str:
    """The page's prose as a reader sees it: text outside script, style, noscript and template,
    and outside links, menus, forms, headers, footers and asides, in runs of at least
    MIN_PIECE_CHARS characters once blanks are collapsed; the first `max_chars` characters."""
    from lxml import etree

    pieces: list[str] = []
    size, inside = 0, 0  # inside: how many chrome elements enclose the current node
    for event, element in etree.iterwalk(tree, events=("start", "end")):
        tag = element.tag
        if not isinstance(tag, str):  # a comment or processing instruction: only its tail shows
            text = element.tail if event == "end" and not inside else None
        elif event == "start":
            inside += tag in _CHROME
            text = None if inside else element.text
        else:
            inside -= tag in _CHROME
            text = None if inside else element.tail
        if text and len(text := _BLANKS.sub(" ", text).strip()) >= MIN_PIECE_CHARS:
            pieces.append(text)
            size += len(text) + 1
            if size >= max_chars:
                break
    return " ".join(pieces)[:max_chars]
