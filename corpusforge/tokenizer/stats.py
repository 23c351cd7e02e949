"""`corpusforge tokenizer-stats TOKENIZER... --input GLOB`: tokenizers side by side on held-out text.

Bytes per token (higher: better compression), tokens per whitespace-separated word, vocabulary
used, the share of tokens whose text spans a space (non-space, whitespace, non-space inside one
token: the multi-word pieces) and the round trip decode(encode(text)) == text on every
document. The text is read once and encoded by every tokenizer, batch by batch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np

from corpusforge.tokenizer.artifact import LoadedTokenizer, load_tokenizer
from corpusforge.tokenizer.corpus import TextStream, resolve_shards

SPANS_SPACE = re.compile(r"\S\s+\S")
BATCH_DOCS = 256


@dataclass
class TokenizerStats:
    loaded: LoadedTokenizer
    spans: np.ndarray  # per token id: does its text span a space?
    used: np.ndarray  # per token id: seen in the text?
    tokens: int = 0
    spanning: int = 0
    round_trip_failures: list[int] = field(default_factory=list)  # document numbers

    @classmethod
    def start(cls, loaded: LoadedTokenizer) -> TokenizerStats:
        n = loaded.vocab_size
        pieces = loaded.tokenizer.decode_batch([[i] for i in range(n)], skip_special_tokens=False)
        spans = np.fromiter((bool(SPANS_SPACE.search(p)) for p in pieces), dtype=bool, count=n)
        return cls(loaded=loaded, spans=spans, used=np.zeros(n, dtype=bool))

    def add(self, texts: list[str], first_doc: int) -> None:
        tok = self.loaded.tokenizer
        ids = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=sum(map(len, ids)))
        self.tokens += len(flat)
        self.used[flat] = True
        self.spanning += int(self.spans[flat].sum())
        decoded = tok.decode_batch(ids, skip_special_tokens=False)
        self.round_trip_failures += [first_doc + i for i, (a, b) in enumerate(zip(texts, decoded)) if a != b]


def tokenizer_stats(
    tokenizers: list[str | Path], inputs: list[str], max_bytes: int | None = None, quiet: bool = False
) -> dict[str, Any]:
    loaded = [load_tokenizer(t) for t in tokenizers]
    files = resolve_shards(inputs)
    stats = [TokenizerStats.start(t) for t in loaded]
    text = TextStream(files, max_bytes=max_bytes, quiet=quiet, desc="encoding")
    words = docs = 0
    texts = iter(text)
    while batch := list(islice(texts, BATCH_DOCS)):
        for s in stats:
            s.add(batch, docs)
        docs += len(batch)
        words += sum(len(t.split()) for t in batch)
    return {
        "documents": text.docs,
        "text_bytes": text.bytes,
        "words": words,
        "inputs": files,
        "tokenizers": [_row(s, label, text.bytes, words, files) for s, label in zip(stats, _labels(loaded))],
    }


def _labels(loaded: list[LoadedTokenizer]) -> list[str]:
    """Each tokenizer's column label: its folder's name (two tokenizers of one recipe differ
    there, e.g. bpe-4k and bpe-8k), or its whole path where two folders share a name."""
    names = [t.path.parent.name for t in loaded]
    return names if len(set(names)) == len(names) else [str(t.path.parent) for t in loaded]


def _row(s: TokenizerStats, label: str, text_bytes: int, words: int, files: list[str]) -> dict[str, Any]:
    trained_on = {os.path.realpath(p) for p in s.loaded.training.get("inputs", [])}
    return {
        "name": label,
        "recipe": s.loaded.name,
        "path": str(s.loaded.path),
        "vocab_size": s.loaded.vocab_size,
        "tokens": s.tokens,
        "bytes_per_token": text_bytes / s.tokens if s.tokens else None,
        "tokens_per_word": s.tokens / words if words else None,
        "vocab_used": int(s.used.sum()),
        "spanning_share": s.spanning / s.tokens if s.tokens else None,
        "round_trip_failures": len(s.round_trip_failures),
        "first_failure": s.round_trip_failures[0] if s.round_trip_failures else None,
        "held_out": not any(os.path.realpath(f) in trained_on for f in files),
    }


def format_stats(result: dict[str, Any]) -> str:
    rows = result["tokenizers"]
    docs = result["documents"]
    base = rows[0]["tokens"] if rows else 0

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    table = [
        ("vocabulary", [f"{r['vocab_size']:,}" for r in rows]),
        ("tokens", [f"{r['tokens']:,}" for r in rows]),
        (f"tokens vs {rows[0]['name']}" if rows else "", [pct(r["tokens"] / base) if base else "-" for r in rows]),
        ("bytes per token", [f"{r['bytes_per_token']:.3f}" if r["bytes_per_token"] else "-" for r in rows]),
        ("tokens per word", [f"{r['tokens_per_word']:.3f}" if r["tokens_per_word"] else "-" for r in rows]),
        ("vocabulary used", [f"{r['vocab_used']:,} ({pct(r['vocab_used'] / r['vocab_size'])})" for r in rows]),
        ("tokens spanning a space", [pct(r["spanning_share"]) for r in rows]),
        (
            "round trip",
            [
                f"{docs - r['round_trip_failures']:,}/{docs:,} ok"
                if not r["round_trip_failures"]
                else f"{r['round_trip_failures']:,} of {docs:,} FAIL (doc {r['first_failure']})"
                for r in rows
            ],
        ),
    ]
    width = max([len(r["name"]) for r in rows] + [len(v) for _, vals in table for v in vals]) + 2
    label = max(len(name) for name, _ in table)
    lines = [
        (
            f"{len(result['inputs'])} file(s): {docs:,} documents, {result['text_bytes'] / 1e6:,.2f} MB, "
            f"{result['words']:,} words"
        ),
        " " * label + "".join(f"{r['name']:>{width}}" for r in rows),
    ]
    lines += [f"{name:<{label}}" + "".join(f"{v:>{width}}" for v in vals) for name, vals in table]
    lines += [
        f"warning: {r['name']} was trained on some of these files: not held-out text" for r in rows if not r["held_out"]
    ]
    return "\n".join(lines)
