"""`corpusforge report OUTPUT`: one self-contained HTML page about a pipeline run.

Its sections are `corpusforge.report.sections.SECTIONS`. Plots are PNG images embedded as data
URIs; the page has inline CSS, no script and no external resource, and every piece of crawled
text is escaped (corpusforge.report.html). A section whose inputs are missing says so; a
section that fails shows the error in its place, so one odd input never costs the whole report.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from pathlib import Path

from corpusforge.errors import CorpusforgeError
from corpusforge.io.paths import AnyPath, output_path

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
MAX_TEXT_BYTES = 1_000_000_000  # the report reads at most this much corpus text (word counts, languages)


def absolute(path: AnyPath) -> AnyPath:
    return path.resolve() if isinstance(path, Path) else path


def build_report(
    output: str | Path,
    tokens: Sequence[str | Path] = (),
    runs: Sequence[str | Path] = (),
    max_text_bytes: int = MAX_TEXT_BYTES,
    per_reason: int = 3,
) -> str:
    """The report page as a string."""
    from corpusforge.report import html, sections

    out = absolute(output_path(output))
    if not out.is_dir():
        raise CorpusforgeError(f"{out}: no such output folder")
    run = sections.Run.load(out, [str(t) for t in tokens], [str(r) for r in runs], max_text_bytes, per_reason)
    parts = []
    for anchor, name, title, build in sections.SECTIONS:
        try:
            parts.append(html.section(anchor, title, build(run)))
        except Exception as exc:  # noqa: BLE001 - one section's failure must not cost the report
            log.warning("report section %s failed: %s", anchor, exc)
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            parts.append(html.section(anchor, name, [html.note(f"This section could not be built: {detail}", "error")]))
    title = f"corpusforge run report — {out.name}"
    return html.page(title, str(out), [(a, n) for a, n, _, _ in sections.SECTIONS], parts)


def write_report(
    output: str | Path,
    tokens: Sequence[str | Path] = (),
    runs: Sequence[str | Path] = (),
    max_text_bytes: int = MAX_TEXT_BYTES,
    per_reason: int = 3,
) -> AnyPath:
    """Write OUTPUT/report.html (atomically) and return its path."""
    from corpusforge.io.atomic import atomic_path

    page = build_report(output, tokens, runs, max_text_bytes, per_reason)
    path = output_path(output) / REPORT_FILE
    with atomic_path(path) as tmp:
        tmp.write_bytes(page.encode("utf-8", "replace"))
    return path
