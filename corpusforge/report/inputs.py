"""Read what a run left in its output folder (and the token shards and training runs named
with it) into small plain structures for the report. Nothing here draws or writes HTML.

Every reader tolerates a missing or damaged input: it returns None (or an empty result) and
the section says what is missing.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from corpusforge.engine.stage import Reader, stage_labels
from corpusforge.stages import STAGES
from corpusforge.stages.dedup.summary import summary_file
from corpusforge.train.log import COLUMNS as LOG_COLUMNS

# Stages that turn raw pages into text: documents they drop carry HTML, not text, and the
# length histograms start after them.
EXTRACTORS = {"trafilatura"}
# Stages that only read input: what they drop are records, not documents.
READERS = {name for name, cls in STAGES.items() if issubclass(cls, Reader)}


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_bytes().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def read_yaml(path: Path) -> Any | None:
    import yaml

    try:
        return yaml.safe_load(path.read_bytes().decode("utf-8", "replace"))
    except (OSError, ValueError, yaml.YAMLError):
        return None


def stage_names(config: dict | None) -> list[tuple[str, str]]:
    """(type, label) of each stage in config.yaml."""
    if not isinstance(config, dict) or not isinstance(config.get("stages"), list):
        return []
    names = [
        entry if isinstance(entry, str) else next(iter(entry), "?") if isinstance(entry, dict) else "?"
        for entry in config["stages"]
    ]
    return list(zip(names, stage_labels(names)))


# --- rejected samples ----------------------------------------------------------------------


@dataclass
class Rejected:
    reason: str
    docs: list[dict]  # as written by corpusforge.engine.rejected (id, url, text, truncated, metadata)
    bad_lines: int = 0  # lines that were not JSON objects


def read_rejected(folder: Path) -> list[Rejected]:
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        docs, bad = [], 0
        try:
            raw = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        for line in filter(str.strip, raw.splitlines()):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None  # counted as a bad line below
            if isinstance(entry, dict):
                docs.append(entry)
            else:
                bad += 1
        reason = str(docs[0].get("reason")) if docs and docs[0].get("reason") else path.stem.replace("-", ":", 1)
        out.append(Rejected(reason, docs, bad))
    return out


# --- the corpus shards -----------------------------------------------------------------------


@dataclass
class Corpus:
    shards: int = 0
    documents: int = 0  # documents read (all of them unless `capped`)
    total_documents: int = 0  # rows in all shards (from the Parquet footers)
    text_bytes: int = 0
    capped: bool = False
    words: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    languages: Counter = field(default_factory=Counter)  # documents per language
    language_bytes: Counter = field(default_factory=Counter)
    language_scores: list[float] = field(default_factory=list)
    has_language: bool = False


def word_count(text: Any) -> int:
    return len(text.split()) if isinstance(text, str) else 0


def read_corpus(data: Path, max_bytes: int) -> Corpus | None:
    """Word counts and languages of the output shards, reading at most `max_bytes` of text."""
    import pyarrow.parquet as pq

    files = sorted(data.glob("*.parquet")) if data.is_dir() else []
    if not files:
        return None
    c = Corpus(shards=len(files))
    words: list[np.ndarray] = []
    for path in files:
        pf = pq.ParquetFile(str(path))  # pyarrow opens URIs itself
        c.total_documents += pf.metadata.num_rows
        if c.capped:
            continue
        names = set(pf.schema_arrow.names)
        cols = [n for n in ("text", "language", "language_score") if n in names]
        c.has_language |= "language" in names
        for batch in pf.iter_batches(batch_size=4096, columns=cols):
            if "text" in cols:
                texts = batch.column("text").to_pylist()
                sizes = pc.binary_length(batch.column("text")).fill_null(0).to_pylist()
            else:
                texts, sizes = [None] * batch.num_rows, [0] * batch.num_rows
            words.append(np.fromiter((word_count(t) for t in texts), dtype=np.int64, count=len(texts)))
            c.documents += len(texts)
            c.text_bytes += sum(sizes)
            if "language" in cols:
                for lang, size in zip(batch.column("language").to_pylist(), sizes):
                    key = lang if lang is not None else "(none)"
                    c.languages[key] += 1
                    c.language_bytes[key] += size
            if "language_score" in cols:
                c.language_scores += [
                    s
                    for s in batch.column("language_score").to_pylist()
                    if isinstance(s, (int, float)) and math.isfinite(s)
                ]
            if c.text_bytes >= max_bytes:
                c.capped = True
                break
    c.capped = c.capped and c.documents < c.total_documents
    c.words = np.concatenate(words) if words else np.empty(0, dtype=np.int64)
    return c


# --- before filtering: kept documents plus the dropped ones -------------------------------


@dataclass
class BeforeFiltering:
    words: np.ndarray  # word count per sampled document
    weights: np.ndarray  # how many dropped documents each one stands for
    exact_reasons: list[str]  # every dropped document of the reason is in the sample
    weighted_reasons: list[tuple[str, int, int]]  # (reason, dropped, sampled): sample scaled up
    missing_reasons: list[tuple[str, int]]  # (reason, dropped) with no sample at all
    truncated_docs: int  # samples cut at corpusforge.engine.rejected.MAX_TEXT_CHARS
    first_stage: str | None  # the first stage counted as filtering

    @property
    def exact(self) -> bool:
        return not self.weighted_reasons and not self.missing_reasons


def filtering_stages(stats: dict, config: dict | None) -> list[str]:
    """Labels of the stages that drop documents that carry text: those after the last
    extractor, or after the reader when there is none."""
    labels = [s.get("name") for s in stats.get("stages", [])]
    types = {label: name for name, label in stage_names(config)}
    kind = [types.get(label, str(label).split("#")[0]) for label in labels]
    last_extractor = max((i for i, k in enumerate(kind) if k in EXTRACTORS), default=None)
    if last_extractor is not None:
        return labels[last_extractor + 1 :]
    return [label for label, k in zip(labels, kind) if k not in READERS]


def before_filtering(
    stats: dict, config: dict | None, rejected: list[Rejected], kept_words: np.ndarray
) -> BeforeFiltering:
    stages = filtering_stages(stats, config)
    by_reason = {r.reason: r for r in rejected}
    words = [kept_words]
    weights = [np.ones(len(kept_words))]
    exact, weighted, missing, truncated = [], [], [], 0
    for s in stats.get("stages", []):
        if s.get("name") not in stages:
            continue
        for reason, n in sorted((s.get("dropped") or {}).items()):
            if not n:
                continue
            docs = by_reason[reason].docs if reason in by_reason else []
            if not docs:
                missing.append((reason, n))
                continue
            w = np.array([word_count(d.get("text")) for d in docs], dtype=np.int64)
            truncated += sum(bool(d.get("truncated")) for d in docs)
            words.append(w)
            weights.append(np.full(len(w), n / len(w)))
            if len(docs) >= n:
                exact.append(reason)
            else:
                weighted.append((reason, n, len(docs)))
    return BeforeFiltering(
        np.concatenate(words),
        np.concatenate(weights),
        exact,
        weighted,
        missing,
        truncated,
        stages[0] if stages else None,
    )


def weighted_languages(rejected: list[Rejected], stats: dict) -> Counter:
    """Languages of the documents the language stages dropped, each sample weighted by
    dropped ÷ sampled for its reason (exact when every dropped document is sampled)."""
    dropped = {reason: n for s in stats.get("stages", []) for reason, n in (s.get("dropped") or {}).items()}
    out: Counter = Counter()
    for r in rejected:
        if not r.reason.startswith("language") or not r.docs:
            continue
        w = dropped.get(r.reason, len(r.docs)) / len(r.docs)
        for d in r.docs:
            lang = (d.get("metadata") or {}).get("language")
            out[str(lang) if lang is not None else "(none)"] += w
    return out


# --- duplicate clusters --------------------------------------------------------------------

DEDUP_KINDS = {"exact_dedup": "exact", "minhash_dedup": "near"}


@dataclass
class Clusters:
    """A dedup stage's summary (corpusforge.stages.dedup.summary)."""

    stage: str  # the stage's label
    kind: str  # "exact" or "near"
    documents: int  # documents the stage looked at
    duplicates: int  # documents beyond the first of each cluster
    sizes: dict[int, int]  # clusters per cluster size (two documents or more)


