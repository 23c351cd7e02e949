"""Run a pipeline: check the output folder, plan phases, execute them, report.

A rerun with the same config skips every task that has a completion marker, so a killed
run continues where it stopped. A different config in the same output folder is an error
unless `overwrite` is set, so old and new outputs never mix silently.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator

import yaml

from corpusforge.engine.config import PipelineConfig
from corpusforge.engine.executor import make_executor
from corpusforge.engine.planner import GlobalPhase, StreamPhase, plan_phases
from corpusforge.engine.rejected import gather
from corpusforge.engine.stage import GlobalStage
from corpusforge.engine.stats import StageStats, format_table, merge_stats
from corpusforge.engine.tasks import (
    GlobalJob,
    StreamJob,
    rejected_task_file,
    run_global_task,
    run_stream_task,
    stage_work_dir,
)
from corpusforge.errors import CorpusforgeError, OutputMismatchError
from corpusforge.io.atomic import Markers, remove_stale_tmp, write_json_atomic, write_text_atomic
from corpusforge.io.paths import AnyPath
from corpusforge.io.run_folder import RunFolder
from corpusforge.stages.parquet_writer import make_schema

log = logging.getLogger(__name__)

# What a run writes into its output folder; --overwrite removes exactly these.
OUTPUT_ENTRIES = ("config.yaml", "stats.json", "data", "work", "rejected", "contamination.json", "exact_dedup.json",
                  "minhash_dedup.json", "report.html", "ablation.json")


def read_saved_config(saved: AnyPath) -> dict[str, Any]:
    """OUTPUT/config.yaml as a run wrote it; anything else is an error naming the file."""
    try:
        data = yaml.safe_load(saved.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OutputMismatchError(f"{saved}: not a config corpusforge wrote ({problem}); "
                                  "choose another --output") from None
    if not isinstance(data, dict):
        raise OutputMismatchError(f"{saved}: not a config corpusforge wrote (not a mapping); choose another --output")
    return data


def _made_by_a_run(folder: AnyPath) -> bool:
    """A run folder from before the .corpusforge marker: its config.yaml has our hash."""
    saved = folder / "config.yaml"
    return saved.is_file() and {"hash", "stages"} <= set(read_saved_config(saved))


def is_run_folder(path: AnyPath) -> bool:
    """Whether `path` holds a pipeline run's output (ours to write into)."""
    return RunFolder.owned(path, "pipeline") or _made_by_a_run(path)


def output_folder(path: AnyPath, inputs: list[str] = []) -> RunFolder:  # noqa: B006 - never mutated
    """A pipeline output folder (see `RunFolder`)."""
    return RunFolder(path, "pipeline", OUTPUT_ENTRIES, inputs=inputs, legacy=_made_by_a_run)


@contextmanager
def _output_errors(out: AnyPath) -> Iterator[None]:
    try:
        yield
    except OSError as exc:  # no permission, no such bucket, no credentials...
        raise CorpusforgeError(f"output {out}: cannot be read or written ({exc})") from None


def prepare_output(config: PipelineConfig, folder: RunFolder, overwrite: bool) -> None:
    """Under the folder's lock: refuse (or, with `overwrite`, clear) a run of another config,
    then record this config."""
    out = config.output
    saved = out / "config.yaml"
    if saved.is_file():
        old = read_saved_config(saved)
        if old.get("hash") != config.hash():
            if not overwrite:
                raise OutputMismatchError(
                    f"{out} holds a run made with a different config (hash {old.get('hash')} there, "
                    f"{config.hash()} now); pass --overwrite to replace it, or choose another --output"
                )
            log.warning("overwriting %s (config changed)", out)
            folder.clear()
        elif overwrite:
            folder.clear()
    elif overwrite:
        folder.clear()
    resolved = config.resolved() | {"hash": config.hash()}
    write_text_atomic(saved, yaml.safe_dump(resolved, sort_keys=False))


def run_pipeline(config: PipelineConfig, overwrite: bool = False, quiet: bool = False,
                 report: bool = False) -> list[StageStats]:
    """Run (or resume) the pipeline, holding the output folder's lock throughout (and while
    writing report.html, if asked); returns the merged per-stage stats."""
    started = time.perf_counter()
    phases = plan_phases(config)
    built = [spec.build() for spec in config.stages]
    columns = dict(built[0].input_columns(config.inputs))  # type: ignore[attr-defined]
    for stage in built:
        columns.update(stage.columns())
    schema = make_schema(columns)  # inputs and schema are checked before anything is written
    folder = output_folder(config.output, config.inputs)
    with ExitStack() as held:
        with _output_errors(config.output):  # not the run's own errors: only claiming the folder
            held.enter_context(folder)
            prepare_output(config, folder, overwrite)
        stages = _run(config, phases, built, schema, started, quiet)
        if report:
            write_report_after_run(config.output, quiet)
    return stages


