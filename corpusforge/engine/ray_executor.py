"""Run the tasks of a phase as Ray tasks: on a local Ray instance, or on a cluster.

The same contract as `LocalExecutor`: `map(fn, jobs, labels, desc)` calls a picklable
function on picklable jobs and returns the results in job order. One Ray task per job, at
most `2 × workers` in flight (never the whole phase queued at once); the jobs are small
descriptions of files, and the data moves through those files (local paths on a shared
filesystem, or any pyarrow.fs URI), never through Ray's object store.

Failures:
- a worker process that dies (killed, out of memory, its node lost) is a system failure:
  Ray runs the task again, up to `max_retries` times. Tasks write their outputs atomically
  and their completion marker last, so a retried task redoes its work from the start and
  gives the same bytes;
- an exception in the task is an application failure: not retried (it would fail again);
  no further task starts, the tasks already running finish (as in the local pool), and the
  phase fails with `TaskFailedError` naming the task's input file, with the remote
  traceback. Finished tasks keep their markers, so a rerun only does the rest.

Progress: while the bar is shown, workers report documents done and input bytes read to one
small counter actor, batched to at most one call per task every 0.5 s; the driver asks it for
news between waits, and shows them as the local pool does (`PhaseBar`: bytes with a rate and
an ETA, given the jobs' sizes).

With no `address`, `ray.init(num_cpus=workers)` starts a local instance, which `close()`
shuts down again; with an address ("auto", "host:6379", "ray://host:10001") it joins that
cluster and only disconnects. If Ray is already initialized in this process (a notebook, a
test), that instance is used and left running.

A local instance costs about 3 s to start, none of it an option of `ray.init` changes;
`close()` stops the autoscaler monitor first, so shutting down takes 0.3 s instead of 1.3 s.
The stages are imported in the workers (`preload`) as the first phase starts, as the local
pool's forkserver does. The figures and what was tried are in bench/README.md (ray_overhead).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from corpusforge.engine.executor import Executor, PhaseBar
from corpusforge.engine.worker import call_task, progress_to
from corpusforge.errors import CorpusforgeError, TaskFailedError

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayError, RayTaskError
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise CorpusforgeError(
        f"the ray executor needs Ray ({_exc}); install it with: pip install 'corpusforge[ray]'"
    ) from None

log = logging.getLogger(__name__)

MAX_RETRIES = 3  # reruns of a task whose worker died (system failures only)


class _ActorProgress:
    """Inside a Ray worker: `report_progress(docs, bytes)` adds up here and goes to the counter
    actor at most every `interval` seconds (and once more when the task ends, `flush`), so many
    workers reporting every few documents do not flood the one actor with calls."""

    interval = 0.5

    def __init__(self, counter: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.counter = counter
        self.clock = clock
        self.docs = self.bytes = 0
        self.sent = clock()

    def put(self, n_docs: int, n_bytes: int = 0) -> None:
        self.docs += n_docs
        self.bytes += n_bytes
        now = self.clock()
        if (self.docs or self.bytes) and now - self.sent >= self.interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self.docs or self.bytes:
            self.counter.add.remote(self.docs, self.bytes)  # fire and forget
            self.docs = self.bytes = 0
        self.sent = self.clock() if now is None else now


@ray.remote(num_cpus=0)
class _ProgressCounter:
    """Documents done and bytes read since the driver last asked: feeds the progress bar."""

    def __init__(self) -> None:
        self.docs = self.bytes = 0

    def add(self, n_docs: int, n_bytes: int = 0) -> None:
        self.docs += n_docs
        self.bytes += n_bytes

    def take(self) -> tuple[int, int]:
        news, self.docs, self.bytes = (self.docs, self.bytes), 0, 0
        return news


def _run_task(fn: Callable[[Any], Any], job: Any, label: str, cwd: str, counter: Any) -> Any:
    """One job, in a Ray worker: run where the driver runs (relative paths mean the same),
    with progress going to the counter actor; errors name the job's input file."""
    if cwd and os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    progress = _ActorProgress(counter) if counter is not None else None
    try:
        with progress_to(progress):
            return call_task(fn, job, label)
    finally:
        if progress is not None:
            try:
                progress.flush()
            except Exception:  # noqa: BLE001 - progress is cosmetic; never mask the task's outcome
                pass


def _stop_local_instance() -> None:
    """`ray.shutdown()` of the local instance `ray.init` started, a second sooner.

    Ray stops the GCS before the autoscaler monitor, whose SIGTERM handler then blocks trying
    to report to the GCS until Ray SIGKILLs it a second later (1.0 of the 1.3 s shutdown on
    the 2-core machine). Killing the monitor first skips that wait: the instance has one node
    and is going away, so the monitor has nothing to clean up (and SIGKILL, unlike SIGTERM,
    sends no "autoscaler failed" error to this driver). The monitor is found through Ray's
    private node handle; where that is missing (another Ray version), this is plain shutdown.
    """
    try:
        node = ray._private.worker._global_node
        monitors = [info.process for info in node.all_processes.get("monitor", [])] if node is not None else []
    except AttributeError:
        monitors = []
    for process in monitors:
        try:
            process.kill()
            process.wait(timeout=1.0)
        except (OSError, subprocess.TimeoutExpired):
            pass
    ray.shutdown()


