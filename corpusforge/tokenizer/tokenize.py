"""`corpusforge tokenize`: Parquet shards → token shards (the format: `shards`; the output
folder: README, "Tokenizers").

One task per input shard, numbered from the sorted input list, run by the pipeline's
executor. A task writes its files atomically and then its marker, so a killed run resumes
by skipping marked tasks, and a task's output depends only on its input file, its number,
the tokenizer and the seed: identical bytes whatever --workers is and however often it ran.

An empty text, or one that encodes to no token, is counted and skipped; every other document
is followed by EOS. The split is a keyed hash of (seed, text) against --val-fraction, so a
document lands in the same split however the corpus is sharded, and copies of one text (which
dedup may have let through) all land in the same split: none leaks from train into val. Within
a shard each split is shuffled by document with a generator seeded by (seed, task number).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from corpusforge.engine.executor import choose_executor, make_executor
from corpusforge.engine.worker import report_progress
from corpusforge.errors import OutputMismatchError, TokenizerError
from corpusforge.io.atomic import Markers, atomic_path, remove_stale_tmp, write_json_atomic
from corpusforge.io.paths import AnyPath, local_file, output_path, sha256_file
from corpusforge.io.run_folder import Fingerprint, RunFolder, read_fingerprint
from corpusforge.tokenizer.artifact import TOKENIZER_FILE, load_tokenizer
from corpusforge.tokenizer.corpus import read_batches, resolve_shards
from corpusforge.tokenizer.shards import FORMAT, SETTINGS_FILE, choose_dtype, output_folder, write_shard

SUMMARY_FILE = "summary.json"
SPLITS = ("train", "val")
OUTPUT_ENTRIES = (SETTINGS_FILE, TOKENIZER_FILE, SUMMARY_FILE, "train", "val", "work")


@dataclass(frozen=True)
class TokenizeJob:
    task: int
    source: str
    output: str
    tokenizer_name: str
    tokenizer_sha256: str
    eos_id: int
    dtype: str
    seed: int
    val_fraction: float
    threads: int
    text_key: str = "text"


def tokenize(
    tokenizer: str | Path,
    inputs: list[str],
    output: str | Path,
    workers: int | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    dtype: str = "auto",
    text_key: str = "text",
    overwrite: bool = False,
    quiet: bool = False,
    executor: str | None = None,
    ray_address: str | None = None,
) -> dict[str, Any]:
    """Tokenize every input shard (resuming a killed run); returns the summary.
    `executor`: "local" (a process pool) or "ray" (Ray tasks: a local instance, or the cluster
    at `ray_address`); None: ray when `ray_address` is given, else local (`choose_executor`).
    The token files are the same bytes either way."""
    executor, ray_address, workers = choose_executor(executor, ray_address, workers)
    loaded = load_tokenizer(tokenizer)
    dtype = choose_dtype(loaded.vocab_size, dtype)
    if not 0.0 <= val_fraction < 1.0:
        raise TokenizerError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if not 0 <= seed < 2**63:
        raise TokenizerError(f"--seed must be in [0, 2**63), got {seed}")
    files = resolve_shards(inputs)
    out = output_folder(output)
    settings = {
        "format": FORMAT,
        "tokenizer": loaded.name,
        "tokenizer_sha256": loaded.sha256,
        "eos": loaded.eos,
        "eos_id": loaded.eos_id,
        "vocab_size": loaded.vocab_size,
        "dtype": dtype,
        "seed": seed,
        "val_fraction": val_fraction,
        "text_key": text_key,
        "inputs": files,
    }
    fingerprint = Fingerprint(SETTINGS_FILE, settings)
    folder = RunFolder(out, "tokens", OUTPUT_ENTRIES, inputs=files, legacy=lambda f: (f / SETTINGS_FILE).is_file())
    with folder:
        folder.start(overwrite, "token shards made with other settings", fingerprint)
        folder.save(fingerprint)
        copy = out / TOKENIZER_FILE  # so the shards decode on their own
        if not copy.is_file() or sha256_file(local_file(copy)) != loaded.sha256:
            with atomic_path(copy) as tmp:
                shutil.copyfile(loaded.path, tmp)
        markers = Markers(out / "work")
        pending = [i for i in range(len(files)) if not markers.done(i)]
        # Processes over shards; spare cores become encoder threads when shards are fewer.
        procs = max(1, min(workers, len(pending)))
        threads = max(1, workers // procs)
        jobs = [
            TokenizeJob(
                task=i,
                source=files[i],
                output=str(out),
                tokenizer_name=loaded.name,
                tokenizer_sha256=loaded.sha256,
                eos_id=loaded.eos_id,
                dtype=dtype,
                seed=seed,
                val_fraction=val_fraction,
                threads=threads,
                text_key=text_key,
            )
            for i in pending
        ]
        started = time.perf_counter()
        if jobs:
            with make_executor(
                executor, procs, address=ray_address, quiet=quiet, preload=["corpusforge.tokenizer.tokenize"]
            ) as ex:
                ex.map(run_task, jobs, labels=[j.source for j in jobs], desc=f"tokenizing ({loaded.name})")
            remove_stale_tmp(out)  # what workers killed mid-task (and retried by Ray) left behind
        summary = summarize([markers.load(i) for i in range(len(files))], settings)
        write_json_atomic(out / SUMMARY_FILE, summary)
    return summary | {"seconds": time.perf_counter() - started, "tasks_run": len(jobs)}


def read_settings(folder: AnyPath) -> dict[str, Any]:
    """FOLDER/tokenize.json as `tokenize` wrote it; anything else is an error naming the file."""
    settings = read_fingerprint(folder / SETTINGS_FILE)
    if settings.get("format") != FORMAT:
        raise OutputMismatchError(f"{folder / SETTINGS_FILE}: not a config corpusforge wrote (no format {FORMAT!r})")
    return settings


def run_task(job: TokenizeJob) -> dict[str, Any]:
    """Tokenize one input shard into its train/val shards, then mark it done."""
    tokenizer = _tokenizer(str(output_path(job.output) / TOKENIZER_FILE), job.tokenizer_sha256)
    limit = int(np.iinfo(job.dtype).max)
    splits: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    text_bytes = {s: 0 for s in SPLITS}
    rows = empty = no_tokens = 0
    with _encoder_threads(job.threads):
        for texts in read_batches(job.source, job.text_key):
            rows += len(texts)
            kept = [t for t in texts if t]
            empty += len(texts) - len(kept)
            for text, tokens in zip(kept, _encode(tokenizer, kept, limit, job)):
                if len(tokens) == 0:
                    no_tokens += 1
                    continue
                data = text.encode("utf-8")
                split = "val" if _is_val(job.seed, data, job.val_fraction) else "train"
                splits[split].append(tokens)
                text_bytes[split] += len(data)
            report_progress(len(texts))

    rng = np.random.default_rng([job.seed, job.task])
    result: dict[str, Any] = {
        "task": job.task,
        "source": job.source,
        "rows": rows,
        "empty": empty,
        "encoded_to_nothing": no_tokens,
    }
    for split in SPLITS:
        docs = splits[split]
        order = rng.permutation(len(docs))
        result[split] = {"documents": 0, "tokens": 0, "text_bytes": text_bytes[split]}
        if docs:
            written = write_shard(
                output_path(job.output) / split,
                f"part-{job.task:05d}",
                [docs[i] for i in order],
                job.eos_id,
                job.dtype,
                {
                    "split": split,
                    "source": job.source,
                    "task": job.task,
                    "tokenizer": job.tokenizer_name,
                    "tokenizer_sha256": job.tokenizer_sha256,
                    "seed": job.seed,
                    "val_fraction": job.val_fraction,
                    "text_bytes": text_bytes[split],
                },
            )
            result[split] |= {"documents": written["documents"], "tokens": written["tokens"]}
    Markers(output_path(job.output) / "work").mark(job.task, result)
    return result


def _encode(tokenizer: Tokenizer, texts: list[str], limit: int, job: TokenizeJob) -> list[np.ndarray]:
    """One batch → one array per document. encode_batch_fast skips the character offsets
    encode_batch computes (we never use them); ids are checked against the dtype's range."""
    if not texts:
        return []
    encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    ids = [e.ids for e in encodings]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    if len(flat) and int(flat.max()) > limit:
        raise TokenizerError(f"{job.source}: token id {int(flat.max())} does not fit {job.dtype}")
    return np.split(flat.astype(job.dtype), np.cumsum(lengths)[:-1])


