"""Token shards on disk, and the loader that reads them with numpy.memmap.

One shard per input shard and split (`OUTPUT/train/part-00000.*`, `OUTPUT/val/part-00000.*`):
- `.bin`: every document's tokens followed by EOS, back to back; little-endian uint16 when the
  vocabulary fits in 65,536 ids, else uint32;
- `.idx`: uint64 little-endian, the end offset (in tokens, EOS included) of each document, so
  document i is `bin[idx[i-1]:idx[i]]` (with idx[-1] = 0) and its last token is EOS;
- `.json`: the header: format, dtype, EOS id, tokenizer hash, counts, source file.

The header travels with its shard, so a reader never guesses: `TokenShards` refuses a shard
whose files do not have the size its header's dtype and counts give (a uint16 file under a
uint32 header, a file cut short), a dtype or tokenizer hash that differs from the other
shards', from the folder's `tokenize.json`, or from the tokenizer the caller expects.

A split with no document in a shard gets no files at all (numpy cannot memmap an empty file),
and its header would say 0 anyway: the task's summary counts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from corpusforge.errors import TokenizerError
from corpusforge.io.atomic import atomic_path, write_json_atomic
from corpusforge.io.paths import AnyPath, is_uri, output_path

FORMAT = "corpusforge.tokens/1"
DTYPES = ("uint16", "uint32")
SETTINGS_FILE = "tokenize.json"  # the folder's settings, written by `corpusforge tokenize`


def output_folder(output: str | Path) -> AnyPath:
    """`tokenize`'s --output (a mixture's too) as a folder; an output URI corpusforge cannot
    write to is a TokenizerError, reported like every other bad argument."""
    try:
        return output_path(output, "--output")
    except ValueError as exc:
        raise TokenizerError(str(exc)) from None


def choose_dtype(vocab_size: int, requested: str = "auto") -> str:
    """uint16 when every id fits (vocab <= 65,536), else uint32; a requested dtype too small
    for the vocabulary is an error, never a silent wrap-around."""
    if requested == "auto":
        return "uint16" if vocab_size <= 1 << 16 else "uint32"
    if requested not in DTYPES:
        raise TokenizerError(f"--dtype must be auto, uint16 or uint32, got {requested!r}")
    limit = int(np.iinfo(requested).max) + 1
    if vocab_size > limit:
        raise TokenizerError(
            f"--dtype {requested} holds ids below {limit:,}, but the tokenizer has "
            f"{vocab_size:,} tokens; use --dtype uint32 (or auto)"
        )
    return requested


def write_shard(
    folder: AnyPath, stem: str, docs: list[np.ndarray], eos_id: int, dtype: str, header: dict[str, Any]
) -> dict[str, Any]:
    """Write `docs` (token arrays without EOS, in output order) as stem.bin/.idx/.json;
    each file atomically, the header last. Returns the header."""
    lengths = np.fromiter((len(d) + 1 for d in docs), dtype=np.uint64, count=len(docs))
    ends = np.cumsum(lengths, dtype=np.uint64)
    out = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.dtype(dtype).newbyteorder("<"))
    pos = 0
    for d in docs:  # one slice copy per document: no index array as large as the shard
        out[pos : pos + len(d)] = d
        pos += len(d)
        out[pos] = eos_id
        pos += 1
    with atomic_path(folder / f"{stem}.bin") as tmp:
        out.tofile(tmp)
    with atomic_path(folder / f"{stem}.idx") as tmp:
        ends.astype("<u8").tofile(tmp)
    header = {
        "format": FORMAT,
        "bin": f"{stem}.bin",
        "idx": f"{stem}.idx",
        "dtype": dtype,
        "byteorder": "little",
        "eos_id": eos_id,
        **header,
        "documents": len(docs),
        "tokens": len(out),
    }
    write_json_atomic(folder / f"{stem}.json", header)
    return header


class TokenShards:
    """All shards of one split (`train` or `val`) of a `corpusforge tokenize` output folder.

    `sample_batch` draws nanoGPT-style training windows; `document(i)` and iteration give
    documents back (EOS stripped) for evaluation and tests.
    """

    def __init__(self, folder: str | Path, split: str = "train", tokenizer_sha256: str | None = None) -> None:
        """`tokenizer_sha256`: the tokenizer the caller means to use; shards of another are refused."""
        if is_uri(str(folder)):
            raise TokenizerError(
                f"{folder}: token shards are memory-mapped, so they must be in a local (or "
                "mounted) folder; copy them from object storage first (e.g. `aws s3 sync`)"
            )
        self.folder = Path(folder) / split
        paths = sorted(self.folder.glob("part-*.json"))
        if not paths:
            raise TokenizerError(f"no token shards in {self.folder} (run `corpusforge tokenize` first)")
        self.headers = [_read_json(p) for p in paths]
        first = self.headers[0]
        for p, h in zip(paths, self.headers):
            if h.get("format") != FORMAT:
                raise TokenizerError(f"{p}: not a {FORMAT} header")
            if h.get("dtype") not in DTYPES:
                raise TokenizerError(f"{p}: dtype {h.get('dtype')!r} is not one of {', '.join(DTYPES)}")
            for key in ("dtype", "eos_id", "tokenizer_sha256"):
                if h.get(key) != first.get(key):
                    raise TokenizerError(
                        f"{p}: {key} {h.get(key)!r} differs from {paths[0].name}'s "
                        f"{first.get(key)!r}: shards of different tokenizations are mixed"
                    )
        self._check_settings(Path(folder) / SETTINGS_FILE, first, paths[0])
        if tokenizer_sha256 is not None and first.get("tokenizer_sha256") != tokenizer_sha256:
            raise TokenizerError(
                f"{paths[0]}: made with the tokenizer {str(first.get('tokenizer_sha256'))[:12]}, not the "
                f"expected {tokenizer_sha256[:12]} (SHA-256 of tokenizer.json): the ids would mean other tokens"
            )
        self.dtype = np.dtype(first["dtype"]).newbyteorder("<")
        self.eos_id: int = first["eos_id"]
        for h in self.headers:
            self._check_sizes(h)
        self.tokens = [np.memmap(self.folder / h["bin"], dtype=self.dtype, mode="r") for h in self.headers]
        self.ends = [np.memmap(self.folder / h["idx"], dtype="<u8", mode="r") for h in self.headers]
        for h, t, e in zip(self.headers, self.tokens, self.ends):
            if int(e[-1]) != len(t):
                raise TokenizerError(f"{self.folder / h['idx']}: its last end offset is not the shard's length")
        self._first_doc = np.cumsum([0] + [len(e) for e in self.ends])

    @staticmethod
    def _check_settings(settings_file: Path, first: dict[str, Any], first_path: Path) -> None:
        """The shards must be what the folder's tokenize.json says it holds."""
        if not settings_file.is_file():
            return  # a split folder copied on its own: the headers are all there is
        settings = _read_json(settings_file)
        for key in ("dtype", "tokenizer_sha256"):
            if key in settings and settings[key] != first.get(key):
                raise TokenizerError(
                    f"{first_path}: {key} {first.get(key)!r} differs from {settings_file}'s "
                    f"{settings[key]!r}: these shards were not made by this folder's tokenize run"
                )
        vocab = settings.get("vocab_size")
        if isinstance(vocab, int) and vocab > int(np.iinfo(first["dtype"]).max) + 1:
            raise TokenizerError(
                f"{settings_file}: {vocab:,} tokens do not fit the shards' {first['dtype']}: ids would wrap around"
            )

    def _check_sizes(self, h: dict[str, Any]) -> None:
        """Each file has exactly the bytes its header's dtype and counts give; else name what it
        looks like (a uint16 file under a uint32 header reads as half as many junk ids)."""
        item = self.dtype.itemsize
        bin_path, idx_path = self.folder / h["bin"], self.folder / h["idx"]
        try:
            size, idx_size = bin_path.stat().st_size, idx_path.stat().st_size
        except FileNotFoundError as exc:
            raise TokenizerError(f"{exc.filename}: missing (its header {bin_path.stem}.json names it)") from None
        if size != h["tokens"] * item:
            others = [d for d in DTYPES if np.dtype(d).itemsize != item and size == h["tokens"] * np.dtype(d).itemsize]
            if others:
                why = f"it was written as {others[0]}, but the header says {h['dtype']}"
            elif size % item:
                why = f"not a multiple of {h['dtype']}'s {item} bytes: not {h['dtype']} tokens"
            else:
                why = "truncated, or not the file its header describes"
            raise TokenizerError(
                f"{bin_path}: {size:,} bytes, but its header says {h['tokens']:,} {h['dtype']} tokens "
                f"({h['tokens'] * item:,} bytes): {why}"
            )
        if idx_size != h["documents"] * 8:
            raise TokenizerError(
                f"{idx_path}: {idx_size:,} bytes, but its header says {h['documents']:,} documents "
                f"({h['documents'] * 8:,} bytes of uint64 end offsets): truncated?"
            )

    @property
    def num_tokens(self) -> int:
        return sum(len(t) for t in self.tokens)

    @property
    def num_documents(self) -> int:
        return int(self._first_doc[-1])

    def document(self, i: int) -> np.ndarray:
        """Tokens of document i (across shards, in file order), without its EOS."""
        if not 0 <= i < self.num_documents:
            raise IndexError(i)
        s = int(np.searchsorted(self._first_doc, i, side="right")) - 1
        j = i - int(self._first_doc[s])
        start = int(self.ends[s][j - 1]) if j else 0
        return self.tokens[s][start : int(self.ends[s][j]) - 1]

    def __iter__(self) -> Iterator[np.ndarray]:
        return map(self.document, range(self.num_documents))

    def sample_batch(self, rng: np.random.Generator, batch_size: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) int64 arrays of shape (batch_size, block_size), y = x shifted by one: random
        windows over the token stream, shards picked in proportion to their size. Windows
        cross document boundaries; the EOS tokens mark them."""
        sizes = np.array([max(len(t) - block_size, 0) for t in self.tokens], dtype=np.float64)  # valid starts
        if sizes.sum() == 0:
            raise TokenizerError(f"{self.folder}: every shard is shorter than block_size + 1 = {block_size + 1} tokens")
        shard = rng.choice(len(self.tokens), size=batch_size, p=sizes / sizes.sum())
        x = np.empty((batch_size, block_size), dtype=np.int64)
        y = np.empty((batch_size, block_size), dtype=np.int64)
        for b, s in enumerate(shard):
            start = int(rng.integers(0, len(self.tokens[s]) - block_size))
            window = self.tokens[s][start : start + block_size + 1].astype(np.int64)
            x[b], y[b] = window[:-1], window[1:]
        return x, y


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:  # UnicodeDecodeError too
        raise TokenizerError(f"{path}: not a JSON file corpusforge wrote ({exc})") from None
    if not isinstance(data, dict):
        raise TokenizerError(f"{path}: not a JSON file corpusforge wrote (not a mapping)")
    return data
