"""Atomic files and completion markers.

Every output is written to a temporary name in the same folder, flushed to disk (fsync), and
renamed into place, and the folder is flushed too, so a killed run (or a power cut) leaves
either the whole file or none of it, and a completion marker is never on disk before what it
vouches for. On object storage (a `RemotePath`) the temporary file is local and is uploaded
when complete. A task's marker holds the task's stats, so a rerun skips it and still reports them.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from corpusforge.io.paths import AnyPath, RemotePath, local_file

TMP_SUFFIX = ".tmp"


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


@contextmanager
def atomic_path(path: AnyPath) -> Iterator[Path]:
    """Yield a local temporary path; on success rename (or upload) it to `path`, on failure
    delete it."""
    if isinstance(path, RemotePath):
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            path.upload(tmp)
        finally:
            tmp.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        yield tmp
        _fsync(tmp)  # the bytes reach the disk before the name does: no empty file after a crash
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(path.parent, directory=True)  # and the rename itself survives a power cut


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: AnyPath, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: AnyPath, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_npy(path: AnyPath, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def load_npy(path: AnyPath, mmap: bool = False) -> np.ndarray:
    """A saved array, memory-mapped if asked (a remote one from a local copy)."""
    if mmap:
        return np.load(local_file(path), mmap_mode="r")
    if isinstance(path, RemotePath):
        return np.load(io.BytesIO(path.read_bytes()))
    return np.load(path)


def remove_stale_tmp(folder: AnyPath) -> None:
    """Delete temporary files a killed run left behind."""
    if isinstance(folder, RemotePath) or not folder.exists():
        return  # remote outputs have their temporary files on the local disk
    for p in folder.rglob(f".*{TMP_SUFFIX}"):
        p.unlink(missing_ok=True)


class Markers:
    """Completion markers of one phase: `<dir>/task-00000.json`, holding the task's result."""

    def __init__(self, folder: AnyPath) -> None:
        self.folder = folder

    def path(self, task: int) -> AnyPath:
        return self.folder / f"task-{task:05d}.json"

    def done(self, task: int) -> bool:
        return self.path(task).is_file()

    def load(self, task: int) -> Any:
        return json.loads(self.path(task).read_text())

    def mark(self, task: int, result: Any) -> None:
        write_json_atomic(self.path(task), result)