def _preload(modules: list[str]) -> None:
    """Import the stages once in a worker while the driver still prepares the phase."""
    import importlib

    for name in modules:
        importlib.import_module(name)


class RayExecutor(Executor):
    """Ray tasks, `2 × workers` in flight; a local instance of `workers` CPUs without `address`."""

    def __init__(
        self,
        workers: int,
        address: str | None = None,
        quiet: bool = False,
        preload: Sequence[str] = (),
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.workers = workers
        self.address = address
        self.quiet = quiet
        self.preload = list(preload)
        self.max_retries = max_retries
        self.in_flight = 2 * workers
        self._started = False  # we called ray.init, so close() calls ray.shutdown
        self._ready = False
        self._remote: Any = None
        self._counter: Any = None
        self._cwd = os.getcwd()

    # --- lifecycle ------------------------------------------------------------------------

    def _start(self) -> None:
        if self._ready:
            return
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": True,
            }
            try:
                if self.address:
                    ray.init(address=self.address, **options)
                else:  # "local": a new instance, never one that RAY_ADDRESS or `ray start` left around
                    ray.init(address="local", num_cpus=self.workers, **options)
            except (ConnectionError, ValueError) as exc:
                raise CorpusforgeError(
                    f"cannot join the Ray cluster at {self.address!r}: {exc}. Start one with `ray start --head` "
                    "(and `ray start --address HEAD:6379` on the other nodes), or leave the address empty to "
                    "start a local Ray instance. A cluster with token authentication also needs "
                    "RAY_AUTH_MODE=token here, and its token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
                ) from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise CorpusforgeError("the Ray cluster has no CPUs to run tasks on")
        # Enough queued that no CPU waits for the driver, few enough that a failed phase
        # stops quickly and the driver never holds the whole phase as pending tasks.
        self.in_flight = 2 * max(self.workers, cpus)
        self._remote = ray.remote(_run_task).options(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)
        if self.preload:
            warm = ray.remote(_preload).options(num_cpus=1, max_retries=0)
            for _ in range(min(self.workers, cpus)):
                warm.remote(self.preload)  # not waited for: a failure shows up in the real task
        self._ready = True

    def close(self) -> None:
        if self._counter is not None:
            try:
                ray.kill(self._counter)
            except Exception:  # noqa: BLE001 - best effort, the job's end reaps it anyway
                pass
            self._counter = None
        if self._started and ray.is_initialized():
            if self.address is None:
                _stop_local_instance()
            else:
                ray.shutdown()  # joined a cluster: only disconnects
        self._started = self._ready = False

    # --- running a phase ------------------------------------------------------------------

    def _run(self, fn, jobs, labels, bar: PhaseBar, results) -> None:
        self._start()
        if bar.shown and self._counter is None:
            self._counter = _ProgressCounter.remote()
        counter = self._counter if bar.shown else None
        running: dict[Any, int] = {}
        submitted = 0
        failure: TaskFailedError | None = None
        try:
            while (submitted < len(jobs) and failure is None) or running:
                while failure is None and submitted < len(jobs) and len(running) < self.in_flight:
                    ref = self._remote.remote(fn, jobs[submitted], labels[submitted], self._cwd, counter)
                    running[ref] = submitted
                    submitted += 1
                done, _ = ray.wait(list(running), num_returns=1, timeout=0.25)
                if done:  # and whatever else finished meanwhile
                    rest = [r for r in running if r not in done]
                    done += ray.wait(rest, num_returns=len(rest), timeout=0)[0] if rest else []
                for ref in done:
                    i = running.pop(ref)
                    try:
                        results[i] = self._result(ref, labels[i])
                    except TaskFailedError as exc:
                        failure = failure or exc  # the first one; let the running tasks finish and mark
                        continue
                    bar.task_done()
                if counter is not None:
                    bar.put(*self._take(counter))
            if counter is not None:  # what the last tasks flushed as they ended
                bar.put(*self._take(counter))
        except BaseException:
            for ref in running:
                ray.cancel(ref)
            raise
        if failure is not None:
            raise failure

    def _result(self, ref: Any, label: str) -> Any:
        try:
            return ray.get(ref)
        except RayTaskError as exc:  # the task raised: _call already named the file
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if isinstance(cause, CorpusforgeError):
                raise TaskFailedError(str(cause)) from None
            raise TaskFailedError(f"task on {label} failed: {exc}") from None
        except RayError as exc:  # the worker (or its node) died more often than max_retries
            raise TaskFailedError(
                f"a Ray worker died while running {label}, {self.max_retries + 1} time(s) "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "finished tasks are saved: run the same command again to resume"
            ) from None

    @staticmethod
    def _take(counter: Any) -> tuple[int, int]:
        """(documents, bytes) reported since the last call."""
        try:
            docs, n_bytes = ray.get(counter.take.remote(), timeout=1.0)
            return int(docs), int(n_bytes)
        except (GetTimeoutError, RayError):
            return 0, 0
