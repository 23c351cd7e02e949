"""Atomic files and completion markers.

Every output is written to a temporary name in the same folder and renamed into place, so a
killed run leaves either the whole file or none of it. A task's marker is written last and
holds the task's stats, so a rerun can skip the task and still report its numbers.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

TMP_SUFFIX = ".tmp"


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to `path`, on failure delete it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove_stale_tmp(folder: Path) -> int:
    """Delete temporary files a killed run left behind; returns how many."""
    if not folder.exists():
        return 0
    removed = 0
    for p in folder.rglob(f".*{TMP_SUFFIX}"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed


class Markers:
    """Completion markers of one phase: `<dir>/task-00000.json`, holding the task's result."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, task: int) -> Path:
        return self.folder / f"task-{task:05d}.json"

    def done(self, task: int) -> bool:
        return self.path(task).exists()

    def load(self, task: int) -> Any:
        return json.loads(self.path(task).read_text())

    def mark(self, task: int, result: Any) -> None:
        write_json_atomic(self.path(task), result)