def write_report_after_run(output: AnyPath, quiet: bool) -> None:
    """Write OUTPUT/report.html after a run; a failure is a warning, never a failed run."""
    try:
        from corpusforge.report import write_report

        path = write_report(output)
    except Exception as exc:  # noqa: BLE001 - the corpus is written; the report is a bonus
        print(f"warning: the run finished but its report could not be written: {type(exc).__name__}: {exc} "
              f"(try `corpusforge report {output}`)", file=sys.stderr)
        return
    if not quiet:
        print(f"report: {path}", file=sys.stderr)


def _run(config: PipelineConfig, phases: list, built: list, schema: Any, started: float,
         quiet: bool) -> list[StageStats]:
    out = config.output
    work = out / "work"

    n_tasks = len(config.inputs)
    per_task: list[list[dict[str, Any]]] = []
    ran = 0  # tasks run by this invocation (0: the run was already complete)
    global_seconds: Counter = Counter()
    sources = list(config.inputs)
    with make_executor(config.executor, config.workers, address=config.ray_address, quiet=quiet,
                       preload=["corpusforge.engine.tasks", "corpusforge.stages"]) as ex:
        for phase in phases:
            markers = Markers(work / "markers" / phase.name)
            if isinstance(phase, StreamPhase):
                out_dir = out / "data" if phase.final else work / phase.name
                jobs = [
                    StreamJob(config.stages, phase, t, sources[t], out_dir,
                              f"part-{t:05d}" if phase.final else f"task-{t:05d}", schema, work, markers.folder,
                              rejected=config.rejected)
                    for t in range(n_tasks)
                ]
                todo = [j for j in jobs if not markers.done(j.task)]
                ran += len(todo)
                ex.map(run_stream_task, todo, [j.source for j in todo], desc=f"phase {phase.name}")
                done = [markers.load(t) for t in range(n_tasks)]
                per_task.extend(d["stats"] for d in done)
                if not phase.final:
                    sources = [d["files"][0] for d in done]
            else:
                assert isinstance(phase, GlobalPhase)
                spec = config.stages[phase.stage]
                step = built[phase.stage].steps()[phase.step]  # type: ignore[attr-defined]
                count = step.n_tasks(n_tasks)
                gjobs = [GlobalJob(config.stages, phase, t, n_tasks, work, markers.folder)
                         for t in range(count) if not markers.done(t)]
                ran += len(gjobs)
                ex.map(run_global_task, gjobs, [f"{phase.name} task {j.task}" for j in gjobs],
                       desc=f"phase {phase.name}")
                for t in range(count):
                    global_seconds[spec.label] += markers.load(t)["seconds"]

    remove_stale_tmp(out)  # what workers killed mid-task (and retried by Ray) left behind
    for i, stage in enumerate(built):
        if isinstance(stage, GlobalStage):
            stage.finish(stage_work_dir(work, i, config.stages[i]), out, n_tasks)

    if config.rejected:
        files = [rejected_task_file(work, p, t) for p in phases if isinstance(p, StreamPhase) for t in range(n_tasks)]
        gather(files, config.rejected, out / "rejected")

    stages = merge_stats(per_task)
    for s in stages:
        s.seconds += global_seconds.get(s.name, 0.0)
    if ran == 0 and (out / "stats.json").is_file():
        if not quiet:
            print(f"{out}: already complete, nothing to do (use --overwrite to run it again)", file=sys.stderr)
            print(format_table(stages), file=sys.stderr)
        return stages
    wall = time.perf_counter() - started
    write_json_atomic(out / "stats.json", {
        "stages": [s.to_json() for s in stages],
        "wall_seconds": round(wall, 3),
        "workers": config.workers,
        "executor": config.executor,
        "config_hash": config.hash(),
        "shards": sorted(str(p.relative_to(out)) for p in (out / "data").glob("*.parquet")),
    })
    if not quiet:
        print(format_table(stages, wall), file=sys.stderr)
        print(f"corpus: {out / 'data'}   stats: {out / 'stats.json'}", file=sys.stderr)
    return stages
