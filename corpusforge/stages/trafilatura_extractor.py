"""Main-text extraction from HTML with trafilatura."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from corpusforge.document import Document
from corpusforge.engine.stage import Stage, StageContext

log = logging.getLogger(__name__)


class TrafilaturaExtractor(Stage):
    """Replace each document's HTML with its main text.

    The keys are trafilatura's own `extract()` options. `max_html_bytes` skips pages whose
    payload is larger (such pages are rarely articles, and lxml's time grows with them);
    pages with no extractable text are dropped as `trafilatura:no_text`.
    """

    name = "trafilatura"
    preload = ("trafilatura",)

    def __init__(
        self,
        favor_precision: bool = False,
        favor_recall: bool = False,
        include_comments: bool = False,
        include_tables: bool = True,
        include_formatting: bool = False,
        deduplicate: bool = False,
        fast: bool = False,
        max_html_bytes: int = 5_000_000,
    ) -> None:
        if favor_precision and favor_recall:
            raise ValueError("favor_precision and favor_recall exclude each other")
        self.options = dict(
            favor_precision=favor_precision,
            favor_recall=favor_recall,
            include_comments=include_comments,
            include_tables=include_tables,
            include_formatting=include_formatting,
            deduplicate=deduplicate,
            fast=fast,
        )
        self.max_html_bytes = max_html_bytes

    def setup(self) -> None:
        import trafilatura  # noqa: F401 - import once per worker, not per task

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        from trafilatura import extract

        for doc in docs:
            size = doc.metadata.get("content_length") or len(doc.text)
            if size > self.max_html_bytes:
                ctx.drop("trafilatura:html_too_large", doc)
                continue
            try:
                text = extract(doc.text, url=doc.url, output_format="txt", **self.options)
            except Exception as exc:  # noqa: BLE001 - one odd page must not end the task
                log.warning(
                    "%s: trafilatura failed on document %s (%s: %s)", ctx.source, doc.id, type(exc).__name__, exc
                )
                ctx.drop("trafilatura:error", doc)
                continue
            if not text or not text.strip():
                ctx.drop("trafilatura:no_text", doc)
                continue
            doc.text = text
            yield doc
