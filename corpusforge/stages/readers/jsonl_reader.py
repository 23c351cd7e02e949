"""Read already-extracted corpora from JSON Lines (plain, .gz, .bz2, .xz or .zst by extension)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.stage import Reader, StageContext
from corpusforge.io.paths import TruncatedInput, read_lines

log = logging.getLogger(__name__)

_TYPES = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def _fits(value: Any, typ: str) -> bool:
    if typ == "string":
        return isinstance(value, str)
    if typ == "bool":
        return isinstance(value, bool)
    if typ == "int":  # Parquet's int64
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _encodable(value: Any) -> bool:
    """False for a string holding a lone surrogate (JSON's "\\ud800"), which no UTF-8 file can store."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SAMPLE_LINES = 1_000  # lines per file read to learn the nested fields' types
_SAMPLE_FILES = 8


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return "int"
    if isinstance(value, (int, float)):
        return "float"
    return "string"  # strings, and lists or objects (written as JSON)


def _merge(a: str | None, b: str) -> str:
    if a is None or a == b:
        return b
    return "float" if {a, b} == {"int", "float"} else "string"


def _as_column(value: Any, typ: str) -> Any:
    """A nested field's value as its column stores it; None where it does not fit."""
    if value is None or _fits(value, typ):
        return float(value) if typ == "float" and value is not None else value
    if typ == "string":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return None


class JsonlReader(Reader):
    """One JSON object per line. `text_key`, `id_key` and `url_key` name the fields;
    `metadata` maps further fields to keep onto their types (string, int, float, bool).
    A document without an id gets `<file name>/<line number>`, which is stable across runs.

    Every field of the objects named in `nested` (datatrove's and Dolma's `metadata`, Dolma's
    `attributes`) becomes a column too, its type learned from the first lines of the inputs
    (lists and objects are written as JSON strings; a later value of another type is null), and
    `url_key` and the `metadata` fields are looked for there when the line has no such field
    of its own. A `metadata` field that no document of a file has is a warning with the count.

    Each line is decoded on its own, and a bad one is counted under its reason while the
    lines around it are kept: `bad_encoding` (not UTF-8), `bad_line` (not a JSON object),
    `no_text` (no `text_key`), `empty`, `bad_text` (not a string), `bad_url`, `bad_metadata`
    (a value of another type than declared), `invalid_unicode` (a lone surrogate escape).
    A compressed file cut short keeps every complete line and counts `truncated_file`.
    """

    name = "jsonl_reader"

    def __init__(
        self,
        text_key: str = "text",
        id_key: str = "id",
        url_key: str = "url",
        metadata: dict[str, Literal["string", "int", "float", "bool"]] = {},  # noqa: B006
        nested: list[str] = ["metadata", "attributes"],  # noqa: B006
    ) -> None:
        self.text_key, self.id_key, self.url_key = text_key, id_key, url_key
        self.nested = list(nested)
        self._nested_columns: dict[str, str] = {}
        for key, typ in metadata.items():
            if typ not in _TYPES:
                raise ValueError(f"metadata.{key}: type must be one of {sorted(_TYPES)}, got {typ!r}")
        self.metadata = dict(metadata)

    def input_columns(self, paths: list[str]) -> dict[str, pa.DataType]:
        """The fields of the `nested` objects in the first lines of the first inputs, typed."""
        found: dict[str, str] = {}
        for path in paths[:_SAMPLE_FILES] if self.nested else []:
            try:
                for n, raw in enumerate(read_lines(path)):
                    if n >= _SAMPLE_LINES:
                        break
                    try:
                        row = json.loads(raw)
                    except ValueError:
                        continue  # its task counts it
                    for key, value in self._nested_fields(row).items():
                        if value is not None:
                            found[key] = _merge(found.get(key), _type_of(value))
            except (OSError, TruncatedInput):
                continue  # its task counts it
        own = {self.text_key, self.id_key, self.url_key, *self.metadata}
        self._nested_columns = {k: t for k, t in sorted(found.items()) if k not in own}
        return {key: _TYPES[typ] for key, typ in self._nested_columns.items()}

    def columns(self) -> dict[str, pa.DataType]:
        return {key: _TYPES[typ] for key, typ in self.metadata.items()}

    def _nested_fields(self, row: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if isinstance(row, dict):
            for name in self.nested:
                if isinstance(inner := row.get(name), dict):
                    fields.update((k, v) for k, v in inner.items() if k not in fields)
        return fields

    def read(self, path: str, ctx: StageContext) -> Iterator[Document]:
        stem = Path(path).name
        line_no = docs = 0
        missing = dict.fromkeys(self.metadata, 0)  # documents without each declared field
        try:
            for line_no, raw in enumerate(read_lines(path), start=1):
                if not raw.strip():
                    continue
                doc, problem = self._document(raw, line_no, stem)
                if problem is not None:
                    log.warning("%s:%d: skipped (%s)", path, line_no, problem[1])
                    ctx.drop(f"jsonl_reader:{problem[0]}")
                elif doc is not None:
                    docs += 1
                    for key in missing:
                        missing[key] += doc.metadata[key] is None
                    yield doc
        except TruncatedInput as exc:
            log.warning("%s; kept the %d complete line(s) before the cut", exc, line_no)
            ctx.drop("jsonl_reader:truncated_file")
        except OSError as exc:
            log.warning(
                "%s: unreadable after line %d (%s: %s); keeping the documents before it",
                path,
                line_no,
                type(exc).__name__,
                exc,
            )
            ctx.drop("jsonl_reader:corrupt_file")
        for key in (k for k, n in missing.items() if docs and n == docs):
            log.warning("%s: none of its %d document(s) has the field %r (jsonl_reader.metadata)", path, docs, key)

    def _document(self, raw: bytes, line_no: int, stem: str) -> tuple[Document | None, tuple[str, str] | None]:
        """(document, None), or (None, (reason, what is wrong))."""
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, ("bad_encoding", f"not UTF-8: {exc}")
        if line_no == 1:
            line = line.removeprefix("\ufeff")
        try:
            row = json.loads(line)
        except ValueError as exc:
            return None, ("bad_line", f"not JSON: {exc}")
        if not isinstance(row, dict):
            return None, ("bad_line", f"a JSON {type(row).__name__}, not an object")
        if self.text_key not in row:
            return None, ("no_text", f"no {self.text_key!r} field")
        text = row[self.text_key]
        if text is None or (isinstance(text, str) and not text.strip()):
            return None, ("empty", "empty text")
        if not isinstance(text, str):
            return None, ("bad_text", f"{self.text_key!r} is a {type(text).__name__}, not a string")
        nested = self._nested_fields(row) if self.nested else {}
        url = row[self.url_key] if self.url_key in row else nested.get(self.url_key)
        if url is not None and not isinstance(url, str):
            return None, ("bad_url", f"{self.url_key!r} is a {type(url).__name__}, not a string")
        metadata = {k: row[k] if k in row else nested.get(k) for k in self.metadata}
        for key, value in metadata.items():
            if value is not None and not _fits(value, self.metadata[key]):
                return None, ("bad_metadata", f"{key!r} is {value!r}, not {self.metadata[key]}")
            if isinstance(value, int) and self.metadata[key] == "float":
                metadata[key] = float(value)
        metadata.update((k, _as_column(nested.get(k), t)) for k, t in self._nested_columns.items())
        doc_id = row.get(self.id_key)
        doc_id = str(doc_id) if doc_id is not None else f"{stem}/{line_no - 1}"
        # only an escape can make a lone surrogate
        if (b"\\ud" in raw or b"\\uD" in raw) and not all(map(_encodable, (text, url, doc_id, *metadata.values()))):
            return None, ("invalid_unicode", "a lone surrogate (\\ud800-\\udfff) that UTF-8 cannot store")
        return Document(id=doc_id, text=text, url=url, metadata=metadata), None
