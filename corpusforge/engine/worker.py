"""What every executor does inside a worker: run one job with its errors naming the job's input
file, and carry the job's progress reports to whoever listens (a queue, a Ray actor, a bar)."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from corpusforge.errors import TaskFailedError

_progress: Any = None  # in a worker: something with .put(n_docs, n_bytes); None when nobody listens


def report_progress(n_docs: int, n_bytes: int = 0) -> None:
    """Called by tasks every few documents: documents done and input bytes read since the last
    call; cheap when nobody listens."""
    if _progress is not None:
        _progress.put(n_docs, n_bytes)


class _QueueProgress:
    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def put(self, n_docs: int, n_bytes: int) -> None:
        self.queue.put((n_docs, n_bytes))


def set_progress(queue: Any) -> None:
    """A pool worker's initializer: every task of this process reports to `queue`, as
    (documents, bytes) pairs."""
    global _progress
    _progress = _QueueProgress(queue)


@contextmanager
def progress_to(listener: Any) -> Iterator[None]:
    """Report to `listener` for the duration of one job (inline runs, Ray tasks)."""
    global _progress
    previous, _progress = _progress, listener
    try:
        yield
    finally:
        _progress = previous


def call_task(fn: Callable[[Any], Any], job: Any, label: str) -> Any:
    try:
        return fn(job)
    except TaskFailedError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised with the input file named
        raise TaskFailedError(
            f"task on {label} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        ) from None
