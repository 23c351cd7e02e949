"""The stage registry: the YAML name of every stage → its class."""

from __future__ import annotations

from corpusforge.engine.stage import Stage
from corpusforge.stages.decontamination.decontaminate import Decontaminator
from corpusforge.stages.dedup.exact_dedup import ExactDeduplicator
from corpusforge.stages.dedup.minhash_dedup import MinHashDeduplicator
from corpusforge.stages.filters.c4_filters import C4Filter
from corpusforge.stages.filters.gopher_quality import GopherQualityFilter
from corpusforge.stages.filters.gopher_repetition import GopherRepetitionFilter
from corpusforge.stages.filters.html_language import HtmlLanguageFilter
from corpusforge.stages.filters.language import LanguageFilter
from corpusforge.stages.filters.quality_classifier import QualityClassifier
from corpusforge.stages.filters.url_filter import UrlFilter
from corpusforge.stages.parquet_writer import ParquetWriter
from corpusforge.stages.readers.jsonl_reader import JsonlReader
from corpusforge.stages.readers.parquet_reader import ParquetReader
from corpusforge.stages.readers.warc_reader import WarcReader
from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor

STAGES: dict[str, type[Stage]] = {
    cls.name: cls
    for cls in (
        WarcReader,
        JsonlReader,
        ParquetReader,
        UrlFilter,
        HtmlLanguageFilter,
        TrafilaturaExtractor,
        LanguageFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        C4Filter,
        QualityClassifier,
        ExactDeduplicator,
        MinHashDeduplicator,
        Decontaminator,
        ParquetWriter,
    )
}
