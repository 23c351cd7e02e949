"""Benchmark test sets named in a config (README, "Decontamination"): check them, then read
their texts.

A test set is a file the user names (never downloaded): JSON Lines (`.jsonl`, `.jsonl.gz`,
`.jsonl.zst`), CSV (`.csv`, `.csv.gz`, with a header row) or Parquet (`.parquet`), given as
`{name, path, fields, match}`; `match` is `ngram` or `jaccard` (document-level test sets).

Every record is one *item*; each of its `fields` is one text (a field holding a list of
strings gives one text per element; a null or empty value gives none). `check` runs when the
stage is built, in the main process before any work, so a bad set fails before any work is
done; `read_items` (when the index is built) raises the same ValueError naming the set.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pyarrow.parquet as pq

from corpusforge.errors import ConfigError
from corpusforge.io.paths import is_file, open_text
from corpusforge.schema import Key, validate

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SUFFIXES = {"jsonl": (".jsonl", ".jsonl.gz", ".jsonl.zst"), "csv": (".csv", ".csv.gz"), "parquet": (".parquet",)}


@dataclass(frozen=True)
class TestSet:
    name: str  # letters, digits, _ . -: checked in `parse_test_sets`
    path: Annotated[str, Key(non_empty=True, doc="the test set's file")]
    fields: Annotated[tuple[Annotated[str, Key(non_empty=True)], ...], Key(non_empty=True)]
    match: Literal["ngram", "jaccard"] = "ngram"

    __test__ = False  # not a pytest class

    @property
    def format(self) -> str:
        return file_format(self.path)


def file_format(path: str) -> str:
    return next((fmt for fmt, suffixes in _SUFFIXES.items() if path.lower().endswith(suffixes)), "")


def parse_test_sets(raw: list[dict[str, Any]]) -> list[TestSet]:
    """Validate the `test_sets` key; a ConfigError names the set (or its position)."""
    if not raw:
        raise ConfigError("test_sets is empty: name at least one test set {name, path, fields}")
    sets: list[TestSet] = []
    for i, entry in enumerate(raw):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"test set {name!r}" if isinstance(name, str) else f"test_sets[{i}]"
        if isinstance(entry, dict) and isinstance(entry.get("fields"), str):  # one field, not in a list
            entry = entry | {"fields": [entry["fields"]]}
        ts = TestSet(**validate(TestSet, entry, source=where, quote_keys=True))
        if not _NAME.match(ts.name):
            raise ConfigError(f"{where}: 'name' must be a short name of letters, digits, _ . - (got {ts.name!r})")
        if ts.name in (s.name for s in sets):
            raise ConfigError(f"{where}: the name is used twice")
        sets.append(ts)
    return sets


def check(ts: TestSet) -> None:
    """Cheap checks before any work: the file exists, its format is known, it has at least
    one record and that record (or the CSV header, or the Parquet schema) has every field."""
    where = f"test set {ts.name!r} ({ts.path})"
    if not ts.format:
        raise ValueError(f"{where}: unknown format; use .jsonl, .jsonl.gz, .jsonl.zst, .csv, .csv.gz or .parquet")
    if not is_file(ts.path):
        raise ValueError(f"{where}: file not found")
    if ts.format == "parquet":
        try:
            meta = pq.read_metadata(ts.path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise ValueError(f"{where}: not a readable Parquet file ({exc})") from None
        names = set(meta.schema.to_arrow_schema().names)
        _check_fields(ts, names, where, "columns")
        if meta.num_rows == 0:
            raise ValueError(f"{where}: the test set is empty (no rows)")
        return
    first = next(_records(ts, where), None)
    if first is None:
        raise ValueError(f"{where}: the test set is empty (no records)")
    _check_fields(ts, set(first[1]), where, "fields of its first record")


def _check_fields(ts: TestSet, present: set[str], where: str, what: str) -> None:
    missing = [f for f in ts.fields if f not in present]
    if missing:
        raise ValueError(f"{where}: field(s) {missing} not found; {what}: {', '.join(sorted(present)) or 'none'}")


def _records(ts: TestSet, where: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(record number from 1, record) of a JSONL or CSV test set."""
    try:
        if ts.format == "jsonl":
            with open_text(ts.path) as lines:
                for line_no, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{where}: line {line_no} is not JSON ({exc})") from None
                    if not isinstance(row, dict):
                        raise ValueError(f"{where}: line {line_no} is not a JSON object")
                    yield line_no, row
        else:
            with open_text(ts.path, encoding="utf-8-sig", newline="") as f:
                for row_no, row in enumerate(csv.DictReader(f), start=1):
                    yield row_no, row
    except (UnicodeDecodeError, EOFError, OSError, csv.Error) as exc:
        raise ValueError(f"{where}: unreadable ({type(exc).__name__}: {exc})") from None


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    text = value if isinstance(value, str) else str(value)
    return [text] if text.strip() else []


def read_items(ts: TestSet) -> Iterator[list[str]]:
    """The texts of every item (record), in file order: one list per item."""
    where = f"test set {ts.name!r} ({ts.path})"
    if ts.format == "parquet":
        pf = pq.ParquetFile(ts.path)
        for batch in pf.iter_batches(batch_size=4096, columns=list(ts.fields)):
            columns = [batch.column(f).to_pylist() for f in ts.fields]
            for values in zip(*columns):
                yield [t for v in values for t in _texts(v)]
        return
    for number, record in _records(ts, where):
        missing = [f for f in ts.fields if f not in record]
        if missing:
            unit = "line" if ts.format == "jsonl" else "row"
            raise ValueError(f"{where}: {unit} {number} has no field(s) {missing}")
        yield [t for f in ts.fields for t in _texts(record[f])]