def read_clusters(output: Path, config: dict | None) -> tuple[list[Clusters], list[str]]:
    """The summary of every dedup stage, and the labels of the stages without a readable one."""
    found, missing = [], []
    for name, label in stage_names(config):
        if name not in DEDUP_KINDS:
            continue
        s = read_json(output / summary_file(label))
        try:
            found.append(
                Clusters(
                    label,
                    DEDUP_KINDS[name],
                    int(s["documents"]),
                    int(s["duplicates"]),
                    {int(k): int(v) for k, v in s["cluster_sizes"].items()},
                )
            )
        except (TypeError, KeyError, ValueError, AttributeError):
            missing.append(label)
    return found, missing


# --- token shards and training runs ----------------------------------------------------------


@dataclass
class TokenSummary:
    path: Path
    tokenizer: str
    vocab_size: int | None
    summary: dict


def read_tokens(folders: Iterable[str | Path]) -> tuple[list[TokenSummary], list[str]]:
    found, problems = [], []
    for folder in folders:
        folder = Path(folder)
        summary = read_json(folder / "summary.json")
        if not isinstance(summary, dict):
            problems.append(f"{folder}: no readable summary.json (is it a `corpusforge tokenize` output?)")
            continue
        settings = read_json(folder / "tokenize.json") or {}
        vocab = settings.get("vocab_size") if isinstance(settings, dict) else None
        found.append(TokenSummary(folder, str(summary.get("tokenizer") or folder.name), vocab, summary))
    return found, problems


