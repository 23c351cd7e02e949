"""Input paths through pyarrow.fs: local paths, file://, s3://, gs://, hdfs://...

A plain path is a local file, opened with Python's `open`. A path with a
scheme (`s3://bucket/crawl/*.warc.gz`) goes through `pyarrow.fs.FileSystem.from_uri`, so
every node of a cluster reads the same object; data moves through files, never through the
executor. The strings stay as the user wrote them (they are part of the config hash and
name the task in errors); only opening and listing look at the scheme.

Output folders may be URIs too: `output_path` gives a `RemotePath` there, which the output
and work files are written through (see `corpusforge.io.atomic`).
"""

from __future__ import annotations

import bz2
import fnmatch
import functools
import glob
import hashlib
import io
import lzma
import multiprocessing.util
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Union

from pyarrow import fs as pafs

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUFFER = 1 << 20  # read remote files in 1 MiB requests, not one request per small read


def scheme(path: str) -> str | None:
    """`s3` for s3://bucket/key, None for a plain path."""
    m = _SCHEME.match(str(path))
    return m.group(1).lower() if m else None


def is_uri(path: str) -> bool:
    return scheme(path) is not None


def filesystem(path: str) -> tuple[Any, str]:
    """(pyarrow FileSystem, path inside it) for a URI or a plain path."""
    s = scheme(path)
    if s is None:
        return pafs.LocalFileSystem(), os.path.abspath(path)
    text = str(path)
    if s in OBJECT_STORES and "?" not in text:  # the bucket's filesystem, resolved once per process
        key = text.split("://", 1)[1].strip("/")
        return _filesystem_of(f"{s}://{key.split('/', 1)[0]}"), key
    return pafs.FileSystem.from_uri(text)


def _prefix_of(uri: str, inner: str) -> str:
    """The part of `uri` before the filesystem's own path ('s3://' for s3://bucket/key,
    'file://' for file:///tmp/x, 'hdfs://host:8020' for hdfs://host:8020/x), so that matches
    are written back as URIs of the same kind."""
    if uri.endswith(inner):
        return uri[: len(uri) - len(inner)]
    return f"{scheme(uri)}://"


def is_file(path: str) -> bool:
    if not is_uri(path):
        return os.path.isfile(path)
    fs, inner = filesystem(path)
    return fs.get_file_info(inner).type == pafs.FileType.File


def file_sizes(paths: list[str]) -> list[int]:
    """The sizes of files, local or URIs, 0 for one that cannot be asked (the task reading it
    reports why); a URI costs a round trip, so they are asked in parallel (10⁵ objects one
    after another would take minutes)."""

    def size(path: str) -> int:
        try:
            if not is_uri(path):
                return os.path.getsize(path)
            fs, inner = filesystem(path)
            return fs.get_file_info(inner).size or 0
        except (OSError, ValueError):
            return 0

    if not any(is_uri(p) for p in paths):
        return [size(p) for p in paths]
    with ThreadPoolExecutor(32) as pool:
        return list(pool.map(size, paths))


def expand_local(pattern: str) -> list[str]:
    """Sorted local files and folders matching a glob, or the path itself if it exists."""
    matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
    return [m for m in matches if os.path.exists(m)]


def expand(pattern: str) -> list[str]:
    """Sorted files matching a glob (`*`, `?`, `[..]`, `**`), or the file itself.

    A URI pattern lists the folder before its first wildcard (recursively only when more
    folder levels follow) and matches the listing like glob does; matches keep the pattern's
    scheme (and host), so they open again through `open_input`.
    """
    if not is_uri(pattern):
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        return [m for m in matches if os.path.isfile(m)]
    if not glob.has_magic(pattern):
        return [pattern] if is_file(pattern) else []
    parts = pattern.split("/")
    first = next(i for i, p in enumerate(parts) if glob.has_magic(p))
    base_uri, rest = "/".join(parts[:first]), parts[first:]
    if not is_uri(base_uri):
        raise ValueError(f"{pattern!r}: a wildcard in the bucket or host name is not supported")
    fs, base = filesystem(base_uri)
    prefix = _prefix_of(base_uri, base)
    inner = base.rstrip("/") + "/" + "/".join(rest)
    # a missing folder is no match; access or network errors reach the caller, who names the pattern
    infos = fs.get_file_info(pafs.FileSelector(base or "/", recursive=len(rest) > 1, allow_not_found=True))
    regex = _glob_regex(inner)
    found = [i.path for i in infos if i.type == pafs.FileType.File and regex.match(i.path)]
    return [prefix + p for p in sorted(found)]


