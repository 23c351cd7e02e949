"""Input paths through pyarrow.fs: local paths, file://, s3://, gs://, hdfs://...

A plain path is a local file, opened with Python's `open` exactly as before. A path with a
scheme (`s3://bucket/crawl/*.warc.gz`) goes through `pyarrow.fs.FileSystem.from_uri`, so
every node of a cluster reads the same object; data moves through files, never through the
executor. The strings stay as the user wrote them (they are part of the config hash and
name the task in errors); only opening and listing look at the scheme.

Output folders are local (or a shared filesystem mounted at the same path on every node):
see `output_path`.
"""

from __future__ import annotations

import fnmatch
import glob
import io
import os
import re
from pathlib import Path
from typing import IO, Any

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
    from pyarrow import fs as pafs

    if not is_uri(path):
        return pafs.LocalFileSystem(), os.path.abspath(path)
    return pafs.FileSystem.from_uri(str(path))


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
    from pyarrow import fs as pafs

    fs, inner = filesystem(path)
    return fs.get_file_info(inner).type == pafs.FileType.File


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
    from pyarrow import fs as pafs

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


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex where `*` stays inside one folder and `**/` spans any number."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(fnmatch.translate(pattern[i:j + 1])[4:-3])  # the class alone
                i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def open_input(path: str) -> IO[bytes]:
    """A seekable binary file: Python's own for a plain path, a buffered pyarrow file else."""
    if not is_uri(path):
        return open(path, "rb")
    fs, inner = filesystem(path)
    return io.BufferedReader(fs.open_input_file(inner), buffer_size=_BUFFER)  # type: ignore[arg-type]


def output_path(path: str | Path, what: str = "output") -> Path:
    """An output folder as a local Path: plain paths and file:// URIs.

    Outputs are written with atomic renames, completion markers and (for the decontamination
    index) a file lock, which object stores do not offer; on a cluster the output folder is a
    shared filesystem (NFS, Lustre, EFS/Filestore...) mounted at the same path on every node.
    """
    text = str(path)
    s = scheme(text)
    if s is None:
        return Path(text)
    if s == "file":
        from pyarrow import fs as pafs

        _, inner = pafs.FileSystem.from_uri(text)
        return Path(inner)
    raise ValueError(
        f"{what}: {text!r} is on {s}://, but outputs must be a local path or a shared filesystem mounted at the "
        "same path on every node (atomic renames and completion markers need one); inputs may be any "
        "pyarrow.fs URI (s3://, gs://, ...)"
    )