@dataclass
class TrainingRun:
    path: Path
    name: str
    columns: dict[str, np.ndarray]  # every LOG_COLUMNS column present, NaN where a row has none
    rows: int
    mixture: dict[str, Any] | None = None  # the run's mixture.json, with "drawn": tokens per source at the end


def _number(text: str | None) -> float:
    try:
        v = float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan
    return v if math.isfinite(v) else math.nan


def read_runs(folders: Iterable[str | Path]) -> tuple[list[TrainingRun], list[str]]:
    found, problems = [], []
    for folder in folders:
        folder = Path(folder)
        log = folder / "log.csv" if folder.is_dir() else folder
        try:
            lines = log.read_bytes().decode("utf-8", "replace").splitlines()
        except OSError:
            problems.append(f"{folder}: no log.csv")
            continue
        reader = csv.DictReader(lines)
        if not reader.fieldnames or "loss" not in reader.fieldnames:
            problems.append(f"{log}: no `loss` column in the header (expected {','.join(LOG_COLUMNS)})")
            continue
        records = list(reader)
        columns = {  # a log without rows has no column at all
            key: np.array([_number(row.get(key)) for row in records], dtype=float)
            for key in LOG_COLUMNS
            if key in reader.fieldnames and records
        }
        name = folder.name if folder.is_dir() else folder.parent.name
        mixture = read_json(log.parent / "mixture.json")
        if isinstance(mixture, dict) and isinstance(mixture.get("sources"), list):
            last = records[-1] if records else {}
            mixture["drawn"] = {s.get("name"): _number(last.get(f"tokens:{s.get('name')}")) for s in mixture["sources"]}
        else:
            mixture = None
        found.append(TrainingRun(folder, name, columns, len(records), mixture))
    return found, problems
