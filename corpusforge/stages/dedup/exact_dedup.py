"""Exact deduplication: keep the first occurrence of each normalized text in the corpus.

"First" means the lowest (task, row): tasks are numbered from the sorted input list (then a
split file's ranges in file order) and rows count documents in order within a task, so the
survivor depends neither on the number of workers nor on the split size. The text is normalized (Unicode NFKC, lowercased, whitespace collapsed) and
hashed to 64 bits with xxh3; the work is split by hash range so memory goes per hash
(16 bytes a document in one partition at a time), never per document text:

1. `prepare` (per streaming task): write (hash, row) of every document, split into
   `partitions` files by the hash's top bits;
2. step `find` (per partition): sort all tasks' entries by (hash, task, row) and write the
   (task, row) of every document that is not the first of its hash;
3. `run` (per streaming task): drop those rows, or in annotate mode mark them;
4. `finish`: the report's summary, `OUTPUT/exact_dedup.json` (corpusforge.stages.dedup.summary).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np
import pyarrow as pa
import xxhash

from corpusforge.document import Document
from corpusforge.engine.stage import Decides, GlobalStage, GlobalStep, StageContext
from corpusforge.io.atomic import load_npy, save_npy
from corpusforge.io.paths import AnyPath
from corpusforge.stages.dedup.summary import write_summary

_SPACES = re.compile(r"\s+")
_ENTRY = [("hash", "<u8"), ("row", "<u4")]  # what `prepare` writes per document
_SORTED = [("hash", "<u8"), ("task", "<u4"), ("row", "<u4")]  # all tasks' entries, as `find` sorts them


def normalized_hash(text: str) -> int:
    norm = _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    return xxhash.xxh3_64_intdigest(norm.encode("utf-8"))


class ExactDeduplicator(Decides, GlobalStage):
    """Drop every document whose normalized text appeared earlier in the corpus."""

    name = "exact_dedup"

    def __init__(self, partitions: int = 16, mode: Literal["drop", "annotate"] = "drop") -> None:
        if not 1 <= partitions <= 4096:
            raise ValueError("partitions must be between 1 and 4096")
        self.partitions = partitions
        self.mode = mode

    def columns(self) -> dict[str, pa.DataType]:
        return self.reason_columns()

    def prepare(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        hashes: list[int] = []
        for doc in docs:
            hashes.append(normalized_hash(doc.text))
            yield doc
        h = np.array(hashes, dtype=np.uint64)
        rows = np.arange(len(h), dtype=np.uint32)
        part = (h % np.uint64(self.partitions)).astype(np.int64)
        for p in range(self.partitions):
            sel = part == p
            entries = np.empty(int(sel.sum()), dtype=_ENTRY)
            entries["hash"], entries["row"] = h[sel], rows[sel]
            save_npy(ctx.work_dir / "hashes" / f"p{p:04d}" / f"task-{ctx.task:05d}.npy", entries)

    def steps(self) -> list[GlobalStep]:
        return [GlobalStep("find", n_tasks=lambda n_stream_tasks: self.partitions, run=self._find)]

    def _find(self, partition: int, work_dir: AnyPath, n_stream_tasks: int) -> None:
        folder = work_dir / "hashes" / f"p{partition:04d}"
        parts = []
        for task in range(n_stream_tasks):
            e = load_npy(folder / f"task-{task:05d}.npy")
            t = np.empty(len(e), dtype=_SORTED)
            t["hash"], t["task"], t["row"] = e["hash"], task, e["row"]
            parts.append(t)
        allrows = np.concatenate(parts) if parts else np.empty(0, dtype=_SORTED)
        allrows.sort(order=("hash", "task", "row"))
        later = np.zeros(len(allrows), dtype=bool)
        later[1:] = allrows["hash"][1:] == allrows["hash"][:-1]
        dups = allrows[later][["task", "row"]]
        save_npy(work_dir / "duplicates" / f"p{partition:04d}.npy", np.sort(dups, order=("task", "row")))

    def _duplicate_rows(self, ctx: StageContext) -> set[int]:
        rows: set[int] = set()
        for p in range(self.partitions):
            d = load_npy(ctx.work_dir / "duplicates" / f"p{p:04d}.npy", mmap=True)  # this task's slice is read
            lo, hi = np.searchsorted(d["task"], [ctx.task, ctx.task + 1])
            rows.update(d["row"][lo:hi].tolist())
        return rows

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        duplicates = self._duplicate_rows(ctx)
        yield from self.keep_or_drop(
            ((doc, "duplicate" if row in duplicates else None) for row, doc in enumerate(docs)), ctx
        )

    def finish(self, work_dir: AnyPath, output_dir: AnyPath, n_stream_tasks: int, label: str) -> None:
        folder = work_dir / "hashes"
        if not (folder / "p0000" / "task-00000.npy").is_file():  # work/ deleted: keep the summary written before
            return
        documents, sizes = 0, []
        for p in range(self.partitions):  # one partition in memory at a time, as in `find`
            hashes = np.concatenate(
                [load_npy(folder / f"p{p:04d}" / f"task-{t:05d}.npy")["hash"] for t in range(n_stream_tasks)]
            )
            _, counts = np.unique(hashes, return_counts=True)
            documents += len(hashes)
            sizes.append(counts[counts > 1])
        write_summary(output_dir, label, self.name, documents, np.concatenate(sizes))
