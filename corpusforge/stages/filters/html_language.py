"""Language ID on the raw page, before extraction: pay trafilatura only for pages that may be kept."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import pyarrow as pa

from corpusforge.document import Document
from corpusforge.schema import Key
from corpusforge.stages.filters.language import _LABEL_PREFIX, LanguageFilter
from corpusforge.stages.html import running_text


class HtmlLanguageFilter(LanguageFilter):
    """Drop a page before extraction when its running text (`stages/html.py`: the visible
    text outside links, menus, forms, headers and footers, in runs of 30+ characters, of the
    page's `<article>`/`<main>` where those hold its prose; the first `max_chars` characters)
    is surely not in a wanted language: the lid.176 probability of every language in
    `languages` is below `min_score`.

    A prefilter, tuned to lose almost nothing; the `language` stage after extraction still
    decides. The default `min_score` (0.25) is the largest of the tradeoff measured by
    `bench/prefilter.py` (README, "Language before extraction") at which none of its three
    crawls loses a document the pipeline keeps: every English page kept there scores 0.6 or
    more (a margin of 2.4); the one kept page below, at 0.27, is a Cebuano article whose
    extracted text is only its English site's headings.

    The running text is read off the raw HTML without a parse, so a page that is skipped
    costs ~2 ms and trafilatura parses only the pages that pass. A page with no running text
    (all links, or empty) is kept: nothing to judge. In annotate mode `html_language_score`
    holds the best wanted language's probability.
    """

    name = "html_language"
    scores: ClassVar[dict[str, pa.DataType]] = {"score": pa.float64()}

    def __init__(
        self,
        languages: Annotated[list[str], Key(non_empty=True)],
        min_score: float = 0.25,
        model_path: str | None = None,
        max_chars: int = 10_000,
        batch_docs: int = 64,
        mode: Literal["drop", "annotate"] = "drop",
    ) -> None:
        super().__init__(languages, min_score, model_path, max_chars, batch_docs, mode)

    def columns(self) -> dict[str, pa.DataType]:
        return self.reason_columns() | ({"html_language_score": pa.float64()} if self.annotate else {})

    def filter_batch(self, docs: list[Document]) -> list[str | None]:
        reasons: list[str | None] = [None] * len(docs)
        texts: dict[int, str] = {}
        for i, doc in enumerate(docs):
            if text := self._prepare(running_text(doc.text, self.max_chars)):
                texts[i] = text
        if texts:
            # every label at or above min_score (annotate: every label, to report the score)
            threshold = 0.0 if self.annotate else self.min_score
            labels, probs = self.model_predict(list(texts.values()), k=-1, threshold=threshold)
            for i, text_labels, text_probs in zip(texts, labels, probs):
                best = max(
                    (
                        float(p)
                        for label, p in zip(text_labels, text_probs)
                        if label.removeprefix(_LABEL_PREFIX) in self._wanted
                    ),
                    default=0.0,
                )
                self.record(docs[i], score=round(min(best, 1.0), 4))
                if best < self.min_score:
                    reasons[i] = "not_wanted_language"
        return reasons

    def filter(self, doc: Document) -> str | None:
        return self.filter_batch([doc])[0]
