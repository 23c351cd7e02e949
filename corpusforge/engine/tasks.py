"""The work of one task, as run inside a worker process.

A streaming task reads one file, pushes its documents through the phase's stages one at a
time, writes the phase's shards atomically, and last writes its completion marker (which
holds its stats). A global task runs one step of a global stage over files. Both rebuild
their stages from the config, once per worker process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.config import StageSpec
from corpusforge.engine.planner import GlobalPhase, StreamPhase
from corpusforge.engine.rejected import RejectedSampler
from corpusforge.engine.stage import GlobalStage, Reader, Stage, StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.engine.worker import report_progress
from corpusforge.io.atomic import Markers
from corpusforge.io.paths import AnyPath
from corpusforge.stages.parquet_writer import ParquetWriter
from corpusforge.stages.readers.parquet_reader import ParquetReader

_built: dict[str, list[Stage]] = {}


def build_stages(specs: list[StageSpec]) -> list[Stage]:
    """The pipeline's stages for this process, built and set up once."""
    key = repr([(s.name, s.args) for s in specs])
    if key not in _built:
        stages = [s.build() for s in specs]
        for stage in stages:
            stage.setup()
        _built[key] = stages
    return _built[key]


def stage_work_dir(work_root: AnyPath, index: int, spec: StageSpec) -> AnyPath:
    """The stage's own folder under work/, `stage-NN-<label>` (corpusforge.stages.dedup.summary
    reads the label back from the name: `GlobalStage.finish` is given the folder, not the label)."""
    return work_root / f"stage-{index:02d}-{spec.label}"


@dataclass
class StreamJob:
    specs: list[StageSpec]
    phase: StreamPhase
    task: int
    source: str
    out_dir: AnyPath
    prefix: str
    schema: pa.Schema
    work_root: AnyPath
    markers: AnyPath
    rejected: int = 0  # documents to sample per drop reason


@dataclass
class GlobalJob:
    specs: list[StageSpec]
    phase: GlobalPhase
    task: int
    n_stream_tasks: int
    work_root: AnyPath
    markers: AnyPath


class _Timer:
    """Time spent pulling documents from upstream, so each stage is charged only its own."""

    def __init__(self) -> None:
        self.seconds = 0.0


def _counted_input(docs: Iterable[Document], stats: StageStats | None, timer: _Timer) -> Iterator[Document]:
    it = iter(docs)
    while True:
        t0 = time.perf_counter()
        try:
            doc = next(it)
        except StopIteration:
            timer.seconds += time.perf_counter() - t0
            return
        timer.seconds += time.perf_counter() - t0
        if stats is not None:
            stats.docs_in += 1
            stats.bytes_in += len(doc.text)
        yield doc


def instrument(
    run: Callable[[Iterable[Document], StageContext], Iterable[Document]],
    docs: Iterable[Document],
    ctx: StageContext,
    count_in: bool = True,
    count_out: bool = True,
) -> Iterator[Document]:
    """Wrap one stage: count documents and bytes in and out, charge it its own time."""
    stats = ctx.stats
    timer = _Timer()
    out = iter(run(_counted_input(docs, stats if count_in else None, timer), ctx))
    while True:
        t0 = time.perf_counter()
        try:
            doc = next(out)
        except StopIteration:
            stats.seconds += time.perf_counter() - t0 - timer.seconds
            return
        stats.seconds += time.perf_counter() - t0 - timer.seconds
        timer.seconds = 0.0
        if count_out:
            stats.docs_out += 1
            stats.bytes_out += len(doc.text)
        yield doc


def _read_source(reader: Reader, path: str, ctx: StageContext) -> Iterator[Document]:
    stats = ctx.stats
    it = iter(reader.read(path, ctx))
    while True:
        t0 = time.perf_counter()
        try:
            doc = next(it)
        except StopIteration:
            stats.seconds += time.perf_counter() - t0
            if stats.docs_out == 0 and not stats.dropped:  # the file held no record at all: say so
                ctx.drop(f"{reader.name}:empty_file")
            return
        stats.seconds += time.perf_counter() - t0
        stats.docs_out += 1
        stats.bytes_out += len(doc.text)
        yield doc


def run_stream_task(job: StreamJob) -> list[dict[str, Any]]:
    stages = build_stages(job.specs)
    phase = job.phase
    stats: dict[str, StageStats] = {}
    sampler = RejectedSampler(job.rejected) if job.rejected else None

    def ctx_for(i: int) -> StageContext:
        label = job.specs[i].label
        stats.setdefault(label, StageStats(label))
        return StageContext(task=job.task, source=job.source,
                            work_dir=stage_work_dir(job.work_root, i, job.specs[i]), stats=stats[label],
                            rejected=sampler)

    if phase.index == 0:
        reader_ctx = ctx_for(0)
        docs: Iterable[Document] = _read_source(stages[0], job.source, reader_ctx)  # type: ignore[arg-type]
    else:
        hidden = StageContext(job.task, job.source, job.work_root, StageStats("work-reader"))
        docs = ParquetReader().read(job.source, hidden)
    if phase.apply_global is not None:
        g = stages[phase.apply_global]
        docs = instrument(g.run, docs, ctx_for(phase.apply_global), count_in=False)
    for i in phase.stages:
        docs = instrument(stages[i].run, docs, ctx_for(i))
    if phase.prepare_global is not None:
        g = stages[phase.prepare_global]
        assert isinstance(g, GlobalStage)
        docs = instrument(g.prepare, docs, ctx_for(phase.prepare_global), count_out=False)

    if phase.final:
        writer = stages[-1]
        assert isinstance(writer, ParquetWriter)
        writer.bind(job.out_dir, job.prefix, job.schema)
        docs = instrument(writer.run, docs, ctx_for(len(stages) - 1))
    else:
        writer = ParquetWriter(max_rows=2**62, max_bytes=2**62).bind(job.out_dir, job.prefix, job.schema,
                                                                     write_empty=True)
        docs = writer.run(docs, StageContext(job.task, job.source, job.work_root, StageStats("work-writer")))

    pending = 0
    for _ in docs:
        pending += 1
        if pending == 64:
            report_progress(pending)
            pending = 0
    report_progress(pending)

    if phase.index == 0:
        s = stats[job.specs[0].label]
        s.docs_in = s.docs_out + sum(s.dropped.values())
    result = [s.to_json() for s in stats.values()]
    if sampler is not None:
        sampler.write(rejected_task_file(job.work_root, phase, job.task))
    Markers(job.markers).mark(job.task, {"source": job.source, "files": [str(p) for p in writer.files],
                                         "stats": result})
    return result


def rejected_task_file(work_root: AnyPath, phase: StreamPhase, task: int) -> AnyPath:
    return work_root / "rejected" / phase.name / f"task-{task:05d}.jsonl"


def run_global_task(job: GlobalJob) -> dict[str, Any]:
    stages = build_stages(job.specs)
    g = stages[job.phase.stage]
    assert isinstance(g, GlobalStage)
    step = g.steps()[job.phase.step]
    t0 = time.perf_counter()
    step.run(job.task, stage_work_dir(job.work_root, job.phase.stage, job.specs[job.phase.stage]), job.n_stream_tasks)
    result = {"label": job.specs[job.phase.stage].label, "seconds": time.perf_counter() - t0}
    Markers(job.markers).mark(job.task, result)
    return result
