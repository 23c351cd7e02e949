"""Read already-extracted corpora from Parquet (our own shards, or any table with a text column)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.document import Document
from corpusforge.engine.stage import Reader, StageContext
from corpusforge.errors import ConfigError

_FOOTER_THREADS = 32
log = logging.getLogger(__name__)


def _schema_or_none(path: str) -> pa.Schema | None:
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        log.warning("%s: not a readable Parquet file (%s: %s); its task will count it", path, type(exc).__name__, exc)
        return None


def _is_string(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_null(typ)


class ParquetReader(Reader):
    """Rows → documents. Every column besides the text, id and url columns becomes metadata,
    so shards written by corpusforge read back unchanged. A row without an id gets
    `<file name>/<row number>`.
    """

    name = "parquet_reader"

    def __init__(
        self, text_key: str = "text", id_key: str = "id", url_key: str = "url", batch_rows: int = 1024
    ) -> None:
        self.text_key, self.id_key, self.url_key = text_key, id_key, url_key
        self.batch_rows = batch_rows
        self._columns: dict[str, pa.DataType] = {}

    def input_columns(self, paths: list[str]) -> dict[str, pa.DataType]:
        """The inputs' metadata columns; a text or url column that is not a string is an error
        naming the file. A file whose footer cannot be read is left to its task, which counts it."""
        # footers are read in parallel: one round trip each, and on object storage 10⁵
        # shards read one after another would take minutes
        with ThreadPoolExecutor(_FOOTER_THREADS) as pool:
            schemas = list(pool.map(_schema_or_none, paths))
        columns: dict[str, pa.DataType] = {}
        for path, schema in zip(paths, schemas):
            if schema is None:
                continue
            if self.text_key not in schema.names:
                raise ConfigError(f"{path}: no column {self.text_key!r} (parquet_reader.text_key)")
            for key, what in ((self.text_key, "text_key"), (self.url_key, "url_key")):
                if key in schema.names and not _is_string(schema.field(key).type):
                    raise ConfigError(
                        f"{path}: column {key!r} (parquet_reader.{what}) is {schema.field(key).type}, "
                        "not a string column"
                    )
            for f in schema:
                if f.name in (self.text_key, self.id_key, self.url_key):
                    continue
                if f.name in columns and columns[f.name] != f.type:
                    raise ConfigError(f"{path}: column {f.name!r} is {f.type}, but {columns[f.name]} elsewhere")
                columns[f.name] = f.type
        self._columns = columns
        return columns

    def columns(self) -> dict[str, pa.DataType]:
        return dict(self._columns)

    def read(self, path: str, ctx: StageContext) -> Iterator[Document]:
        """Rows in order; a file that cannot be read (not Parquet, a corrupt page) is counted as
        `parquet_reader:corrupt_file` after the rows read before the damage."""
        try:
            yield from self._rows(path, ctx)
        except (pa.ArrowException, OSError) as exc:
            log.warning("%s: unreadable (%s: %s); keeping the rows before it", path, type(exc).__name__, exc)
            ctx.drop("parquet_reader:corrupt_file")

    def _rows(self, path: str, ctx: StageContext) -> Iterator[Document]:
        stem = Path(path).name
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        meta_names = [n for n in names if n not in (self.text_key, self.id_key, self.url_key)]
        row = 0
        for batch in parquet.iter_batches(batch_size=self.batch_rows):
            cols = batch.to_pydict()
            texts = cols[self.text_key]
            ids = cols.get(self.id_key)
            urls = cols.get(self.url_key)
            for i, text in enumerate(texts):
                if not text:
                    ctx.drop("parquet_reader:empty")
                else:
                    metadata = {n: cols[n][i] for n in meta_names if cols[n][i] is not None}
                    yield Document(
                        id=str(ids[i]) if ids and ids[i] is not None else f"{stem}/{row + i}",
                        text=text,
                        url=urls[i] if urls else None,
                        metadata=metadata,
                    )
            row += len(texts)
