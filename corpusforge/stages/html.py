"""A page's running text, read off the raw HTML without parsing it.

A prefilter must cost little beside the extraction it saves: building an lxml tree costs ~2.6 ms
a page and this scan with lid.176 ~1.3 ms, and the scan's text was the tree's in all but a
handful of bench/prefilter.py's 1,518 pages (the pages it skipped differed by 0.2 %).
trafilatura parses only the pages that pass.
"""

from __future__ import annotations

import html
import re

# Never shown to a reader (script ... template), or shown but the site's and not the page's:
# menus, links, forms, headers and footers. Their text is in the site's language, which is not
# always the article's (bench/prefilter.py: with it counted, English menus lifted foreign
# articles' English score and foreign menus sank English articles'; without it, every kept
# English page scored >= 0.6 and most foreign ones < 0.1).
_LEFT_OUT = ("script", "style", "noscript", "template", "a", "nav", "header", "footer", "aside", "form")
_LEFT_OUT += ("select", "option", "button", "menu")
_OPEN = re.compile(r"<!--|<(" + "|".join(_LEFT_OUT) + r")\b", re.IGNORECASE)
_CLOSE = {tag: re.compile(rf"</{tag}\s*>", re.IGNORECASE) for tag in (*_LEFT_OUT, "article", "main")}
_TAG = re.compile(r"<[^>]*>")
_BLANKS = re.compile(r"\s+")
MIN_PIECE_CHARS = 30  # shorter text runs are labels and captions, not prose
# A page's own content, where the page marks it: the site's headlines, teasers, captions and
# cookie notices stay outside (bench/prefilter.py: foreign articles in English news pages scored
# lower, so min_score 0.25 skips 70 more of its 1,518 pages and still loses no kept document).
_REGION = re.compile(r"<(article|main)(?=[\s/>])", re.IGNORECASE)
MIN_REGION_CHARS = 500  # less running text there is a teaser or a stub: read the whole page


def running_text(page: str, max_chars: int) -> str:
    """The page's prose as a reader sees it: the running text (`scan_text`) of its `<article>`
    and `<main>` elements where they hold at least MIN_REGION_CHARS characters of it (or
    `max_chars`, if fewer), else of the whole page; the first `max_chars` characters.

    A region ends at the first closing tag of its name, and one never closed is not a region;
    the search goes forward only, so it is linear in the page.
    """
    regions, pos = [], 0
    unclosed: set[str] = set()
    while opening := _REGION.search(page, pos):
        tag = opening.group(1).lower()
        close = None if tag in unclosed else _CLOSE[tag].search(page, opening.end())
        if close is None:
            unclosed.add(tag)
            pos = opening.end()
            continue
        regions.append(page[opening.start() : close.end()])
        pos = close.end()
    if regions:
        text = scan_text("".join(regions), max_chars)
        if len(text) >= min(MIN_REGION_CHARS, max_chars):
            return text
    return scan_text(page, max_chars)


def scan_text(page: str, max_chars: int) -> str:
    """The text between tags outside comments, script, style, noscript and template, and
    outside links, menus, forms, headers, footers and asides, in runs of at least
    MIN_PIECE_CHARS characters once entities are decoded and blanks collapsed; the first
    `max_chars` characters.

    A left-out element ends at the first closing tag of its name (a nested one of the same
    name ends it early: a little chrome is then read); one that is never closed leaves out
    nothing. The scan goes forward only, so it is linear in the page whatever its markup.
    """
    pieces: list[str] = []
    size, pos, end_of_page = 0, 0, len(page)
    unclosed: set[str] = set()  # tags with no closing tag after some point: none further on either
    while pos < end_of_page:
        opening = _OPEN.search(page, pos)
        for text in _TAG.split(page[pos : end_of_page if opening is None else opening.start()]):
            if len(text) < MIN_PIECE_CHARS:
                continue
            text = _BLANKS.sub(" ", html.unescape(text) if "&" in text else text).strip()
            if len(text) >= MIN_PIECE_CHARS:
                pieces.append(text)
                size += len(text) + 1
                if size >= max_chars:
                    return " ".join(pieces)[:max_chars]
        if opening is None:
            break
        tag = opening.group(1)
        if tag is None:  # a comment
            close = page.find("-->", opening.end())
            pos = end_of_page if close < 0 else close + 3
            continue
        tag = tag.lower()
        close = None if tag in unclosed else _CLOSE[tag].search(page, opening.end())
        if close is None:  # only the tag itself goes
            unclosed.add(tag)
            after = page.find(">", opening.end())
            pos = end_of_page if after < 0 else after + 1
        else:
            pos = close.end()
    return " ".join(pieces)[:max_chars]
