"""Safe HTML building for the report.

Everything that comes from data (crawled text, URLs, metadata, reasons, file names) goes
through `esc`, which drops what cannot be shown (lone surrogates, control characters),
truncates, and then escapes `& < > " '`; only `Html` strings (made here, from escaped parts)
are inserted as they are. The page's Content-Security-Policy (`CSP`: no script, no external
resource, only `data:` images) means even a mistake in escaping could run or fetch nothing.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

# C0/C1 controls (but tab, newline, carriage return), lone surrogates, non-characters
_UNSHOWABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


class Html(str):
    """A string of markup built by this module: inserted without escaping."""


def clean(text: str) -> str:
    """Replace what must not reach the page (lone surrogates, controls) with U+FFFD."""
    return _UNSHOWABLE.sub("\ufffd", text)


def esc(value: Any, limit: int | None = None) -> Html:
    """Escape a value for HTML text or a quoted attribute, cut to `limit` characters (…)."""
    if isinstance(value, Html):
        return value
    text = value if isinstance(value, str) else "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return Html(html.escape(clean(text), quote=True))


def excerpt(text: Any, limit: int) -> Html:
    """A block of document text: escaped, cut to `limit` characters with a note saying how
    much was left out (and how long the longest line was, for one-line pages)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    shown = esc(text[:limit])
    if len(text) <= limit:
        return Html(f'<pre class="doc">{shown}</pre>')
    longest = max((len(line) for line in text.splitlines()), default=0)
    note = (
        f"truncated: showing {limit:,} of {len(text):,} characters"
        f"{f'; the longest line has {longest:,} characters' if longest > limit else ''}"
    )
    return Html(f'<pre class="doc">{shown}<span class="cut">… [{note}]</span></pre>')


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def num(n: Any, digits: int = 0) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "–"
    return f"{n:,.{digits}f}" if isinstance(n, float) or digits else f"{n:,}"


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = (), cls: str = "") -> Html:
    """A table; cells are escaped unless they are `Html`. Columns in `numeric` align right."""
    right = set(numeric)
    head = "".join(f"<th{' class=num' if i in right else ''}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f"<td{' class=num' if i in right else ''}>{esc(c)}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}" class="muted">(none)</td></tr>')
    return Html(f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def img(data_uri: str, alt: str) -> Html:
    if not data_uri.startswith("data:image/png;base64,"):
        raise ValueError("only embedded PNG images")
    return Html(f'<img src="{data_uri}" alt="{esc(alt)}">')


def note(text: str | Html, kind: str = "note") -> Html:
    return Html(f'<p class="{kind}">{esc(text)}</p>')


def p(text: str | Html) -> Html:
    return Html(f"<p>{esc(text)}</p>")


def section(anchor: str, title: str, parts: Iterable[str]) -> Html:
    return Html(f'<section id="{slug(anchor)}"><h2>{esc(title)}</h2>\n' + "\n".join(parts) + "\n</section>")


CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #222;
       margin: 0 auto; max-width: 1100px; padding: 0 24px 48px; background: #fff; }
header { border-bottom: 2px solid #4C72B0; margin-bottom: 8px; }
h1 { font-size: 22px; margin: 20px 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-top: 8px; border-top: 1px solid #ddd; }
h3 { font-size: 15px; margin: 20px 0 6px; }
nav { font-size: 13px; margin: 6px 0 10px; }
nav a { margin-right: 12px; color: #4C72B0; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; max-width: 560px; }
th { background: #f3f5f9; overflow-wrap: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; background: #f7f7f7;
      border: 1px solid #e3e3e3; padding: 8px; margin: 4px 0 12px; font-size: 12px; max-height: 320px;
      overflow: auto; }
pre.doc { max-height: 240px; }
.cut { color: #a33; font-style: italic; }
.note { color: #555; background: #fbf8e9; border-left: 3px solid #CCB974; padding: 6px 10px; }
.missing { color: #555; background: #f3f3f3; border-left: 3px solid #8C8C8C; padding: 6px 10px; }
.error { color: #700; background: #fdeeee; border-left: 3px solid #C44E52; padding: 6px 10px; }
.muted { color: #777; }
.doccard { border: 1px solid #e3e3e3; border-radius: 4px; padding: 6px 10px; margin: 8px 0; }
.doccard .meta { font-size: 12px; color: #555; overflow-wrap: anywhere; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0; }
dl.kv dt { color: #555; } dl.kv dd { margin: 0; overflow-wrap: anywhere; }
details summary { cursor: pointer; color: #4C72B0; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], sections: Sequence[str]) -> str:
    links = "".join(f'<a href="#{slug(anchor)}">{esc(name)}</a>' for anchor, name in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<header><h1>{esc(title)}</h1><div class="muted">{esc(subtitle)}</div><nav>{links}</nav></header>\n'
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )
