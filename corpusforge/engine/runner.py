"""Run a pipeline: check the output folder, plan phases, execute them, report.

A rerun with the same config skips every task that has a completion marker, so a killed
run continues where it stopped. A different config in the same output folder is an error
unless `overwrite` is set, so old and new outputs never mix silently.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from corpusforge.engine.card import CARD_FILE, is_ours, write_card
from corpusforge.engine.config import PipelineConfig
from corpusforge.engine.executor import make_executor
from corpusforge.engine.planner import (
    GlobalPhase,
    Phase,
    StreamPhase,
    TaskInput,
    global_jobs,
    input_tasks,
    job_stages,
    markers_dir,
    plan_phases,
    rejected_task_file,
    stream_jobs,
)
from corpusforge.engine.rejected import gather
from corpusforge.engine.stage import GlobalStage
from corpusforge.engine.stats import StageStats, format_table, merge_stats
from corpusforge.engine.tasks import run_global_task, run_stream_task
from corpusforge.errors import OutputMismatchError
from corpusforge.io.atomic import Markers, remove_stale_tmp, write_json_atomic
from corpusforge.io.paths import AnyPath
from corpusforge.io.run_folder import Fingerprint, RunFolder, read_fingerprint
from corpusforge.stages.parquet_writer import footer, make_schema

# What a run writes into its output folder; --overwrite removes exactly these.
OUTPUT_ENTRIES = (
    "config.yaml",
    "stats.json",
    "data",
    "work",
    "rejected",
    "logs",
    "contamination.json",
    "exact_dedup.json",
    "minhash_dedup.json",
    "quality_classifier.json",
    "report.html",
    "ablation.json",
)


def _made_by_a_run(folder: AnyPath) -> bool:
    """A run folder from before the .corpusforge marker: its config.yaml has our hash."""
    saved = folder / "config.yaml"
    return saved.is_file() and {"hash", "stages"} <= set(read_fingerprint(saved))


def is_run_folder(path: AnyPath) -> bool:
    """Whether `path` holds a pipeline run's output (ours to write into)."""
    return RunFolder.owned(path, "pipeline") or _made_by_a_run(path)


def output_folder(path: AnyPath, inputs: list[str] = []) -> RunFolder:  # noqa: B006 - never mutated
    """A pipeline output folder (see `RunFolder`)."""
    return RunFolder(path, "pipeline", OUTPUT_ENTRIES, inputs=inputs, legacy=_made_by_a_run)


def run_pipeline(
    config: PipelineConfig, overwrite: bool = False, quiet: bool = False, report: bool = False
) -> list[StageStats]:
    """Run (or resume) the pipeline, holding the output folder's lock throughout (and while
    writing report.html, if asked); returns the merged per-stage stats."""
    started = time.perf_counter()
    phases = plan_phases(config)
    built = config.built
    columns = dict(built[0].input_columns(config.inputs))  # type: ignore[attr-defined]
    for stage in built:
        columns.update(stage.columns())
    schema = make_schema(columns, footer(config.hash()))  # inputs and schema are checked before anything is written
    # The resolved config, with its hash; the output path may change (a moved folder resumes).
    files = {"files": digests} if (digests := config.file_digests()) else {}
    fingerprint = Fingerprint(
        "config.yaml", config.resolved() | files | {"hash": config.hash()}, may_change=("output",)
    )
    with output_folder(config.output, config.inputs) as folder:
        folder.start(overwrite, "a run made with a different config", fingerprint)
        card = config.output / CARD_FILE
        if overwrite and card.is_file() and is_ours(card):  # not in OUTPUT_ENTRIES: a README of yours stays
            card.unlink()
        folder.save(fingerprint)
        stages = _run(config, phases, schema, started, quiet)
        if report:
            write_report_after_run(config.output, quiet)
    return stages


def write_report_after_run(output: AnyPath, quiet: bool) -> None:
    """Write OUTPUT/report.html after a run; a failure is a warning, never a failed run."""
    try:
        from corpusforge.report import write_report

        path = write_report(output)
    except Exception as exc:  # noqa: BLE001 - the corpus is written; the report is a bonus
        print(
            f"warning: the run finished but its report could not be written: {type(exc).__name__}: {exc} "
            f"(try `corpusforge report {output}`)",
            file=sys.stderr,
        )
        return
    if not quiet:
        print(f"report: {path}", file=sys.stderr)


