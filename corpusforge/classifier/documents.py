"""The documents a classifier learns from, read from what corpusforge users have at hand:
Parquet shards (a pipeline's output folder, or its data/*.parquet), JSON Lines (plain, .gz,
.bz2, .xz, .zst), plain-text files (one document each) and .zip archives of text files
(corpusforge.io.plain_text). Each input file is described by its size and content hash, for
the model card."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from corpusforge.errors import ClassifierError, InputError
from corpusforge.io.jsonl import COMPRESSED_SUFFIXES, is_jsonl, jsonl_texts
from corpusforge.io.paths import expand_local, sha256_file
from corpusforge.io.plain_text import text_file_document, zip_documents


@dataclass(frozen=True)
class InputFile:
    path: str
    bytes: int
    sha256: str
    documents: int

    def to_json(self) -> dict:
        return self.__dict__.copy()


def expand_inputs(patterns: list[str], flag: str) -> list[str]:
    """Globs → sorted files; a folder holding data/*.parquet (a pipeline output) → its shards.
    Nothing matching a pattern is an error naming it."""
    files: list[str] = []
    for pattern in patterns:
        matches = expand_local(pattern)
        if not matches:
            raise ClassifierError(f"{flag}: nothing matches {pattern!r}")
        for m in matches:
            p = Path(m)
            if p.is_dir():
                data = p / "data" if (p / "data").is_dir() else p
                shards = sorted(str(s) for s in data.glob("*.parquet"))
                if not shards:
                    raise ClassifierError(f"{flag}: {m} is a folder without Parquet shards ({data}/*.parquet)")
                files += shards
            else:
                files.append(m)
    return list(dict.fromkeys(files))


def _kind(path: str) -> str:
    name = path.lower()
    for ext in COMPRESSED_SUFFIXES:
        name = name.removesuffix(ext)
    if name.endswith(".parquet"):
        return "parquet"
    if is_jsonl(path):
        return "jsonl"
    if name.endswith(".zip"):
        return "zip"
    return "text"


def read_texts(path: str, text_key: str) -> list[str]:
    """Every document's text in one input file, in file order; an unreadable file or a record
    without `text_key` is an error naming it."""
    kind = _kind(path)
    try:
        if kind == "parquet":
            schema = pq.read_schema(path)
            if text_key not in schema.names:
                raise ClassifierError(
                    f"{path}: no column {text_key!r} (columns: {', '.join(schema.names)}); set --text-key"
                )
            column = pq.read_table(path, columns=[text_key]).column(text_key)
            return [t for t in column.to_pylist() if isinstance(t, str)]
        if kind == "jsonl":
            return [t for t in jsonl_texts(path, text_key) if isinstance(t, str)]
        if kind == "zip":
            return [text for _, text in zip_documents(path)]
        return [text_file_document(path)[1]]
    except (ClassifierError, InputError):
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt archive, Parquet or gzip: name the file
        raise ClassifierError(f"{path}: cannot be read as {kind} ({type(exc).__name__}: {exc})") from None


def chunk(text: str, words: int) -> list[str]:
    """`text` cut at line ends into pieces of at least `words` words (the last may be
    shorter); 0 keeps it whole."""
    if words <= 0:
        return [text]
    pieces, lines, count = [], [], 0
    for line in text.splitlines():
        lines.append(line)
        count += len(line.split())
        if count >= words:
            pieces.append("\n".join(lines))
            lines, count = [], 0
    if count:
        pieces.append("\n".join(lines))
    return pieces


def read_side(patterns: list[str], flag: str, text_key: str, chunk_words: int) -> tuple[list[str], list[InputFile]]:
    """All documents of one side (non-empty after normalisation is the caller's concern), and
    the files they came from."""
    texts: list[str] = []
    inputs: list[InputFile] = []
    for path in expand_inputs(patterns, flag):
        docs = [piece for t in read_texts(path, text_key) for piece in chunk(t, chunk_words)]
        texts += docs
        inputs.append(InputFile(path, Path(path).stat().st_size, sha256_file(path), len(docs)))
    return texts, inputs
