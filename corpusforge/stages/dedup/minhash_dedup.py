"""Near-duplicate removal with MinHash LSH, in phases that scale past one machine's memory.

1. `prepare` (per streaming task): shingle and sign every document (corpusforge.stages.dedup.minhash),
   cut each signature into `bands` × `rows`, and write the band keys with the document's
   row into `partitions` files by key; also, for `verify`, every document's shingle hashes
   (32 bits each, streamed to disk in input order) and text lengths (for `keep: longest`).
2. step `buckets` (per key partition): sort the keys of all tasks by (band, key, task, row).
   Without `verify`, every member of a bucket is linked to the bucket's first member (not
   all pairs). With `verify` (the default), the LSH net is cast wide (`recall_bands`: a pair
   at threshold + 0.05 is missed with probability <= 1e-4) and the bucket pairs to check
   (`_candidate_pairs`) go to `partitions` files by a hash of the pair.
2b. step `verify` (per pair partition; with `verify`): each candidate pair once, linked only
   if the *exact* Jaccard of its two shingle sets, read back from the shingle files, is at
   least `threshold`: the decision follows the true similarity, not the signature estimate
   (bench/dedup_quality.py). A document's shingles are read when a pair needs them, so
   memory holds one chunk of pairs' sets, never all hashes or all candidate pairs.
3. step `clusters` (one task): connected components by union-find over one parent array of
   all documents (4 bytes each), the edges streamed from their partition files in batches and
   re-read for each pass (`component_minima`), so memory does not grow with the edges; one
   survivor per cluster, the first by (task, row) or the longest text (`keep: longest`, ties
   to the first).
4. `run` (per streaming task): drop the other members, or in annotate mode keep them and
   write `dup_cluster` (the survivor's position among the documents this stage saw, in
   input order, from 0: the same whatever the number of tasks an input is split into) and
   `dup_cluster_size`.
5. `finish`: the report's summary, `OUTPUT/minhash_dedup.json` (corpusforge.stages.dedup.summary).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import BinaryIO, Literal

import numpy as np
import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.stage import Decides, GlobalStage, GlobalStep, StageContext
from corpusforge.io.atomic import atomic_path, load_npy, save_npy
from corpusforge.io.paths import AnyPath, local_file
from corpusforge.stages.dedup.minhash import (
    MinHasher,
    Scheme,
    band_keys,
    component_minima,
    fmix,
    optimal_bands,
    recall_bands,
    text_shingle_hashes,
    unique_pairs,
)
from corpusforge.stages.dedup.summary import write_summary

_BATCH_CHARS = 1 << 23  # a batch is also cut at this much text: its UTF-32 and word arrays stay ~100 MB
_LOOKBACK = 16  # with verify, each bucket member is also checked against this many members before it
_KEY = [("band", "<u2"), ("key", "<u8"), ("row", "<u4")]
_EDGE = [("a", "<i8"), ("b", "<i8")]  # node = task << 32 | row
_EDGE_BATCH = 1 << 20  # edges per union-find batch: ~50 MB of temporaries


def _edges(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(len(a), dtype=_EDGE)
    out["a"], out["b"] = a, b
    return out


class _ShingleReader:
    """One document's shingle hashes at a time, read from the files `prepare` wrote: a read
    per document, not a memory map, so the process holds only what a chunk of pairs needs
    (mapped pages of every file would count in its memory); the most recent files stay open."""

    _OPEN = 64

    def __init__(self, work_dir: AnyPath, values: Callable, offsets: Callable) -> None:
        self.work_dir, self.values_path, self.offsets_path = work_dir, values, offsets
        self.files: dict[int, tuple[BinaryIO, np.ndarray]] = {}

    def read(self, task: int, row: int) -> np.ndarray:
        if task not in self.files:
            if len(self.files) >= self._OPEN:
                self.files.pop(next(iter(self.files)))[0].close()
            offsets = load_npy(self.offsets_path(self.work_dir, task), mmap=True)
            self.files[task] = (open(local_file(self.values_path(self.work_dir, task)), "rb"), offsets)
        f, offsets = self.files[task]
        lo, hi = int(offsets[row]), int(offsets[row + 1])
        f.seek(4 * lo)
        return np.frombuffer(f.read(4 * (hi - lo)), dtype="<u4")

    def close(self) -> None:
        for f, _ in self.files.values():
            f.close()
        self.files.clear()


def node(task: np.ndarray | int, row: np.ndarray | int) -> np.ndarray:
    return (np.asarray(task, dtype=np.int64) << 32) | np.asarray(row, dtype=np.int64)


class MinHashDeduplicator(Decides, GlobalStage):
    """Drop documents whose word-shingle Jaccard similarity with an earlier one is `threshold`
    or more: LSH candidates whose exact shingle Jaccard is at least `threshold` (`verify`, the
    default), or every LSH candidate (`verify: false`, bands × rows for `threshold` itself:
    the S-curve alone decides). See bench/dedup_quality.py."""

    name = "minhash_dedup"
    reason_column = False  # annotate mode writes the cluster columns instead

    def __init__(
        self,
        ngram: int = 5,
        num_perm: int = 128,
        threshold: float = 0.8,
        bands: int | None = None,
        rows: int | None = None,
        seed: int = 1,
        scheme: Literal["rminhash", "affine32", "affine64", "legacy"] = "rminhash",
        verify: bool = True,
        keep: Literal["first", "longest"] = "first",
        partitions: int = 16,
        batch_docs: int = 256,
        mode: Literal["drop", "annotate"] = "drop",
    ) -> None:
        if ngram < 1 or num_perm < 2 or not 0 < threshold <= 1 or not 1 <= partitions <= 4096:
            raise ValueError("need ngram >= 1, num_perm >= 2, 0 < threshold <= 1, 1 <= partitions <= 4096")
        if (bands is None) != (rows is None):
            raise ValueError("give both bands and rows, or neither (then they follow from threshold)")
        if bands is None:
            # with verify, cast a wide net for recall and let the exact Jaccard decide
            bands, rows = recall_bands(threshold, num_perm) if verify else optimal_bands(threshold, num_perm)
        if bands * rows > num_perm:
            raise ValueError(f"bands × rows = {bands * rows} exceeds num_perm = {num_perm}")
        self.ngram, self.num_perm, self.threshold, self.seed = ngram, num_perm, threshold, seed
        self.bands, self.rows = bands, rows
        self.scheme: Scheme = scheme
        self.verify, self.keep, self.partitions, self.batch_docs, self.mode = verify, keep, partitions, batch_docs, mode
        self._hasher: MinHasher | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_hasher": None}  # rebuilt in each worker

    @property
    def hasher(self) -> MinHasher:
        if self._hasher is None:
            self._hasher = MinHasher(self.num_perm, self.seed, self.scheme)
        return self._hasher

    def columns(self) -> dict[str, pa.DataType]:
        return {"dup_cluster": pa.string(), "dup_cluster_size": pa.int64()} if self.annotate else {}

    # --- phase 1: signatures and band keys -------------------------------------------

    def signatures(self, texts: list[str]) -> np.ndarray:
        """(len(texts) × num_perm) MinHash signatures (see corpusforge.stages.dedup.minhash)."""
        return self.hasher.signatures(*text_shingle_hashes(texts, self.ngram))

    def prepare(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        keys, lengths, empty = [], [], []
        batch: list[Document] = []
        chars = 0
        with ExitStack() as stack:
            shingle_file = None
            sizes: list[np.ndarray] = []
            if self.verify:  # streamed: at 4 bytes a shingle, a big task's would not fit in memory
                tmp = stack.enter_context(atomic_path(self._shingle_path(ctx.work_dir, ctx.task)))
                shingle_file = stack.enter_context(open(tmp, "wb"))

            def flush() -> None:
                hashes, counts = text_shingle_hashes([d.text for d in batch], self.ngram)
                sig = self.hasher.signatures(hashes, counts)
                empty.append(counts == 0)  # no shingles: never a duplicate
                keys.append(band_keys(sig, self.bands, self.rows))
                lengths.append(np.fromiter((len(d.text) for d in batch), dtype=np.int64, count=len(batch)))
                if shingle_file is not None:
                    # 32 bits: two sets of 1,000 shingles share a false collision with probability ~2e-4
                    shingle_file.write(hashes.astype("<u4").tobytes())
                    sizes.append(counts)
                batch.clear()

            for doc in docs:
                batch.append(doc)
                chars += len(doc.text)
                if len(batch) >= self.batch_docs or chars >= _BATCH_CHARS:
                    flush()
                    chars = 0
                yield doc
            if batch:
                flush()
            if self.verify:
                counts = np.concatenate(sizes) if sizes else np.empty(0, dtype=np.int64)
                save_npy(self._offsets_path(ctx.work_dir, ctx.task), np.concatenate([[0], np.cumsum(counts)]))
        k = np.concatenate(keys) if keys else np.empty((0, self.bands), dtype=np.uint64)
        keep = ~np.concatenate(empty) if empty else np.empty(0, dtype=bool)
        rows = np.repeat(np.arange(len(k), dtype=np.uint32)[keep], self.bands)
        band = np.tile(np.arange(self.bands, dtype=np.uint16), int(keep.sum()))
        flat = k[keep].ravel()
        part = (flat % np.uint64(self.partitions)).astype(np.int64)
        for p in range(self.partitions):
            sel = part == p
            entries = np.empty(int(sel.sum()), dtype=_KEY)
            entries["band"], entries["key"], entries["row"] = band[sel], flat[sel], rows[sel]
            save_npy(ctx.work_dir / "keys" / f"p{p:04d}" / f"task-{ctx.task:05d}.npy", entries)
        save_npy(
            ctx.work_dir / "lengths" / f"task-{ctx.task:05d}.npy",
            np.concatenate(lengths) if lengths else np.empty(0, dtype=np.int64),
        )

    @staticmethod
    def _shingle_path(work_dir: AnyPath, task: int) -> AnyPath:
        return work_dir / "shingles" / f"task-{task:05d}.bin"

    @staticmethod
    def _offsets_path(work_dir: AnyPath, task: int) -> AnyPath:
        return work_dir / "shingles" / f"task-{task:05d}.npy"

    def steps(self) -> list[GlobalStep]:
        verify = [GlobalStep("verify", n_tasks=lambda n: self.partitions, run=self._verify)] if self.verify else []
        return [
            GlobalStep("buckets", n_tasks=lambda n: self.partitions, run=self._buckets),
            *verify,
            GlobalStep("clusters", n_tasks=lambda n: 1, run=self._clusters),
        ]

    # --- phase 2: buckets → candidate pairs (verify) or edges ----------------------------

    def _buckets(self, partition: int, work_dir: AnyPath, n_tasks: int) -> None:
        folder = work_dir / "keys" / f"p{partition:04d}"
        parts = [load_npy(folder / f"task-{t:05d}.npy") for t in range(n_tasks)]
        entries = np.concatenate(parts) if parts else np.empty(0, dtype=_KEY)
        tasks = np.repeat(np.arange(n_tasks, dtype=np.int64), [len(p) for p in parts])
        order = np.lexsort((entries["row"], tasks, entries["key"], entries["band"]))
        band, key = entries["band"][order], entries["key"][order]
        nodes = node(tasks[order], entries["row"][order])
        opens = np.ones(len(nodes), dtype=bool)  # the first entry of each bucket
        opens[1:] = (band[1:] != band[:-1]) | (key[1:] != key[:-1])
        head = np.maximum.accumulate(np.where(opens, np.arange(len(nodes)), 0))  # each entry's bucket head
        members = np.flatnonzero(~opens)
        if self.verify:
            a, b = self._candidate_pairs(head, members, nodes)
            # a near pair shares buckets in most bands, so in many key partitions: send each
            # pair to one verify partition by the pair itself, which checks it once
            mixed = fmix(fmix(a.astype(np.uint64), 64) ^ b.astype(np.uint64), 64)
            dest = (mixed % np.uint64(self.partitions)).astype(np.int64)
            for p in range(self.partitions):
                sel = dest == p
                save_npy(work_dir / "candidates" / f"p{p:04d}" / f"from-{partition:04d}.npy", _edges(a[sel], b[sel]))
        else:  # everyone in a bucket ends in one cluster: linking to the head is enough
            a, b = unique_pairs(nodes[head[members]], nodes[members])  # a pair is found in several bands
            save_npy(work_dir / "edges" / f"p{partition:04d}.npy", _edges(a, b))

    def _candidate_pairs(
        self, head: np.ndarray, members: np.ndarray, nodes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The distinct (earlier, later) node pairs to verify in the buckets: each member
        with its bucket head and the `_LOOKBACK` members just before it.

        Checking against the head alone loses pairs: two near copies that share a bucket
        with an unrelated head would both fail, and nothing would link them. With the
        look-back every pair of a bucket of up to _LOOKBACK + 2 documents is checked (most
        buckets have 2 or 3); in a bigger one (many copies of one page, mostly) a member
        still finds its recent look-alikes, and the work stays linear.
        """
        a, b = [head[members]], [members]
        later = members
        for back in range(1, _LOOKBACK + 1):
            earlier = later - back
            later = later[earlier > head[later]]  # still inside the bucket, and not its head
            if not len(later):
                break
            a.append(later - back)
            b.append(later)
        return unique_pairs(nodes[np.concatenate(a)], nodes[np.concatenate(b)])  # a pair is found in several bands

    def _verify(self, partition: int, work_dir: AnyPath, n_tasks: int) -> None:
        """This partition's candidate pairs (from every key partition), deduplicated, kept
        where the exact shingle Jaccard is at least `threshold`."""
        folder = work_dir / "candidates" / f"p{partition:04d}"
        parts = [load_npy(folder / f"from-{p:04d}.npy") for p in range(self.partitions)]
        pairs = np.concatenate(parts) if parts else np.empty(0, dtype=_EDGE)
        a, b = unique_pairs(pairs["a"], pairs["b"])
        keep = self._exact_jaccard(a, b, work_dir) >= self.threshold
        save_npy(work_dir / "edges" / f"p{partition:04d}.npy", _edges(a[keep], b[keep]))

    def _exact_jaccard(self, a: np.ndarray, b: np.ndarray, work_dir: AnyPath) -> np.ndarray:
        """The exact Jaccard of the shingle sets of nodes a[i] and b[i], from the shingle files.

        Pairs go in chunks; within one, each document's set is read and sorted once (a
        document is in several pairs of a cluster), then dropped with the chunk.
        """
        reader = _ShingleReader(work_dir, self._shingle_path, self._offsets_path)

        def shingle_set(nd: int) -> np.ndarray:
            return np.unique(reader.read(nd >> 32, nd & 0xFFFFFFFF))

        out = np.empty(len(a))
        step = 1 << 12
        try:
            for lo in range(0, len(a), step):
                sets: dict[int, np.ndarray] = {}
                for i, (x, y) in enumerate(zip(a[lo : lo + step].tolist(), b[lo : lo + step].tolist()), start=lo):
                    sx = sets[x] if x in sets else sets.setdefault(x, shingle_set(x))
                    sy = sets[y] if y in sets else sets.setdefault(y, shingle_set(y))
                    at = np.minimum(np.searchsorted(sy, sx), len(sy) - 1)
                    common = int(np.count_nonzero(sy[at] == sx))
                    out[i] = common / (len(sx) + len(sy) - common)
        finally:
            reader.close()
        return out

    # --- phase 3: clusters → survivors ------------------------------------------------

    def _clusters(self, _task: int, work_dir: AnyPath, n_tasks: int) -> None:
        # documents by their position in the input: task t's rows follow the documents of tasks < t
        counts = [len(load_npy(work_dir / "lengths" / f"task-{t:05d}.npy", mmap=True)) for t in range(n_tasks)]
        first_of_task = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])

        def edge_batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for p in range(self.partitions):  # one partition's edges in memory at a time
                edges = load_npy(work_dir / "edges" / f"p{p:04d}.npy")
                for lo in range(0, len(edges), _EDGE_BATCH):
                    e = edges[lo : lo + _EDGE_BATCH]
                    yield (
                        first_of_task[e["a"] >> 32] + (e["a"] & 0xFFFFFFFF),
                        first_of_task[e["b"] >> 32] + (e["b"] & 0xFFFFFFFF),
                    )

        label = component_minima(int(first_of_task[-1]), edge_batches)  # the first of each one's cluster
        sizes = np.bincount(label, minlength=len(label))
        members = np.flatnonzero((sizes > 1)[label])  # positions in a cluster of 2 or more, in input order
        first = label[members].astype(np.int64)
        task = np.searchsorted(first_of_task, members, side="right") - 1
        if self.keep == "longest" and len(members):
            lengths = np.empty(len(members), dtype=np.int64)
            for t in np.unique(task):
                sel = task == t
                rows = members[sel] - first_of_task[t]
                lengths[sel] = load_npy(work_dir / "lengths" / f"task-{t:05d}.npy", mmap=True)[rows]
            # longest first, ties to the first in input order: sort by (cluster, -length, position)
            order = np.lexsort((members, -lengths, first))
            head = np.ones(len(order), dtype=bool)
            head[1:] = first[order][1:] != first[order][:-1]
            clusters = first[order][head]  # sorted
            survivor = members[order][head][np.searchsorted(clusters, first)]
        else:
            survivor = first
        s_task = np.searchsorted(first_of_task, survivor, side="right") - 1
        fields = [("node", "<i8"), ("survivor", "<i8"), ("size", "<i8"), ("position", "<i8")]
        out = np.empty(len(members), dtype=fields)
        out["node"] = node(task, members - first_of_task[task])
        out["survivor"] = node(s_task, survivor - first_of_task[s_task])
        out["size"] = sizes[first]
        out["position"] = survivor  # the survivor's position among the documents
        save_npy(work_dir / "clusters.npy", out)  # sorted by node, i.e. by (task, row)

    # --- phase 4: removal ---------------------------------------------------------------

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        clusters = load_npy(ctx.work_dir / "clusters.npy", mmap=True)  # this task's slice is read
        lo, hi = np.searchsorted(clusters["node"], [node(ctx.task, 0), node(ctx.task + 1, 0)])
        mine = clusters[lo:hi]
        members = {
            int(n) & 0xFFFFFFFF: (int(s), int(z), int(at))
            for n, s, z, at in zip(mine["node"], mine["survivor"], mine["size"], mine["position"])
        }
        me = int(node(ctx.task, 0))

        def verdicts() -> Iterator[tuple[Document, str | None]]:
            for row, doc in enumerate(docs):
                info = members.get(row)
                if self.annotate:
                    doc.metadata["dup_cluster"] = str(info[2]) if info else None
                    doc.metadata["dup_cluster_size"] = info[1] if info else 1
                yield doc, None if info is None or info[0] == me + row else "near_duplicate"

        yield from self.keep_or_drop(verdicts(), ctx)

    def finish(self, work_dir: AnyPath, output_dir: AnyPath, n_stream_tasks: int, label: str) -> None:
        if not (work_dir / "clusters.npy").is_file():  # work/ deleted: keep the summary written before
            return
        clusters = load_npy(work_dir / "clusters.npy")
        _, first = np.unique(clusters["survivor"], return_index=True)
        documents = sum(
            len(load_npy(work_dir / "lengths" / f"task-{t:05d}.npy", mmap=True)) for t in range(n_stream_tasks)
        )
        write_summary(output_dir, label, self.name, documents, clusters["size"][first])
