"""The work of one task, as run inside a worker process.

A streaming task reads one input range (a file, or a byte range of one) or work shard,
pushes its documents through the phase's stages one at a time, writes the phase's shards
atomically, and last writes its completion marker (which holds its stats). A global task
runs one step of a global stage over files. The planner has decided everything about a task
(`StreamJob`, `GlobalJob`); this module only wires the parts together, counts and times them.
The stages come built with the job; a worker sets up (loads the models of) each stage a task
runs once per pipeline, and only those: a global step run in the driver (a one-task step)
does not load the extraction and language models it never uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from corpusforge.document import Document
from corpusforge.engine.planner import GlobalJob, JobStages, StreamJob, StreamPhase, TaskInput
from corpusforge.engine.rejected import RejectedSampler
from corpusforge.engine.stage import GlobalStage, Reader, Stage, StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.engine.task_log import third_party_logs_to
from corpusforge.engine.worker import report_progress
from corpusforge.io.atomic import Markers
from corpusforge.stages.readers.parquet_reader import ParquetReader

_ready: dict[str, tuple[list[Stage], set[int]]] = {}  # pipeline key → its stages here, those set up


def ready_stages(job_stages: JobStages, needed: Iterable[int]) -> list[Stage]:
    """The pipeline's stages in this process, with the `needed` ones (indexes) set up: later
    jobs of the same pipeline use the first job's copies, each stage set up once."""
    stages, done = _ready.setdefault(job_stages.key, (job_stages.stages, set()))
    for i in needed:
        if i not in done:
            stages[i].setup()
            done.add(i)
    return stages


def _phase_stages(phase: StreamPhase, n_stages: int) -> list[int]:
    """The stages a task of this streaming phase runs, by index."""
    ends = [0] if phase.index == 0 else []
    ends += [n_stages - 1] if phase.final else []
    middle = [phase.apply_global, *phase.streaming, phase.prepare_global]
    return ends + [i for i in middle if i is not None]


class _Clock:
    def __init__(self) -> None:
        self.seconds = 0.0


def _timed(items: Iterable[Document], clock: _Clock) -> Iterator[Document]:
    """`items`, adding the time spent producing each one to `clock`: the one timed loop."""
    it = iter(items)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        finally:
            clock.seconds += time.perf_counter() - t0
        yield item


def instrument(
    run: Callable[[Iterable[Document], StageContext], Iterable[Document]],
    docs: Iterable[Document],
    ctx: StageContext,
    count_in: bool = True,
    count_out: bool = True,
) -> Iterator[Document]:
    """Wrap one stage: count documents and bytes in and out, and charge it only its own time
    (its time producing documents minus the time its upstream took to produce its input)."""
    stats = ctx.stats
    upstream, own = _Clock(), _Clock()

    def counted_input() -> Iterator[Document]:
        for doc in _timed(docs, upstream):
            if count_in:
                stats.docs_in += 1
                stats.bytes_in += len(doc.text)
            yield doc

    try:
        for doc in _timed(run(counted_input(), ctx), own):
            if count_out:
                stats.docs_out += 1
                stats.bytes_out += len(doc.text)
            yield doc
    finally:
        stats.seconds += own.seconds - upstream.seconds


class _ByteProgress:
    """Reports the input bytes a task has read: as far as its reader says it has got
    (`ctx.position`), then the rest of its range when it ends, so the tasks' reports add up
    to the phase's input size."""

    def __init__(self, source: TaskInput) -> None:
        self.source, self.reported = source, 0

    def report(self, position: int) -> None:
        done = min(max(position - self.source.start, 0), self.source.size)
        if done > self.reported:
            report_progress(0, done - self.reported)
            self.reported = done

    def finish(self, docs: int) -> None:
        report_progress(docs, self.source.size - self.reported)
        self.reported = self.source.size


def _read_source(reader: Reader, source: TaskInput, ctx: StageContext, progress: _ByteProgress) -> Iterator[Document]:
    stats = ctx.stats
    clock = _Clock()
    try:
        for doc in _timed(reader.read_range(source.path, ctx, source.start, source.end), clock):
            stats.docs_out += 1
            stats.bytes_out += len(doc.text)
            if stats.docs_out % 32 == 0:
                progress.report(ctx.position)
            yield doc
    finally:
        stats.seconds += clock.seconds
    # the file held no record at all: say so, once (the first range; the others may well be
    # empty, when one long record spans them)
    if stats.docs_out == 0 and not stats.dropped and source.start == 0:
        ctx.drop(f"{reader.name}:empty_file")


def run_stream_task(job: StreamJob) -> list[dict[str, Any]]:
    with third_party_logs_to(job.log_file):
        return _run_stream_task(job)


def _run_stream_task(job: StreamJob) -> list[dict[str, Any]]:
    phase = job.phase
    stages = ready_stages(job.stages, _phase_stages(phase, len(job.stages.stages)))
    stats: dict[str, StageStats] = {}
    sampler = RejectedSampler(job.rejected) if job.rejected else None

    def ctx_for(i: int) -> StageContext:
        label = job.stages.labels[i]
        stats.setdefault(label, StageStats(label))
        return StageContext(job.task, job.source, job.stages.work_dirs[i], stats[label], rejected=sampler)

    def hidden(name: str) -> StageContext:  # work shards: read and written, not counted
        return StageContext(job.task, job.source, job.out_dir, StageStats(name))

    progress = _ByteProgress(job.input)  # in later phases: the input bytes behind the shard, at the end
    if phase.index == 0:
        docs: Iterable[Document] = _read_source(stages[0], job.input, ctx_for(0), progress)  # type: ignore[arg-type]
    else:
        docs = ParquetReader().read(job.input.path, hidden("work-reader"))
    if phase.apply_global is not None:
        docs = instrument(stages[phase.apply_global].run, docs, ctx_for(phase.apply_global), count_in=False)
    for i in phase.streaming:
        docs = instrument(stages[i].run, docs, ctx_for(i))
    if phase.prepare_global is not None:
        g = stages[phase.prepare_global]
        assert isinstance(g, GlobalStage)
        docs = instrument(g.prepare, docs, ctx_for(phase.prepare_global), count_out=False)
    # a work shard exists even with no rows: the next phase reads it
    writer = job.writer.bind(job.out_dir, job.prefix, job.schema, write_empty=not phase.final)
    if phase.final:
        docs = instrument(writer.run, docs, ctx_for(len(stages) - 1))
    else:
        docs = writer.run(docs, hidden("work-writer"))

    pending = 0
    for _ in docs:
        pending += 1
        if pending == 64:
            report_progress(pending)
            pending = 0
    progress.finish(pending)

    if phase.index == 0:
        s = stats[job.stages.labels[0]]
        s.docs_in = s.docs_out + sum(s.dropped.values())
    result = [s.to_json() for s in stats.values()]
    if sampler is not None:
        sampler.write(job.rejected_file)
    files = [str(p) for p in writer.files]
    Markers(job.markers).mark(job.task, {"source": job.source, "files": files, "stats": result})
    return result


def run_global_task(job: GlobalJob) -> dict[str, Any]:
    i = job.phase.stage
    g = ready_stages(job.stages, [i])[i]
    assert isinstance(g, GlobalStage)
    t0 = time.perf_counter()
    g.steps()[job.phase.step].run(job.task, job.stages.work_dirs[i], job.n_stream_tasks)
    result = {"label": job.stages.labels[i], "seconds": time.perf_counter() - t0}
    Markers(job.markers).mark(job.task, result)
    return result