def _check_resumed_sources(config: PipelineConfig, markers: Markers, jobs: list, todo: list) -> None:
    """A resumed run's finished tasks must have read what the same task numbers read now: an
    input file that changed size since (or could not be found then) cuts into other ranges,
    and every later task would be numbered differently."""
    pending = {j.task for j in todo}
    for job in jobs:
        if job.task not in pending and (was := markers.load(job.task).get("source")) != job.source:
            raise OutputMismatchError(
                f"{config.output}: task {job.task} of the run being resumed read {was}, but now reads "
                f"{job.source}: the input files changed since the run started; use --overwrite to start again"
            )


def _run(config: PipelineConfig, phases: list[Phase], schema: Any, started: float, quiet: bool) -> list[StageStats]:
    out = config.output
    sources = input_tasks(config)
    n_tasks = len(sources)
    per_task: list[list[dict[str, Any]]] = []
    ran = 0  # tasks run by this invocation (0: the run was already complete)
    global_seconds: Counter = Counter()
    with make_executor(
        config.executor,
        config.workers,
        address=config.ray_address,
        quiet=quiet,
        preload=[
            "corpusforge.engine.tasks",
            "corpusforge.stages",
            *dict.fromkeys(m for s in config.built for m in s.preload),
        ],
    ) as ex:
        for phase in phases:
            markers = Markers(markers_dir(config, phase))
            if isinstance(phase, StreamPhase):
                jobs = stream_jobs(config, phase, sources, schema)
                todo = [j for j in jobs if not markers.done(j.task)]
                if phase.index == 0 and len(todo) < len(jobs):
                    _check_resumed_sources(config, markers, jobs, todo)
                ran += len(todo)
                ex.map(
                    run_stream_task,
                    todo,
                    [j.source for j in todo],
                    desc=f"phase {phase.name}",
                    sizes=[j.input.size for j in todo],
                )
                done = [markers.load(t) for t in range(n_tasks)]
                per_task.extend(d["stats"] for d in done)
                if not phase.final:  # a shard stands for the input bytes its documents came from
                    sources = [TaskInput(d["files"][0], size=s.size) for d, s in zip(done, sources)]
            else:
                assert isinstance(phase, GlobalPhase)
                gjobs = global_jobs(config, phase, n_tasks)
                todo_g = [j for j in gjobs if not markers.done(j.task)]
                ran += len(todo_g)
                ex.map(
                    run_global_task, todo_g, [f"{phase.name} task {j.task}" for j in todo_g], desc=f"phase {phase.name}"
                )
                for j in gjobs:
                    global_seconds[config.stages[phase.stage].label] += markers.load(j.task)["seconds"]

    remove_stale_tmp(out)  # what workers killed mid-task (and retried by Ray) left behind
    work_dirs = job_stages(config).work_dirs
    for spec, work_dir in zip(config.stages, work_dirs):
        if isinstance(spec.stage, GlobalStage):
            spec.stage.finish(work_dir, out, n_tasks, spec.label)

    if config.rejected:
        files = [rejected_task_file(config, p, t) for p in phases if isinstance(p, StreamPhase) for t in range(n_tasks)]
        gather(files, config.rejected, out / "rejected")

    stages = merge_stats(per_task)
    for s in stages:
        s.seconds += global_seconds.get(s.name, 0.0)
    if ran == 0 and (out / "stats.json").is_file():
        if not (out / CARD_FILE).is_file():  # a run finished before cards existed
            _write_card(config, stages, schema, quiet)
        if not quiet:
            print(f"{out}: already complete, nothing to do (use --overwrite to run it again)", file=sys.stderr)
            print(format_table(stages), file=sys.stderr)
        return stages
    wall = time.perf_counter() - started
    write_json_atomic(
        out / "stats.json",
        {
            "stages": [s.to_json() for s in stages],
            "wall_seconds": round(wall, 3),
            "workers": config.workers,
            "executor": config.executor,
            "config_hash": config.hash(),
            "shards": sorted(str(p.relative_to(out)) for p in (out / "data").glob("*.parquet")),
        },
    )
    _write_card(config, stages, schema, quiet)
    if not quiet:
        print(format_table(stages, wall), file=sys.stderr)
        print(
            f"corpus: {out / 'data'}   stats: {out / 'stats.json'}   dataset card: {out / CARD_FILE}", file=sys.stderr
        )
    return stages


def _write_card(config: PipelineConfig, stages: list[StageStats], schema: Any, quiet: bool) -> None:
    shards = len(list((config.output / "data").glob("*.parquet")))
    if not write_card(config, stages, schema, shards) and not quiet:
        print(
            f"warning: {config.output / CARD_FILE} was not written by corpusforge: left as it is, so the "
            "dataset card (and load_dataset's view of data/*.parquet) is yours to keep up to date",
            file=sys.stderr,
        )
