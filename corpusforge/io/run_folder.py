"""The one owner of an output folder: who made it, who is writing it now, what may be cleared,
and whether what it holds was made with the settings of this run. The rules (README, "Output
folders are corpusforge's alone"):

- **Ours only.** A folder that is not empty and has no `.corpusforge` marker of the same kind
  is refused, with or without `--overwrite`. Folders made before the marker existed are
  recognised by their own files (`legacy`) and adopted. `--overwrite` removes only the
  entries that kind of run writes.
- **Never an input.** A folder that contains one of the run's resolved inputs is refused.
- **One live run.** The run holds an exclusive lock from before it reads the saved settings
  until it ends, so the settings check cannot race: locally `flock` on `OUTPUT/.lock`; on
  object storage a lease object refreshed every `LEASE_HEARTBEAT` s (pyarrow offers no
  conditional put, so two runs started within the same second may both take it).
- **One set of settings.** A `Fingerprint` (the resolved pipeline config, the tokenize
  settings...) is saved before any output; a rerun with other values is refused, naming the
  keys that differ, unless `--overwrite` clears the folder. A kind with nothing to compare
  (an export, a tokenizer) refuses any existing output.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from corpusforge.errors import CorpusforgeError, OutputMismatchError
from corpusforge.io.atomic import TMP_SUFFIX, remove_stale_tmp, write_json_atomic, write_text_atomic
from corpusforge.io.paths import AnyPath, RemotePath, is_uri, remove_tree

MARKER = ".corpusforge"
LOCK = ".lock"
LEASE_HEARTBEAT = 30.0  # seconds between lease refreshes on object storage
LEASE_STALE = 4 * LEASE_HEARTBEAT  # a lease not refreshed for this long belongs to a dead run


class FolderError(CorpusforgeError):
    """The output folder is not ours, holds an input, or another run is writing it."""


@dataclass(frozen=True)
class Fingerprint:
    """What decides a folder's outputs: `values`, saved as FOLDER/`file` (JSON for a .json
    file, else YAML). A rerun must bring the same values, but for the keys in `may_change`
    (those that do not change what is computed, such as the folder's own path)."""

    file: str
    values: dict[str, Any]
    may_change: Collection[str] = ()

    def text(self, values: dict[str, Any] | None = None) -> str:
        values = self.values if values is None else values
        if self.file.endswith(".json"):
            return json.dumps(values, indent=2) + "\n"
        return yaml.safe_dump(values, sort_keys=False)

    def changes(self, saved: dict[str, Any]) -> list[str]:
        """The keys whose saved value differs from this run's, both compared as the file
        holds them (YAML has no tuples, say)."""
        old, new = (_parse(self.file, self.text(v)) for v in (saved, self.values))
        return sorted(k for k in old.keys() | new.keys() if k not in self.may_change and old.get(k) != new.get(k))


def read_fingerprint(file: AnyPath) -> dict[str, Any]:
    """A fingerprint as a run saved it; anything else is an error naming the file."""
    try:
        data = _parse(file.name, file.read_text())
    except (ValueError, yaml.YAMLError) as exc:  # UnicodeDecodeError is a ValueError
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OutputMismatchError(f"{file}: not a config corpusforge wrote ({problem})") from None
    if not isinstance(data, dict):
        raise OutputMismatchError(f"{file}: not a config corpusforge wrote (not a mapping)")
    return data


def _parse(name: str, text: str) -> Any:
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


class RunFolder:
    """An output folder of one `kind` (pipeline, tokens, train, tokenizer, ablation, hf-export).

    Use as a context manager: entering takes the lock and checks ownership and inputs;
    `start()` checks what the folder holds against this run; `clear()` removes this kind's
    `entries`; leaving releases the lock.
    """

    def __init__(
        self,
        path: AnyPath,
        kind: str,
        entries: Iterable[str],
        inputs: Iterable[str] = (),
        legacy: Callable[[AnyPath], bool] | None = None,
    ) -> None:
        self.path = path
        self.kind = kind
        self.entries = tuple(entries)
        self.inputs = list(inputs)
        self.legacy = legacy
        self._held: _FileLock | _Lease | None = None

    def __enter__(self) -> RunFolder:
        try:
            with self._usable():
                self.path.mkdir(parents=True, exist_ok=True)
                self._check_inputs()
                self._check_owner(claim=False)  # before the lock: a foreign folder is not touched at all
                held = _Lease(self.path) if isinstance(self.path, RemotePath) else _FileLock(self.path)
                held.acquire()
                self._held = held
                self._check_owner(claim=True)
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None

    @staticmethod
    def owned(path: AnyPath, kind: str) -> bool:
        """Whether `path` holds a `kind` output corpusforge made (its marker says so)."""
        return (path / MARKER).is_file() and _read_json(path / MARKER).get("kind") == kind

    @property
    def is_new(self) -> bool:
        """True when nothing but our own bookkeeping is in the folder yet (the marker, the
        lock, a temporary file of a run killed before its first rename)."""
        return not any(
            n not in (MARKER, LOCK) and not (n.startswith(".") and n.endswith(TMP_SUFFIX)) for n in _names(self.path)
        )

    def clear(self) -> None:
        """Remove what this kind of run writes (never anything else in the folder)."""
        for name in self.entries:
            remove_tree(self.path / name)

    def start(self, overwrite: bool, what: str, fingerprint: Fingerprint | None = None) -> None:
        """Under the lock, before any output: with `overwrite`, clear the folder; else refuse
        outputs made otherwise: those of another fingerprint, or with none to compare, any.
        `what` names them ("token shards made with other settings"). The caller saves its
        fingerprint next (`save`), or last where it also vouches that a step is complete."""
        with self._usable():
            if overwrite:
                self.clear()
            elif fingerprint is None:
                if not self.is_new:
                    raise OutputMismatchError(
                        f"{self.path} already holds {what}; pass --overwrite to replace it, "
                        "or choose another output folder"
                    )
            elif (self.path / fingerprint.file).is_file():
                changed = fingerprint.changes(read_fingerprint(self.path / fingerprint.file))
                if changed:
                    raise OutputMismatchError(
                        f"{self.path} holds {what} (changed: {', '.join(changed)}); "
                        "pass --overwrite to replace it, or choose another output folder"
                    )

    def save(self, fingerprint: Fingerprint) -> None:
        with self._usable():
            write_text_atomic(self.path / fingerprint.file, fingerprint.text())

    @contextmanager
    def _usable(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:  # no permission, no such bucket, no credentials...
            raise FolderError(f"output {self.path}: cannot be read or written ({exc})") from None

    def _check_inputs(self) -> None:
        remote = isinstance(self.path, RemotePath)
        root = str(self.path).rstrip("/") if remote else os.path.realpath(self.path)
        for original in self.inputs:
            if is_uri(original) != remote:
                continue
            resolved = original.rstrip("/") if remote else os.path.realpath(original)
            if resolved == root or resolved.startswith(root + "/"):
                raise FolderError(
                    f"{self.path}: the output folder contains the input {original}; "
                    "choose an output folder outside the inputs"
                )

    def _check_owner(self, claim: bool) -> None:
        """Refuse a folder that is not ours; with `claim` (under the lock) mark it ours and
        clear what a killed run of ours left half-written."""
        marker = self.path / MARKER
        if marker.is_file():
            try:
                kind = json.loads(marker.read_text()).get("kind")
            except (ValueError, AttributeError, UnicodeDecodeError):
                raise FolderError(
                    f"{marker}: not a corpusforge folder marker (unreadable); choose another output folder"
                ) from None
            if kind != self.kind:
                raise FolderError(
                    f"{self.path} holds a corpusforge {kind} output, not a {self.kind} output; "
                    "choose another output folder"
                )
        elif not self.is_new and not (self.legacy is not None and self.legacy(self.path)):
            raise FolderError(
                f"{self.path} is not empty and was not made by corpusforge (no {MARKER} file): "
                "nothing in it is written over or deleted; choose a new or empty folder"
            )
        if claim:
            remove_stale_tmp(self.path)
            if not marker.is_file():
                write_json_atomic(marker, {"kind": self.kind, "made_by": "corpusforge"})


def _names(folder: AnyPath) -> list[str]:
    if isinstance(folder, RemotePath):
        return [p.name for p in folder.iterdir()]
    return os.listdir(folder) if folder.is_dir() else []


def _holder() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "another run (it has not written its details yet)"
    return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}"


class _FileLock:
    """flock on FOLDER/.lock, holding the holder's details; removed when released."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / LOCK
        self.fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise FolderError(f"{self.file}: cannot lock the output folder ({exc})") from None
                raise FolderError(
                    f"{self.file.parent} is being written by another corpusforge run "
                    f"({_describe(_read_json(self.file))}); wait for it to finish, "
                    "or choose another output folder"
                ) from None
            # the holder before us may have removed the file between our open and our lock
            try:
                same = os.stat(self.file).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.file.unlink(missing_ok=True)  # while still locked: the next run makes a new one
        finally:
            os.close(self.fd)
            self.fd = None


class _Lease:
    """A lease object on object storage, refreshed by a daemon thread while the run lives."""

    def __init__(self, folder: RemotePath) -> None:
        self.object = folder / LOCK
        self.token = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        if self.object.is_file():
            info = _read_json(self.object)
            age = time.time() - float(info.get("heartbeat", 0))
            dead_here = info.get("host") == socket.gethostname() and not _pid_alive(info.get("pid"))
            if age < LEASE_STALE and not dead_here:
                raise FolderError(
                    f"{self.object.key.rsplit('/', 1)[0]} is being written by another corpusforge "
                    f"run ({_describe(info)}; lease refreshed {age:.0f} s ago). If that run is dead, "
                    f"wait {LEASE_STALE - age:.0f} s or delete {self.object}"
                )
        self._write()
        self._thread = threading.Thread(target=self._refresh, daemon=True, name="corpusforge-lease")
        self._thread.start()

    def _write(self) -> None:
        write_json_atomic(self.object, _holder() | {"token": self.token, "heartbeat": time.time()})

    def _refresh(self) -> None:
        while not self._stop.wait(LEASE_HEARTBEAT):
            try:
                self._write()
            except OSError:  # a missed refresh only shortens the lease; the next one may succeed
                pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            if _read_json(self.object).get("token") == self.token:
                self.object.unlink(missing_ok=True)
        except OSError:
            pass


def _read_json(path: AnyPath) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True  # unknown: assume it lives
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