# A glob's pieces, longest first: a `[...]` class runs to the first `]` after its `[` (a `[`
# without one is a literal); anything else is one literal character.
_GLOB_PIECE = re.compile(r"\*\*/|\*\*|\*|\?|\[[^\]]*\]|.", re.DOTALL)
_GLOB_WILDCARDS = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex where `*` stays inside one folder and `**/` spans any number."""
    out = [
        _GLOB_WILDCARDS.get(piece)
        or (fnmatch.translate(piece)[4:-3] if len(piece) > 1 else re.escape(piece))  # [4:-3]: the class alone
        for piece in _GLOB_PIECE.findall(pattern)
    ]
    return re.compile("".join(out) + r"\Z")


def open_input(path: str) -> IO[bytes]:
    """A seekable binary file: Python's own for a plain path, a buffered pyarrow file else."""
    if not is_uri(path):
        return open(path, "rb")
    fs, inner = filesystem(path)
    return io.BufferedReader(fs.open_input_file(inner), buffer_size=_BUFFER)  # type: ignore[arg-type]


def sha256_file(path: str | Path) -> str:
    """A file's SHA-256 (what `sha256sum` prints), from a local path or any URI."""
    with open_input(str(path)) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def open_text(path: str, encoding: str = "utf-8", newline: str | None = None) -> io.TextIOWrapper:
    """A text file, plain or compressed by its extension (.gz, .zst, .bz2...), from a local
    path or any URI; closing it closes everything under it."""
    fs, inner = filesystem(path)
    raw = fs.open_input_stream(inner, compression="detect", buffer_size=_BUFFER)
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline=newline)  # type: ignore[arg-type]


class TruncatedInput(OSError):
    """A compressed file ends inside a compressed stream: everything before the cut was read."""


class CorruptInput(OSError):
    """A compressed file holds bytes its codec cannot decode."""


def _zstd() -> Any:
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


# Python's own decompressors hand back every byte decoded so far, so a file cut short keeps
# all of its complete lines (pyarrow's streams lose their whole read-ahead at the cut).
_DECOMPRESSORS: dict[str, Any] = {
    ".gz": lambda: zlib.decompressobj(wbits=47),
    ".bz2": bz2.BZ2Decompressor,
    ".xz": lzma.LZMADecompressor,
    ".zst": _zstd,
}
_BLOCK = 1 << 16  # compressed bytes per step: bounds what one step can expand to


def read_lines(path: str) -> Iterator[bytes]:
    """The lines of a text file (local or any URI, plain or .gz/.bz2/.xz/.zst by extension) as
    bytes without their line end, so each line is decoded on its own. A compressed file cut
    short yields every complete line, then raises `TruncatedInput`; undecodable compressed
    bytes raise `CorruptInput` after every line before them."""
    fs, inner = filesystem(path)
    make = _DECOMPRESSORS.get(os.path.splitext(str(path))[1].lower())
    with fs.open_input_stream(inner, compression=None, buffer_size=_BUFFER) as raw:
        blocks = iter(lambda: raw.read(_BLOCK), b"")
        partial: list[bytes] = []  # the line still open, in pieces: a long line is joined once
        for chunk in _decompress(blocks, make, path) if make else blocks:
            lines = chunk.split(b"\n")
            if len(lines) > 1:
                yield b"".join([*partial, lines[0]])
                yield from lines[1:-1]
                partial.clear()
            partial.append(lines[-1])
        if any(partial):
            yield b"".join(partial)


def _decompress(blocks: Iterator[bytes], make: Any, path: str) -> Iterator[bytes]:
    """Decompressed bytes of concatenated streams (gzip members, zstd frames, bz2 streams)."""
    decoder, pending = make(), False
    for block in blocks:
        while block:
            pending = True
            try:
                out = decoder.decompress(block)
            except Exception as exc:  # zlib.error, OSError, LZMAError, ZstdError: all mean bad bytes
                raise CorruptInput(f"{path}: cannot be decompressed ({type(exc).__name__}: {exc})") from None
            if out:
                yield out
            block = b""
            if decoder.eof:  # a stream ended; another may follow
                block, decoder, pending = decoder.unused_data, make(), False
    if pending:
        raise TruncatedInput(f"{path}: the compressed data ends before its end-of-stream marker (the file is cut)")


def output_path(path: str | Path, what: str = "output") -> AnyPath:
    """An output folder: a local Path for plain paths and file:// URIs, a `RemotePath` on an
    object store (s3://, gs://)."""
    text = str(path)
    s = scheme(text)
    if s is None:
        return Path(text)
    if s == "file":
        _, inner = pafs.FileSystem.from_uri(text)
        return Path(inner)
    if s not in OBJECT_STORES:
        raise ValueError(
            f"{what}: {text!r}: outputs may be a local path, a shared filesystem, or on "
            f"{', '.join(f'{o}://' for o in OBJECT_STORES)}; not on {s}://"
        )
    if "?" in text:
        raise ValueError(
            f"{what}: {text!r}: options in the URI are not supported for outputs; configure the "
            "filesystem through its environment (AWS_ENDPOINT_URL, AWS_REGION, credentials...)"
        )
    return RemotePath(text)


AnyPath = Union[Path, "RemotePath"]
OBJECT_STORES = ("s3", "gs", "gcs")  # where the URI after the scheme is the filesystem's own path


