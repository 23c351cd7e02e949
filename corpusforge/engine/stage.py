"""The stage contract.

A stage is a small class whose constructor arguments are exactly its YAML keys. There are
four kinds:

- `Reader`: turns one input file, or one byte range of it, into documents (the first stage
  of a pipeline);
- `Stage`: a streaming transform, `run(docs, ctx) -> docs`;
- `Filter`: a streaming stage that only decides; `filter(doc)` returns None to keep the
  document or a short reason to drop it. Counting, the annotate mode and the rejected
  sample live here once, not in every filter;
- `GlobalStage`: must see every document before deciding (deduplication, decontamination).
  It runs as `prepare` at the end of one streaming phase, then its global `steps` (each a set
  of independent tasks over files), then `run` at the start of the next streaming phase.

Stages know nothing about executors: they get a `StageContext` with the task number, the
stage's work folder and a `drop` callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, ClassVar, Literal

import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.stats import StageStats
from corpusforge.io.paths import AnyPath


def stage_labels(names: list[str]) -> list[str]:
    """Each stage's label (in stats.json, its work folder, its summary file): its name, then
    `name#2`, `name#3` for the repeats of a name."""
    return [f"{name}#{n + 1}" if (n := names[:i].count(name)) else name for i, name in enumerate(names)]


@dataclass
class StageContext:
    """What a stage knows about the task it runs in."""

    task: int
    source: str  # what the task reads, for messages: a file, or `file [bytes a-b)`
    work_dir: AnyPath
    stats: StageStats
    rejected: Callable[[str, Document], None] | None = None
    position: int = 0  # a reader's offset in its input file as it goes, for progress (0: not told)

    def drop(self, reason: str, doc: Document | None = None) -> None:
        """Count a dropped document under `reason` (and sample it if asked to)."""
        self.stats.dropped[reason] += 1
        if doc is not None and self.rejected is not None:
            self.rejected(reason, doc)


class Stage:
    """A streaming stage. Subclasses set `name` and implement `run`."""

    name: ClassVar[str] = ""
    # Modules `setup` imports: imported once where the workers start from (the local pool's
    # forkserver, Ray's warm-up task), so that each worker does not import them again.
    preload: ClassVar[tuple[str, ...]] = ()

    def columns(self) -> dict[str, pa.DataType]:
        """Metadata columns this stage may write, so every shard has the same schema."""
        return {}

    def check(self) -> None:
        """Check the files this stage's keys name (raise ValueError naming the key); called once,
        in the driver, when the config is read. Constructors do no I/O, so the stage pickles cheaply."""

    def depends_on(self) -> list[str]:
        """Files or folders besides the inputs whose content decides this stage's output (a
        model, block lists, test sets). The config hash covers their content, not only their
        paths, so a retrained model at the same path makes a different run, never a resume."""
        return []

    def setup(self) -> None:
        """Load heavy resources (models); called once per worker process before any task."""

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        raise NotImplementedError


class Reader(Stage):
    """Reads one input file. Stats: `in` counts records seen, `out` documents produced.

    A reader that can cut a big file into pieces read by separate tasks says how in `split`
    and reads a piece in `read_range`. Reading every range of `split`, in order, must give
    exactly the documents (and drop counts) of `read`, in the same order: tasks are numbered
    in file order, so the global stages' "first" (the lowest task, then row) stays the same.
    """

    def read(self, path: str, ctx: StageContext) -> Iterator[Document]:
        raise NotImplementedError

    def split(self, path: str, size: int) -> list[tuple[int, int | None]]:
        """The byte ranges [start, end) of a file of `size` bytes that tasks read apart, in
        file order (end None: to the end); called in the driver, so it should not read the
        file. The default: the whole file, one task."""
        return [(0, None)]

    def read_range(self, path: str, ctx: StageContext, start: int, end: int | None) -> Iterator[Document]:
        """The documents of one range that `split` gave."""
        if start == 0 and end is None:
            return self.read(path, ctx)
        raise NotImplementedError(f"{self.name} does not split files")

    def input_columns(self, paths: list[str]) -> dict[str, pa.DataType]:
        """Metadata columns found in the inputs (for readers of already-extracted corpora)."""
        return {}


class Decides:
    """What a stage that keeps or drops documents shares (filters, exact and MinHash dedup):
    `mode: drop` removes a document that has a reason and counts it as `"<stage>:<reason>"`;
    `mode: annotate` keeps every document and, where the stage has no columns of its own for
    it (`reason_column`), writes the would-be reason into `<stage>_reason` (null when kept)."""

    name: ClassVar[str]
    mode: str
    reason_column: ClassVar[bool] = True

    @property
    def annotate(self) -> bool:
        return self.mode == "annotate"

    def reason_columns(self) -> dict[str, pa.DataType]:
        return {f"{self.name}_reason": pa.string()} if self.annotate and self.reason_column else {}

    def keep_or_drop(self, verdicts: Iterable[tuple[Document, str | None]], ctx: StageContext) -> Iterator[Document]:
        """(document, reason or None) pairs → the documents this mode keeps."""
        reason_key = f"{self.name}_reason" if self.reason_column else None
        for doc, reason in verdicts:
            if self.annotate:
                if reason_key:
                    doc.metadata[reason_key] = reason
                yield doc
            elif reason is None:
                yield doc
            else:
                ctx.drop(f"{self.name}:{reason}", doc)


class Filter(Decides, Stage):
    """Keep, or say why not: `filter(doc)` returns None or a reason, and `Decides` applies the
    mode. In annotate mode the filter's scores go into `<stage>_<score>` columns too (declared
    in `scores`), so thresholds can be tuned from the Parquet output. A filter reports scores
    with `self.record(doc, name=value, ...)`, which costs nothing in drop mode.
    """

    scores: ClassVar[dict[str, pa.DataType]] = {}
    batch_docs: int = 64  # documents handed to filter_batch at a time

    def __init__(self, mode: Literal["drop", "annotate"] = "drop") -> None:
        self.mode = mode

    def filter(self, doc: Document) -> str | None:
        raise NotImplementedError

    def record(self, doc: Document, **scores: Any) -> None:
        if self.annotate:
            for key, value in scores.items():
                doc.metadata[f"{self.name}_{key}"] = value

    def columns(self) -> dict[str, pa.DataType]:
        if not self.annotate:
            return {}
        return self.reason_columns() | {f"{self.name}_{k}": t for k, t in self.scores.items()}

    def filter_batch(self, docs: list[Document]) -> list[str | None]:
        """Decide for several documents at once; override where batching pays (a model)."""
        return [self.filter(doc) for doc in docs]

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        it = iter(docs)
        while batch := list(islice(it, self.batch_docs)):
            yield from self.keep_or_drop(zip(batch, self.filter_batch(batch)), ctx)


@dataclass
class GlobalStep:
    """One phase of a global stage: `n_tasks` independent calls of `run(task, work_dir)`.

    `n_tasks` receives the number of streaming tasks (input files, or their ranges) so that a
    step can be sized by it (one task per streaming task) or by its own partitioning.
    """

    name: str
    n_tasks: Callable[[int], int]
    run: Callable[[int, AnyPath, int], Any]  # (task, stage work dir, number of streaming tasks)


class GlobalStage(Stage):
    """A stage that sees the whole corpus before it decides; see the module docstring."""

    def is_global(self) -> bool:
        """Whether these keys need the global pass. A stage global only for some of its keys
        (quality_classifier: `select: top_fraction`) says False for the others, and is then run
        as a streaming stage (`run` alone; `finish` still follows the run)."""
        return True

    def prepare(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        """Streaming pass before the cut: record what the global steps need, per task."""
        return iter(docs)

    def steps(self) -> list[GlobalStep]:
        return []

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        """Streaming pass after the cut: apply the global decision."""
        return iter(docs)

    def finish(self, work_dir: AnyPath, output_dir: AnyPath, n_stream_tasks: int, label: str) -> None:
        """After the last phase (and again when a finished run is rerun): write the stage's
        report into the output folder from what its tasks left in `work_dir`; `label` is the
        stage's name in stats (`exact_dedup#2` for a second one), which names its summary file."""
