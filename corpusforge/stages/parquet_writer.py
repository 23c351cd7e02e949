"""Write documents to zstd Parquet shards with one schema for the whole run.

The schema's metadata (the run's config hash and the corpusforge version, see `footer`) is
written into every shard's footer as key-value metadata, so a shard found on its own still says
what made it (`pyarrow.parquet.read_schema(path).metadata`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from corpusforge.document import Document
from corpusforge.engine.stage import Stage, StageContext
from corpusforge.errors import CorpusforgeError, TokenizerError
from corpusforge.io.atomic import atomic_path
from corpusforge.io.paths import AnyPath
from corpusforge.tokenizer.artifact import TOKENIZER_FILE, load_tokenizer

BASE_COLUMNS = {"id": pa.string(), "text": pa.string(), "url": pa.string()}


def footer(config_hash: str) -> dict[str, str]:
    """The key-value metadata every shard of a run carries."""
    from corpusforge import __version__

    return {"corpusforge.config_hash": config_hash, "corpusforge.version": __version__}


def make_schema(metadata_columns: dict[str, pa.DataType], metadata: dict[str, str] | None = None) -> pa.Schema:
    """Columns id, text, url, then the metadata columns in the order stages declared them;
    `metadata` goes into every shard's footer."""
    fields = [pa.field(name, typ) for name, typ in BASE_COLUMNS.items()]
    fields += [pa.field(name, typ) for name, typ in metadata_columns.items() if name not in BASE_COLUMNS]
    return pa.schema(fields, metadata=metadata)


def docs_to_table(docs: list[Document], schema: pa.Schema) -> pa.Table:
    names = schema.names[3:]
    known = set(names)
    for doc in docs:
        extra = doc.metadata.keys() - known
        if extra:
            raise CorpusforgeError(
                f"document {doc.id}: metadata key(s) {sorted(extra)} are not declared by any stage's columns()"
            )
    arrays = [
        pa.array([d.id for d in docs], pa.string()),
        pa.array([d.text for d in docs], pa.string()),
        pa.array([d.url for d in docs], pa.string()),
    ]
    arrays += [pa.array([d.metadata.get(name) for d in docs], schema.field(name).type) for name in names]
    return pa.Table.from_arrays(arrays, schema=schema)


class ParquetWriter(Stage):
    """The pipeline's sink: shards named `<prefix>-<shard>.parquet`, rolled by rows or bytes.

    A shard is closed when it holds `max_rows` documents or `max_bytes` of text; a row
    group is closed when it holds `row_group_rows` documents or `row_group_bytes` of text
    (text is counted in characters for both byte limits), so a run of huge documents does
    not make a giant row group, which readers and the writer itself hold in memory whole.
    Shard and row-group cuts depend only on the task number and the order and length of its
    documents, so the same input and config give the same files.

    `tokenizer` (a `train-tokenizer` folder or a tokenizer.json) adds a `token_count` column:
    each text's tokens without EOS, as FineWeb's column counts them.
    """

    name = "parquet_writer"
    # pa.array() of a Python list imports pandas (to tell pandas objects apart) the first time,
    # ~0.5 s: once in the forkserver rather than in every worker; skipped where pandas is absent
    preload = ("pandas",)

    def __init__(
        self,
        max_rows: int = 100_000,
        max_bytes: int = 512 * 1024 * 1024,
        row_group_rows: int = 10_000,
        row_group_bytes: int = 128 * 1024 * 1024,
        compression: str = "zstd",
        compression_level: int | None = None,
        tokenizer: str | None = None,
    ) -> None:
        if min(max_rows, max_bytes, row_group_rows, row_group_bytes) < 1:
            raise ValueError("max_rows, max_bytes, row_group_rows and row_group_bytes must be positive")
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.compression = compression
        self.compression_level = compression_level
        self.tokenizer = tokenizer
        self._tokenizer: Tokenizer | None = None
        self.folder: AnyPath | None = None
        self.prefix = "part"
        self.schema: pa.Schema | None = None
        self.write_empty = False
        self.files: list[AnyPath] = []

    def columns(self) -> dict[str, pa.DataType]:
        return {"token_count": pa.int64()} if self.tokenizer else {}

    def check(self) -> None:
        if self.tokenizer is not None:
            try:
                load_tokenizer(self.tokenizer)
            except TokenizerError as exc:
                raise ValueError(f"tokenizer: {exc}") from None

    def depends_on(self) -> list[str]:
        if self.tokenizer is None:
            return []
        # tokenizer.json alone decides the ids; training.json records times that differ per retrain
        path = Path(self.tokenizer)
        return [str(path / TOKENIZER_FILE if path.is_dir() else path)]

    def setup(self) -> None:
        if self.tokenizer is not None and self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer).tokenizer

    def __getstate__(self) -> dict[str, Any]:  # the tokenizer is reloaded in each process
        return self.__dict__ | {"_tokenizer": None}

    def bind(self, folder: AnyPath, prefix: str, schema: pa.Schema, write_empty: bool = False) -> ParquetWriter:
        """Set where this task's shards go; `write_empty` writes a shard even with no rows."""
        self.folder, self.prefix, self.schema, self.write_empty = folder, prefix, schema, write_empty
        self.files = []
        return self

    def _shard_path(self, shard: int) -> AnyPath:
        assert self.folder is not None
        return self.folder / f"{self.prefix}-{shard:04d}.parquet"

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        if self.folder is None or self.schema is None:
            raise RuntimeError("ParquetWriter.bind() must be called before run()")
        self.setup()
        shard = 0
        writer: pq.ParquetWriter | None = None
        shard_file = ExitStack()  # the shard's atomic_path: renamed (or uploaded) on success
        rows_in_shard = bytes_in_shard = bytes_in_batch = 0
        batch: list[Document] = []

        def open_shard() -> pq.ParquetWriter:
            tmp = shard_file.enter_context(atomic_path(self._shard_path(shard)))
            return pq.ParquetWriter(
                tmp, self.schema, compression=self.compression, compression_level=self.compression_level
            )

        def close_shard(ok: bool) -> None:
            nonlocal writer
            if writer is not None:
                writer.close()
                if ok:
                    shard_file.close()
                    self.files.append(self._shard_path(shard))
                else:  # called while the exception is handled: atomic_path sees it and deletes the temp file
                    shard_file.__exit__(*sys.exc_info())
            writer = None

        def flush() -> None:  # the batch becomes one row group
            nonlocal writer, bytes_in_batch
            if not batch:
                return
            if writer is None:
                writer = open_shard()
            if self._tokenizer is not None:
                counted = self._tokenizer.encode_batch([d.text for d in batch], add_special_tokens=False)
                for doc, encoding in zip(batch, counted):
                    doc.metadata["token_count"] = len(encoding.ids)
            writer.write_table(docs_to_table(batch, self.schema), row_group_size=len(batch))
            batch.clear()
            bytes_in_batch = 0

        try:
            for doc in docs:
                batch.append(doc)
                rows_in_shard += 1
                bytes_in_shard += len(doc.text)
                bytes_in_batch += len(doc.text)
                yield doc
                if rows_in_shard >= self.max_rows or bytes_in_shard >= self.max_bytes:
                    flush()
                    close_shard(ok=True)
                    shard += 1
                    rows_in_shard = bytes_in_shard = 0
                elif len(batch) >= self.row_group_rows or bytes_in_batch >= self.row_group_bytes:
                    flush()
            flush()
            if writer is None and self.write_empty and shard == 0:
                writer = open_shard()
            close_shard(ok=True)
        except BaseException:
            close_shard(ok=False)
            raise
