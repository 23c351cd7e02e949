"""The text field of JSON Lines files (plain, or .gz, .bz2, .xz, .zst by extension), for the
commands that read documents outside a pipeline: train-classifier, tokenize, train-tokenizer.

Strict where the pipeline's `jsonl_reader` is lenient: a corpus handed to one of these commands
is meant to be read whole, so a line that is not a JSON object, or has no such field, is an error
naming the file, the line and the key, not a document quietly skipped. A null or empty text is
yielded as it is; the caller counts it, as it counts an empty Parquet cell.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from corpusforge.errors import InputError
from corpusforge.io.paths import read_lines

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def is_jsonl(path: str) -> bool:
    """Whether the file's name says JSON Lines (`.jsonl`, `.jsonl.gz`, `.ndjson.zst`...)."""
    name = str(path).lower()
    for ext in COMPRESSED_SUFFIXES:
        name = name.removesuffix(ext)
    return name.endswith(JSONL_SUFFIXES)


def jsonl_texts(path: str, text_key: str = "text") -> Iterator[str | None]:
    """Each object's `text_key`, in file order (blank lines skipped)."""
    for n, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:  # UnicodeDecodeError too
            raise InputError(f"{path}:{n}: not a JSON object ({exc})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{n}: a JSON {type(record).__name__}, not an object")
        if text_key not in record:
            fields = ", ".join(list(record)[:10])
            raise InputError(
                f"{path}:{n}: no field {text_key!r} (fields: {fields}); name the text field with --text-key "
                "(in a mixture file: the source's text_key)"
            )
        text = record[text_key]
        if text is not None and not isinstance(text, str):
            raise InputError(f"{path}:{n}: field {text_key!r} is a {type(text).__name__}, not a string")
        yield text
