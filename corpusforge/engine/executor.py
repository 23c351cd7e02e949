"""Run the tasks of a phase: inline (1 worker) or on a local process pool; `make_executor`
picks this one or the Ray executor (`corpusforge.engine.ray_executor`, imported only when asked for).
`choose_executor` is the one place that validates and resolves an executor choice (kind,
cluster address, workers), for the CLI flags, a pipeline config and `tokenize()` alike.

Executors know nothing about stages: they call a picklable function on picklable jobs and
return the results in job order. Workers report progress (documents done, input bytes read)
through a queue so the bar moves while a long task runs; given the jobs' input sizes, the bar
counts bytes, with a rate and an ETA, rather than tasks (`PhaseBar`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm import tqdm

from corpusforge.engine.worker import call_task, progress_to, set_progress
from corpusforge.errors import ConfigError, TaskFailedError


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_BYTES_BAR = "{l_bar}{bar}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


class PhaseBar:
    """A phase's progress bar, shared by the executors. Given the jobs' input sizes it counts
    input bytes, so tqdm shows MB done, MB/s and an ETA from bytes done over the phase's
    bytes (one big file split into ranges moves smoothly, where a bar of tasks would sit at
    0/1), with documents, documents/s and tasks done beside it; else it counts tasks.
    Documents and bytes come from the tasks' reports (`put`, also the inline listener)."""

    def __init__(self, desc: str, n_tasks: int, sizes: Sequence[int] | None, quiet: bool) -> None:
        self.by_bytes = sizes is not None
        form: dict[str, Any] = {"unit": "task"}
        if self.by_bytes:  # 12.3MB/45.6MB [00:10<00:27, 1.23MB/s, docs=..., docs/s=..., tasks=3/8]
            form = {"unit": "B", "unit_scale": True, "bar_format": _BYTES_BAR}
        total = sum(sizes) if sizes is not None else n_tasks
        self.bar = tqdm(total=total, desc=desc, disable=quiet or None, leave=True, **form)
        self.n_tasks, self.tasks, self.docs = n_tasks, 0, 0
        self.started = self.shown_at = time.monotonic()

    @property
    def shown(self) -> bool:
        return not self.bar.disable

    def put(self, n_docs: int, n_bytes: int = 0) -> None:
        self.docs += n_docs
        if self.by_bytes and n_bytes > 0:  # a retried task reports its bytes again: never past the total
            self.bar.update(min(n_bytes, self.bar.total - self.bar.n))
        self._postfix()

    def task_done(self) -> None:
        self.tasks += 1
        if not self.by_bytes:
            self.bar.update(1)
        self._postfix(force=True)

    def _postfix(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.bar.disable or (not force and now - self.shown_at < 0.2):
            return
        self.shown_at = now
        info = {}
        if self.docs:
            info = {"docs": f"{self.docs:,}", "docs/s": f"{self.docs / max(now - self.started, 1e-9):,.0f}"}
        if self.by_bytes:
            info["tasks"] = f"{self.tasks}/{self.n_tasks}"
        self.bar.set_postfix(info, refresh=True)

    def close(self) -> None:
        self._postfix(force=True)
        self.bar.close()


class Executor:
    """What both executors share: `map`'s contract and its progress bar, and the `with` block
    that closes them. A subclass runs the jobs in `_run` and frees its workers in `close`."""

    quiet: bool

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def map(
        self,
        fn: Callable[[Any], Any],
        jobs: list[Any],
        labels: list[str],
        desc: str,
        sizes: Sequence[int] | None = None,
    ) -> list[Any]:
        """Run `fn(job)` for every job, results in job order; `labels[i]` names job i (its
        input) in errors; `sizes[i]`, if given, is job i's input bytes, which the bar counts."""
        results: list[Any] = [None] * len(jobs)
        if not jobs:
            return results
        bar = PhaseBar(desc, len(jobs), sizes, self.quiet)
        try:
            self._run(fn, jobs, labels, bar, results)
        finally:
            bar.close()
        return results

    def _run(self, fn: Callable[[Any], Any], jobs: list[Any], labels: list[str], bar: PhaseBar, results: list) -> None:
        raise NotImplementedError


class LocalExecutor(Executor):
    """A process pool of `workers` processes, kept for the whole run; inline for 1 worker."""

    def __init__(self, workers: int, quiet: bool = False, preload: Sequence[str] = ()) -> None:
        self.workers = workers
        self.quiet = quiet
        self.preload = list(preload)
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: workers fork from a clean server that has already imported the
            # stages (trafilatura, lxml), so starting them is cheap and never inherits
            # threads or locks of this process.
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(self.preload)
            self._queue = ctx.Queue()
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=set_progress, initargs=(self._queue,)
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _run(self, fn, jobs, labels, bar: PhaseBar, results) -> None:
        if self.workers == 1 or len(jobs) == 1:
            self._map_inline(fn, jobs, labels, bar, results)
        else:
            self._map_pool(fn, jobs, labels, bar, results)

    def _map_inline(self, fn, jobs, labels, bar: PhaseBar, results) -> None:
        with progress_to(bar):
            for i, job in enumerate(jobs):
                results[i] = call_task(fn, job, labels[i])
                bar.task_done()

    def _map_pool(self, fn, jobs, labels, bar: PhaseBar, results) -> None:
        pool = self._ensure_pool()
        futures: dict[Future, int] = {pool.submit(call_task, fn, job, labels[i]): i for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                bar.put(*self._drain())
                for fut in done:
                    results[futures[fut]] = fut.result()
                    bar.task_done()
            bar.put(*self._drain())
        except BrokenProcessPool:
            unfinished = sorted(labels[futures[f]] for f in pending | {f for f in futures if not f.done()})
            self._pool = None
            raise TaskFailedError(
                "a worker process died (killed, or out of memory) while running "
                f"{', '.join(unfinished[:5]) or 'a task'}{' ...' if len(unfinished) > 5 else ''}; "
                "finished tasks are saved: run the same command again to resume"
            ) from None
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise

    def _drain(self) -> tuple[int, int]:
        """(documents, bytes) the workers reported since the last call."""
        docs = n_bytes = 0
        while self._queue is not None:
            try:
                d, b = self._queue.get_nowait()
            except queue.Empty:
                break
            docs, n_bytes = docs + d, n_bytes + b
        return docs, n_bytes


EXECUTORS = ("local", "ray")


def check_workers(n: Any, name: str = "--workers") -> int:
    """A positive integer (not a bool), or ConfigError naming `name`."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"{name} must be a positive integer, got {n!r}")
    return n


def choose_executor(
    kind: str | None = None, address: str | None = None, workers: int | None = None, config: str | None = None
) -> tuple[str, str | None, int]:
    """Validate and resolve an executor choice → (kind, address, workers).

    kind: "local" or "ray"; None means ray when an address is given, else local. address:
    the Ray cluster to join ("auto", "host:6379", "ray://host:10001"), only with ray; None
    starts a local Ray instance. workers: a positive integer; None means every core.
    Errors are ConfigError naming the command-line flag, or with `config` (a config file)
    that file's `executor.type` / `executor.address` key."""

    def name(flag: str, key: str) -> str:
        return flag if config is None else f"{config}: executor.{key}"

    if kind is None:
        kind = "ray" if address is not None else "local"
    if kind not in EXECUTORS:
        raise ConfigError(f"{name('--executor', 'type')} must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if address is not None:
        if not isinstance(address, str) or not address:
            raise ConfigError(
                f"{name('--ray-address', 'address')} must be 'auto', a cluster address "
                f"(host:6379, ray://host:10001) or unset, got {address!r}"
            )
        if kind != "ray":
            raise ConfigError(
                "--ray-address needs --executor ray"
                if config is None
                else f"{config}: executor.address is only for type: ray"
            )
    return kind, address, default_workers() if workers is None else check_workers(workers, name("--workers", "workers"))


def make_executor(
    kind: str | None, workers: int | None, address: str | None = None, quiet: bool = False, preload: Sequence[str] = ()
) -> Executor:
    """An executor (`map`, `close`, a context manager): `local` (a process pool) or `ray` (Ray tasks; a local instance of `workers` CPUs, or the
    cluster at `address`), as `choose_executor` resolves the choice."""
    kind, address, workers = choose_executor(kind, address, workers)
    if kind == "ray":
        from corpusforge.engine.ray_executor import RayExecutor

        return RayExecutor(workers, address=address, quiet=quiet, preload=preload)
    return LocalExecutor(workers, quiet=quiet, preload=preload)
