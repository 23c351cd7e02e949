"""Text out of Parquet shards or JSON Lines files (plain or compressed), one batch at a time
(never the whole corpus in memory): what tokenize, train-tokenizer and tokenizer-stats read."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from corpusforge.errors import TokenizerError
from corpusforge.io.jsonl import is_jsonl, jsonl_texts
from corpusforge.io.paths import expand

BATCH_ROWS = 512


def resolve_shards(patterns: str | Iterable[str], flag: str = "--input") -> list[str]:
    """Globs (or plain paths, or folders holding *.parquet) → sorted, de-duplicated file list.
    Globs and paths go through the pipeline's `expand`, so pyarrow.fs URIs (s3://...) work too.
    A pattern matching nothing, or a file neither Parquet nor JSON Lines, is an error naming
    `flag` (where the patterns came from), before anything is read."""
    if isinstance(patterns, (str, Path)):
        patterns = [str(patterns)]
    files: list[str] = []
    for pattern in patterns:
        pattern = str(pattern)
        if os.path.isdir(pattern):
            matches = sorted(glob.glob(os.path.join(pattern, "**", "*.parquet"), recursive=True))
        else:
            matches = expand(pattern)
        if not matches:
            raise TokenizerError(f"{flag}: no file matches {pattern!r}")
        for m in matches:
            if not m.endswith(".parquet") and not is_jsonl(m):
                raise TokenizerError(
                    f"{flag}: {pattern!r} matches {m}, which is neither Parquet (*.parquet) nor JSON Lines "
                    "(*.jsonl, *.ndjson, *.json, plain or .gz/.bz2/.xz/.zst)"
                )
        files.extend(matches)
    return list(dict.fromkeys(files))  # in order, each file once


def read_batches(path: str, text_key: str = "text", batch_rows: int = BATCH_ROWS) -> Iterator[list[str | None]]:
    """The text column (of a Parquet shard: only that column is read) or the text field (of a
    JSON Lines file), `batch_rows` documents at a time."""
    if is_jsonl(path):
        texts = jsonl_texts(path, text_key)
        while batch := list(islice(texts, batch_rows)):
            yield batch
        return
    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    if text_key not in names:
        raise TokenizerError(f"{path}: no column {text_key!r} (columns: {', '.join(names)})")
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=[text_key]):
        yield batch.column(0).to_pylist()


@dataclass
class TextStream:
    """Iterate the non-empty texts of `paths` in order, stopping once `max_bytes` of UTF-8 text
    have been yielded (whole documents: the one that crosses the budget is the last).

    Counts what it yielded (`docs`, `bytes`) and whether the budget cut the input short
    (`truncated`), so callers can say how much text training actually saw.
    """

    paths: list[str]
    max_bytes: int | None = None
    text_key: str = "text"
    quiet: bool = False
    desc: str = "reading"
    docs: int = 0
    bytes: int = 0
    truncated: bool = False

    def __iter__(self) -> Iterator[str]:
        # the progress bar's total, from the Parquet footers only (a JSON Lines file has none)
        counted = not (self.max_bytes or self.quiet or any(is_jsonl(p) for p in self.paths))
        total = sum(pq.ParquetFile(p).metadata.num_rows for p in self.paths) if counted else None
        bar = tqdm(total=total, desc=self.desc, unit="doc", disable=self.quiet or None, leave=True)
        try:
            for path in self.paths:
                for texts in read_batches(path, self.text_key):
                    for text in texts:
                        bar.update(1)
                        if not text:
                            continue
                        if self.max_bytes is not None and self.bytes >= self.max_bytes:
                            self.truncated = True
                            return
                        self.docs += 1
                        self.bytes += len(text.encode("utf-8"))
                        yield text
                    bar.set_postfix(MB=f"{self.bytes / 1e6:,.1f}", refresh=False)
        finally:
            bar.close()