class RemotePath:
    """A file or folder on an object store (s3://bucket/key, gs://...) through pyarrow.fs,
    with the part of `pathlib.Path` the pipeline uses on its output and work folders:
    joining, existence, whole-file reads, listing and deleting. Writes go through
    `corpusforge.io.atomic.atomic_path`: an object store has no rename, but an upload appears
    only when it is complete, so a reader never sees half a file, as with a local rename.

    Folders are prefixes: `mkdir` does nothing and `is_dir` is true when something is in one.
    Pickles as its URI; each process resolves the filesystem once per bucket.
    """

    def __init__(self, uri: str) -> None:
        m = _SCHEME.match(uri)
        if not m:
            raise ValueError(f"not a URI: {uri!r}")
        self.scheme = m.group(1).lower()
        self._root = uri[: m.end()]
        self.key = uri[m.end() :].strip("/")  # bucket/key...; no leading or trailing slash

    # --- pure path operations -----------------------------------------------------------

    def __str__(self) -> str:
        return self._root + self.key

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __lt__(self, other: RemotePath) -> bool:
        return str(self) < str(other)

    def __reduce__(self) -> tuple:
        return (RemotePath, (str(self),))

    def __truediv__(self, part: str | os.PathLike) -> RemotePath:
        return RemotePath(f"{self._root}{self.key}/{str(part).strip('/')}")

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0] if "." in self.name.lstrip(".") else self.name

    def relative_to(self, other: RemotePath) -> str:
        if not self.key.startswith(other.key + "/") or self._root != other._root:
            raise ValueError(f"{self} is not under {other}")
        return self.key[len(other.key) + 1 :]

    # --- the filesystem -----------------------------------------------------------------

    @property
    def fs(self) -> Any:
        return filesystem(str(self))[0]

    def _info(self) -> Any:
        return self.fs.get_file_info(self.key)

    def is_file(self) -> bool:
        return self._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        """A folder with something in it (an object store has no empty folders)."""
        sel = pafs.FileSelector(self.key, recursive=False, allow_not_found=True)
        return self._info().type != pafs.FileType.File and bool(self.fs.get_file_info(sel))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: an object's folders exist as soon as it does."""

    def open_input(self) -> IO[bytes]:
        return open_input(str(self))

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.key, compression=None) as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def upload(self, local: Path) -> None:
        """Copy a local file to this path as one object (visible only once complete)."""
        with open(local, "rb") as src, self.fs.open_output_stream(self.key, compression=None) as dst:
            shutil.copyfileobj(src, dst, _BUFFER)  # type: ignore[misc]

    def iterdir(self) -> list[RemotePath]:
        sel = pafs.FileSelector(self.key, recursive=False, allow_not_found=True)
        return sorted(RemotePath(self._root + i.path) for i in self.fs.get_file_info(sel))

    def glob(self, pattern: str) -> list[RemotePath]:
        """Entries directly in this folder whose name matches `pattern` (no `/`, no `**`)."""
        return [p for p in self.iterdir() if fnmatch.fnmatchcase(p.name, pattern)]

    def unlink(self, missing_ok: bool = False) -> None:
        if missing_ok and not self.is_file():
            return
        self.fs.delete_file(self.key)

    def rmtree(self) -> None:
        self.fs.delete_dir(self.key)


@functools.cache
def _filesystem_of(root: str) -> Any:
    """One filesystem per bucket (or host) and process: resolving one may cost a request."""
    # S3: a small file is one PutObject on close, not a three-request multipart upload
    options = "?allow_delayed_open=true" if root.startswith("s3://") else ""
    return pafs.FileSystem.from_uri(root + options)[0]


def remove_tree(path: AnyPath) -> None:
    """Delete a folder or file, local or remote; nothing if it is not there."""
    if isinstance(path, RemotePath):
        if path.is_file():
            path.unlink()
        elif path.is_dir():
            path.rmtree()
    elif path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


@functools.cache
def _cache_dir() -> Path:
    """This process's folder of downloads, removed when it exits. A pool worker skips atexit
    (multiprocessing ends it with os._exit) but runs multiprocessing's finalizers, which the
    main process also runs at exit."""
    folder = tempfile.mkdtemp(prefix="corpusforge-cache-")
    multiprocessing.util.Finalize(None, shutil.rmtree, args=(folder, True), exitpriority=0)
    return Path(folder)


def local_file(path: AnyPath) -> Path:
    """A local path with this file's bytes, for what must have one (numpy.memmap): the path
    itself, or a download kept for this process, redone if the object changed."""
    if not isinstance(path, RemotePath):
        return path
    info = path._info()
    tag = hashlib.sha1(f"{path}|{info.size}|{info.mtime_ns}".encode()).hexdigest()[:20]
    local = _cache_dir() / f"{tag}-{path.name}"
    if not local.exists():
        tmp = local.with_name(f".{local.name}.{os.getpid()}.tmp")
        with path.open_input() as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, _BUFFER)
        os.replace(tmp, local)
    return local
