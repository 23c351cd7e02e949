"""Cut the stage list into phases at the global stages.

    reader, a, b, G1, c, G2, d, writer
    ──► stream 0: read input files → a, b, G1.prepare → work shards
    ──► G1's global steps (each a set of independent tasks over files)
    ──► stream 1: work shards → G1.run, c, G2.prepare → work shards
    ──► G2's global steps
    ──► stream 2: work shards → G2.run, d → data/part-*.parquet

Streaming phases have one task per input range: the reader may cut a big file into byte
ranges (`Reader.split`; warc_reader does for gzipped WARCs over `split_bytes`), else a file
is one range. Tasks are numbered from the sorted input list, then the ranges in file order,
so the tasks' order is the documents' order in the input, whatever the split size; a later
streaming phase's task n reads the work shard that task n of the phase before wrote, so a
document keeps its (task, row) position through the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from corpusforge.engine.config import PipelineConfig
from corpusforge.engine.stage import GlobalStage, Reader, Stage
from corpusforge.io.paths import AnyPath, file_sizes
from corpusforge.stages.parquet_writer import ParquetWriter


@dataclass(frozen=True)
class StreamPhase:
    index: int
    streaming: tuple[int, ...]  # streaming stages to run, as indexes into the config's stage list
    apply_global: int | None  # a global stage whose run() opens this phase
    prepare_global: int | None  # a global stage whose prepare() closes this phase
    final: bool  # writes the corpus (data/) rather than work shards

    @property
    def name(self) -> str:
        return f"{self.index:02d}-stream"


@dataclass(frozen=True)
class GlobalPhase:
    index: int
    stage: int  # index into the config's stage list
    step: int  # which of the stage's steps
    step_name: str

    @property
    def name(self) -> str:
        return f"{self.index:02d}-{self.step_name}"


Phase = StreamPhase | GlobalPhase


def plan_phases(config: PipelineConfig) -> list[Phase]:
    stages = config.stages
    last = len(stages) - 1
    phases: list[Phase] = []
    current: list[int] = []
    opening: int | None = None
    for i in range(1, last):  # the reader and the writer are the phases' ends, not members
        stage = stages[i].stage
        if isinstance(stage, GlobalStage) and stage.is_global():
            phases.append(StreamPhase(len(phases), tuple(current), opening, i, final=False))
            for step_no, step in enumerate(stages[i].stage.steps()):  # type: ignore[attr-defined]
                phases.append(GlobalPhase(len(phases), i, step_no, f"{stages[i].label}-{step.name}"))
            current, opening = [], i
        else:
            current.append(i)
    phases.append(StreamPhase(len(phases), tuple(current), opening, None, final=True))
    return phases


def describe_phases(config: PipelineConfig, phases: list[Phase]) -> str:
    lines = []
    for p in phases:
        if isinstance(p, StreamPhase):
            parts = []
            if p.apply_global is not None:
                parts.append(f"{config.stages[p.apply_global].label}.run")
            parts += [config.stages[i].label for i in p.streaming]
            if p.prepare_global is not None:
                parts.append(f"{config.stages[p.prepare_global].label}.prepare")
            src = config.stages[0].label if p.index == 0 else "work shards"
            dst = config.stages[-1].label if p.final else "work shards"
            lines.append(f"phase {p.name}: {src} → {' → '.join(parts) or '(pass)'} → {dst}")
        else:
            lines.append(f"phase {p.name}: global step of {config.stages[p.stage].label}")
    return "\n".join(lines)


@dataclass
class JobStages:
    """The configured stages as every job carries them: built by the driver; a worker sets them
    up once per `key`."""

    stages: list[Stage]
    key: str
    labels: list[str]
    work_dirs: list[AnyPath]  # each stage's own folder under work/


@dataclass(frozen=True)
class TaskInput:
    """What one streaming task reads: a byte range of an input file (phase 0), or the work
    shard its documents were written to (later phases), with the input bytes behind it."""

    path: str
    start: int = 0
    end: int | None = None  # None: to the end of the file
    size: int = 0  # the input bytes this task stands for (its range), for progress

    @property
    def label(self) -> str:
        """The task's name in logs, markers and errors: the file, and the range if it is one."""
        if self.start == 0 and self.end is None:
            return self.path
        return f"{self.path} [bytes {self.start}-{self.start + self.size})"


def input_tasks(config: PipelineConfig) -> list[TaskInput]:
    """The first phase's tasks: each input file (sorted) cut into the reader's ranges, in
    file order. Only the files' sizes are read here; the same files and config give the same
    tasks, so a rerun resumes them."""
    reader = config.built[0]
    assert isinstance(reader, Reader)
    tasks = []
    for path, size in zip(config.inputs, file_sizes(config.inputs)):
        for start, end in reader.split(path, size):
            tasks.append(TaskInput(path, start, end, (size if end is None else end) - start))
    return tasks


@dataclass
class StreamJob:
    """One streaming task, fully specified: the worker only wires these parts together."""

    stages: JobStages
    phase: StreamPhase
    task: int
    input: TaskInput  # a range of an input file (phase 0) or the work shard this task reads
    writer: ParquetWriter  # the configured writer (last phase) or a work-shard writer
    out_dir: AnyPath
    prefix: str
    schema: pa.Schema
    markers: AnyPath
    rejected: int  # documents to sample per drop reason
    rejected_file: AnyPath
    log_file: AnyPath  # where third-party libraries' log lines go (engine/task_log.py)

    @property
    def source(self) -> str:
        return self.input.label


@dataclass
class GlobalJob:
    stages: JobStages
    phase: GlobalPhase
    task: int
    n_stream_tasks: int
    markers: AnyPath


def job_stages(config: PipelineConfig) -> JobStages:
    work = config.output / "work"
    return JobStages(
        config.built,
        repr([(s.name, s.args) for s in config.stages]),
        [s.label for s in config.stages],
        [work / f"stage-{i:02d}-{s.label}" for i, s in enumerate(config.stages)],
    )


def markers_dir(config: PipelineConfig, phase: Phase) -> AnyPath:
    return config.output / "work" / "markers" / phase.name


def rejected_task_file(config: PipelineConfig, phase: StreamPhase, task: int) -> AnyPath:
    return config.output / "work" / "rejected" / phase.name / f"task-{task:05d}.jsonl"


def stream_jobs(
    config: PipelineConfig, phase: StreamPhase, sources: list[TaskInput], schema: pa.Schema
) -> list[StreamJob]:
    """The tasks of a streaming phase, one per source (the input ranges, or the last phase's shards)."""
    stages, final = job_stages(config), phase.final
    out_dir = config.output / "data" if final else config.output / "work" / phase.name
    return [
        StreamJob(
            stages,
            phase,
            t,
            source,
            config.built[-1] if final else ParquetWriter(max_rows=2**62, max_bytes=2**62),
            out_dir,
            f"part-{t:05d}" if final else f"task-{t:05d}",
            schema,
            markers_dir(config, phase),
            config.rejected,
            rejected_task_file(config, phase, t),
            config.output / "logs" / phase.name / f"task-{t:05d}.log",
        )  # fmt: skip
        for t, source in enumerate(sources)
    ]


def global_jobs(config: PipelineConfig, phase: GlobalPhase, n_stream_tasks: int) -> list[GlobalJob]:
    """The tasks of one global step, as many as the step asks for."""
    step = config.built[phase.stage].steps()[phase.step]  # type: ignore[attr-defined]
    stages, markers = job_stages(config), markers_dir(config, phase)
    return [GlobalJob(stages, phase, t, n_stream_tasks, markers) for t in range(step.n_tasks(n_stream_tasks))]
