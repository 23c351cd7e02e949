"""Read already-extracted corpora from JSON Lines (plain, .gz or .zst by extension)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterator, Literal

import pyarrow as pa

from corpusforge.document import Document
from corpusforge.fs import open_text
from corpusforge.stage import Reader, StageContext

log = logging.getLogger(__name__)

_TYPES = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


class JsonlReader(Reader):
    """One JSON object per line. `text_key`, `id_key` and `url_key` name the fields;
    `metadata` maps further fields to keep onto their types (string, int, float, bool).
    A line that is not JSON, or lacks text, is counted and skipped. A document without an
    id gets `<file name>/<line number>`, which is stable across runs.
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
        try:
            with open_text(path) as lines:
                for line_no, line in enumerate(lines):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                        text = row[self.text_key]
                    except (json.JSONDecodeError, KeyError, TypeError) as exc:
                        log.warning("%s:%d: skipped (%s: %s)", path, line_no + 1, type(exc).__name__, exc)
                        ctx.drop("jsonl_reader:bad_line")
                        continue
                    if not isinstance(text, str) or not text.strip():
                        ctx.drop("jsonl_reader:empty")
                        continue
                    doc_id = row.get(self.id_key)
                    yield Document(
                        id=str(doc_id) if doc_id is not None else f"{stem}/{line_no}",
                        text=text,
                        url=row.get(self.url_key),
                        metadata={k: row.get(k) for k in self.metadata},
                    )
        except (UnicodeDecodeError, EOFError, OSError) as exc:
            log.warning("%s: unreadable (%s: %s); keeping the documents before it", path, type(exc).__name__, exc)
            ctx.drop("jsonl_reader:corrupt_file")