def _is_val(seed: int, text: bytes, fraction: float) -> bool:
    if fraction <= 0.0:
        return False
    digest = hashlib.blake2b(text, digest_size=8, key=seed.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little") < fraction * 2.0**64


_TOKENIZERS: dict[tuple[str, str], Tokenizer] = {}


def _tokenizer(path: str, sha256: str) -> Tokenizer:
    """Loaded once per worker process (a 256K vocabulary takes a while to parse)."""
    key = (path, sha256)
    if key not in _TOKENIZERS:
        local = local_file(output_path(path))  # the output's copy: on object storage, downloaded
        found = sha256_file(local)
        if found != sha256:
            raise TokenizerError(f"{path} changed during the run (hash {found[:12]}, expected {sha256[:12]})")
        tokenizer = Tokenizer.from_file(str(local))
        tokenizer.encode_special_tokens = True  # as load_tokenizer: text never becomes EOS
        _TOKENIZERS[key] = tokenizer
    return _TOKENIZERS[key]


@contextmanager
def _encoder_threads(threads: int) -> Iterator[None]:
    """HF tokenizers parallelizes encode_batch over a Rayon pool: off for one thread per
    worker, else sized once per process (RAYON_NUM_THREADS is read when the pool starts)."""
    keys = ("TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def summarize(results: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "tokenizer": settings["tokenizer"],
        "dtype": settings["dtype"],
        "eos_id": settings["eos_id"],
        "shards": len(results),
        "rows": sum(r["rows"] for r in results),
        "empty": sum(r["empty"] for r in results),
        "encoded_to_nothing": sum(r["encoded_to_nothing"] for r in results),
    }
    for split in SPLITS:
        docs, tokens, text = (sum(r[split][key] for r in results) for key in ("documents", "tokens", "text_bytes"))
        # bytes per token counts the text's own tokens, not the EOS tokens tokenize adds
        summary[split] = {
            "documents": docs,
            "tokens": tokens,
            "text_bytes": text,
            "bytes_per_token": round(text / (tokens - docs), 4) if tokens > docs else None,
        }
    return summary


def format_summary(summary: dict[str, Any], output: str | Path) -> str:
    lines = [
        (
            f"{summary['shards']} shard(s) tokenized with {summary['tokenizer']} "
            f"({summary['dtype']}, EOS id {summary['eos_id']}) → {output}"
        ),
        f"{'split':<6} {'documents':>10} {'tokens':>14} {'MB text':>9} {'bytes/token':>12}",
    ]
    for split in SPLITS:
        s = summary[split]
        bpt = f"{s['bytes_per_token']:.3f}" if s["bytes_per_token"] else "-"
        lines.append(f"{split:<6} {s['documents']:>10,} {s['tokens']:>14,} {s['text_bytes'] / 1e6:>9,.1f} {bpt:>12}")
    lines.append(
        f"skipped: {summary['empty']:,} empty document(s), {summary['encoded_to_nothing']:,} that encode to no token"
    )
    return "\n".join(lines)
