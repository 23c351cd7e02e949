"""The stage registry: the YAML name of every stage → its class."""

from __future__ import annotations

from corpusforge.stage import Stage
from corpusforge.stages.c4_filters import C4Filter
from corpusforge.stages.decontaminate import Decontaminator
from corpusforge.stages.exact_dedup import ExactDeduplicator
from corpusforge.stages.gopher_quality import GopherQualityFilter
from corpusforge.stages.gopher_repetition import GopherRepetitionFilter
from corpusforge.stages.jsonl_reader import JsonlReader
from corpusforge.stages.language import LanguageFilter
from corpusforge.stages.minhash_dedup import MinHashDeduplicator
from corpusforge.stages.parquet_reader import ParquetReader
from corpusforge.stages.parquet_writer import ParquetWriter
from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor
from corpusforge.stages.warc_reader import WarcReader

STAGES: dict[str, type[Stage]] = {
    cls.name: cls
    for cls in (
        WarcReader,
        JsonlReader,
        ParquetReader,
        TrafilaturaExtractor,
        LanguageFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        C4Filter,
        ExactDeduplicator,
        MinHashDeduplicator,
        Decontaminator,
        ParquetWriter,
    )
}
