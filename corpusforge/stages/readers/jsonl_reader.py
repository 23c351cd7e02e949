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


class JsonlReader(Reader):
    """One JSON object per line. `text_key`, `id_key` and `url_key` name the fields;
    `metadata` maps further fields to keep onto their types (string, int, float, bool).
    A document without an id gets `<file name>/<line number>`, which is stable across runs.

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
    ) -> None:
        self.text_key, self.id_key, self.url_key = text_key, id_key, url_key
        for key, typ in metadata.items():
            if typ not in _TYPES:
                raise ValueError(f"metadata.{key}: type must be one of {sorted(_TYPES)}, got {typ!r}")
        self.metadata = dict(metadata)

    def columns(self) -> dict[str, pa.DataType]:
        return {key: _TYPES[typ] for key, typ in self.metadata.items()}

    def read(self, path: str, ctx: StageContext) -> Iterator[Document]:
        stem = Path(path).name
        line_no = 0
        try:
            for line_no, raw in enumerate(read_lines(path), start=1):
                if not raw.strip():
                    continue
                doc, problem = self._document(raw, line_no, stem)
                if problem is not None:
                    log.warning("%s:%d: skipped (%s)", path, line_no, problem[1])
                    ctx.drop(f"jsonl_reader:{problem[0]}")
                elif doc is not None:
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
        url = row.get(self.url_key)
        if url is not None and not isinstance(url, str):
            return None, ("bad_url", f"{self.url_key!r} is a {type(url).__name__}, not a string")
        metadata = {k: row.get(k) for k in self.metadata}
        for key, value in metadata.items():
            if value is not None and not _fits(value, self.metadata[key]):
                return None, ("bad_metadata", f"{key!r} is {value!r}, not {self.metadata[key]}")
            if isinstance(value, int) and self.metadata[key] == "float":
                metadata[key] = float(value)
        doc_id = row.get(self.id_key)
        doc_id = str(doc_id) if doc_id is not None else f"{stem}/{line_no - 1}"
        # only an escape can make a lone surrogate
        if (b"\\ud" in raw or b"\\uD" in raw) and not all(map(_encodable, (text, url, doc_id, *metadata.values()))):
            return None, ("invalid_unicode", "a lone surrogate (\\ud800-\\udfff) that UTF-8 cannot store")
        return Document(id=doc_id, text=text, url=url, metadata=metadata), None
