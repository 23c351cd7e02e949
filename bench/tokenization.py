"""Tokenizer benchmark: compression, training cost and tokenize throughput, on real text.

Run from the repo root (`make bench`):  .venv/bin/python bench/tokenization.py [--skip-spm] [--quick]

Text (all real, none of it synthetic): the 218 pages extracted from ../shared/data/warc by
pipelines/extract-only.yaml, the 67 State of the Union and 59 inaugural addresses
(../shared/data/text), ~3.9 MB. Every 10th document (in that order) is held out.

1. Largest vocabulary the real training text supports, per recipe: train with an impossible
   vocab_size, read the size training reached (min_frequency 2) from the error, train again at
   that size through the CLI (time, peak RSS), then `tokenizer-stats` on the held-out text.
   The goal: the multi-word vocabulary needs >= 20 % fewer tokens than the 50K-style BPE.
2. The choice of trainer for the multi-word recipe: SentencePiece unigram and BPE with
   split_by_whitespace=false (digits split, byte fallback, identity normalization, same max
   piece length), on the same text, at the same vocabulary size, against our HF trainer.
3. Training cost at the recipes' full sizes (50,257 and 256,000). The real text cannot support
   256,000 pieces, so the training text plus the UDHR in ~380 languages is repeated to
   ~32 MB; copies after the first shuffle each document's sentences so their text differs.
   Repetition makes pieces frequent that would not be in a real 32 MB corpus: this measures
   time and memory, not quality.
4. `corpusforge tokenize` throughput at 1 and 2 workers against a plain
   `Tokenizer.encode_batch` over the same texts at the same thread count (goal >= 0.8x), on
   the training text repeated the same way to ~32 MB in 8 shards.
Results: printed, and bench/out/tokenizers.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.errors import VocabularyTooLargeError
from corpusforge.tokenizer.stats import tokenizer_stats
from corpusforge.tokenizer.train import train_tokenizer

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
WORK = OUT / "tokenizers"
RECIPES = ("bpe-50k", "multiword-256k")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# --- text ----------------------------------------------------------------------------------


def real_documents() -> list[str]:
    """Extracted pages, then the speeches: the benchmark's whole real corpus, in a fixed order."""
    extracted = WORK / "extract"
    if not (extracted / "data").is_dir():
        run_cli(
            [
                "run",
                "pipelines/extract-only.yaml",
                "--input",
                *map(str, sorted((SHARED / "warc").glob("*.warc.gz"))),
                "--output",
                str(extracted),
                "--workers",
                "2",
                "--quiet",
            ]
        )
    docs = [
        t
        for p in sorted((extracted / "data").glob("*.parquet"))
        for t in pq.read_table(p, columns=["text"]).column("text").to_pylist()
        if t
    ]
    return docs + read_zip("state_union") + read_zip("inaugural")


def read_zip(name: str) -> list[str]:
    with zipfile.ZipFile(SHARED / "text" / f"{name}.zip") as z:
        return [z.read(n).decode("utf-8", "replace") for n in sorted(z.namelist()) if n.endswith(".txt")]


def write_shards(folder: Path, docs: list[str], shards: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    paths = []
    for s in range(shards):
        part = docs[s::shards]
        path = folder / f"part-{s:05d}.parquet"
        pq.write_table(pa.table({"id": [f"{s}/{i}" for i in range(len(part))], "text": part}), path)
        paths.append(str(path))
    return paths


def repeated(docs: list[str], target_bytes: int, seed: int = 0) -> list[str]:
    """Copies of `docs` up to target_bytes; copies after the first shuffle sentences per document."""
    rng, out, size, copy = random.Random(seed), [], 0, 0
    while size < target_bytes:
        for d in docs:
            if copy:
                sentences = _SENTENCE.split(d)
                rng.shuffle(sentences)
                d = " ".join(sentences)
            out.append(d)
            size += len(d.encode("utf-8"))
            if size >= target_bytes:
                break
        copy += 1
    return out


# --- running the CLI -----------------------------------------------------------------------


def run_cli(args: list[str]) -> dict[str, Any]:
    """Run `corpusforge ARGS` in a fresh process: wall seconds and output."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "corpusforge", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"corpusforge {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return {"seconds": time.perf_counter() - start, "output": proc.stdout}


def train(recipe: str, inputs: list[str], out: Path, vocab_size: int | None = None) -> dict[str, Any]:
    args = ["train-tokenizer", recipe, "--input", *inputs, "--output", str(out), "--overwrite", "--quiet"]
    run = run_cli(args + (["--vocab-size", str(vocab_size)] if vocab_size else []))
    info = json.loads((out / "training.json").read_text())
    # peak_rss_mb: VmHWM of the command's process (reading the shards included)
    return {
        "vocab_size": info["vocab_size"],
        "text_mb": info["text_bytes"] / 1e6,
        "train_seconds": info["seconds"],
        "wall_seconds": run["seconds"],
        "peak_rss_mb": info["peak_rss_mb"],
    }


def supported_size(recipe: str, inputs: list[str]) -> int:
    try:
        train_tokenizer(recipe, inputs, WORK / "probe", vocab_size=10_000_000, overwrite=True, quiet=True)
    except VocabularyTooLargeError as err:
        return err.supported
    raise AssertionError("10M tokens were supported?")


# --- 1. compression at the largest supported vocabulary --------------------------------------


def compression(train_paths: list[str], held_paths: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for recipe in RECIPES:
        size = supported_size(recipe, train_paths)
        result[recipe] = {"supported": size} | train(recipe, train_paths, WORK / "tok" / recipe, size)
    # Both at the smaller of the two sizes too: the same vocabulary size, side by side.
    same = min(r["supported"] for r in result.values())
    result["multiword-same-size"] = train("multiword-256k", train_paths, WORK / "tok" / "multiword-same", same)
    folders = [WORK / "tok" / r for r in RECIPES] + [WORK / "tok" / "multiword-same"]
    stats = tokenizer_stats(folders, held_paths, quiet=True)
    for key, row in zip(list(RECIPES) + ["multiword-same-size"], stats["tokenizers"]):
        result[key] |= {
            k: row[k]
            for k in (
                "bytes_per_token",
                "tokens_per_word",
                "vocab_used",
                "spanning_share",
                "round_trip_failures",
                "tokens",
            )
        }
    result["held_out"] = {"documents": stats["documents"], "mb": stats["text_bytes"] / 1e6, "words": stats["words"]}
    return result


# --- 2. SentencePiece unigram vs BPE against our trainer --------------------------------------


def sentencepiece_comparison(train_docs: list[str], held_docs: list[str], size: int, max_piece: int) -> dict[str, Any]:
    import sentencepiece as spm

    def chunks():  # SentencePiece skips "sentences" over max_sentence_length: cut at line ends
        for d in train_docs:
            buf = ""
            for line in d.split("\n"):
                if buf and len(buf) + len(line) > 8000:
                    yield buf
                    buf = ""
                buf += line[:8000] + "\n"
            if buf:
                yield buf

    held_bytes = sum(len(d.encode("utf-8")) for d in held_docs)
    result: dict[str, Any] = {}
    for model_type in ("unigram", "bpe"):
        model = io.BytesIO()
        start = time.perf_counter()
        vocab = size
        while True:
            try:
                spm.SentencePieceTrainer.train(
                    sentence_iterator=chunks(),
                    model_writer=model,
                    model_type=model_type,
                    vocab_size=vocab,
                    split_by_whitespace=False,
                    split_digits=True,
                    byte_fallback=True,
                    max_sentencepiece_length=max_piece,
                    normalization_rule_name="identity",
                    add_dummy_prefix=False,
                    remove_extra_whitespaces=False,
                    max_sentence_length=16384,
                    character_coverage=0.9999,
                    num_threads=2,
                    minloglevel=2,
                    unk_id=0,
                    bos_id=-1,
                    eos_id=1,
                    eos_piece="<|endoftext|>",
                )
                break
            except RuntimeError as exc:  # unigram: "Vocabulary size too high (N). Please set it to a value <= M."
                m = re.search(r"value <= (\d+)", str(exc))
                if not m:
                    raise
                vocab = int(m.group(1))
                model = io.BytesIO()
        seconds = time.perf_counter() - start
        sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
        ids = sp.encode(held_docs)
        tokens = sum(map(len, ids))
        result[model_type] = {
            "vocab_size": sp.get_piece_size(),
            "seconds": seconds,
            "tokens": tokens,
            "bytes_per_token": held_bytes / tokens,
            "round_trip_failures": sum(sp.decode(i) != d for i, d in zip(ids, held_docs)),
        }
    return result


# --- 4. tokenize throughput ----------------------------------------------------------------

# Both sides run in a fresh process and time only the call (not interpreter start-up or
# imports). The baseline's clock starts with the texts in memory and the tokenizer loaded;
# tokenize()'s includes loading the tokenizer, reading Parquet, starting workers, writing.
BASELINE = """
import json, sys, time, pyarrow.parquet as pq
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
tok.encode_special_tokens = True
texts = [t for p in sys.argv[3:] for t in pq.read_table(p, columns=["text"]).column("text").to_pylist() if t]
fn = getattr(tok, sys.argv[2])
start = time.perf_counter()
tokens = sum(len(e.ids) for e in fn(texts, add_special_tokens=False))
print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - start}))
"""

OURS = """
import json, sys, time
from corpusforge.tokenizer.tokenize import tokenize
start = time.perf_counter()
s = tokenize(sys.argv[1], sys.argv[4:], sys.argv[2], workers=int(sys.argv[3]), val_fraction=0.01,
             overwrite=True, quiet=True)
seconds = time.perf_counter() - start
# the text's own tokens (EOS excluded), as the baseline counts them
print(json.dumps({"tokens": sum(s[k]["tokens"] - s[k]["documents"] for k in ("train", "val")), "seconds": seconds}))
"""


def timed(code: str, args: list[str], threads: int) -> dict[str, float]:
    env = os.environ | {"RAYON_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true" if threads > 1 else "false"}
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout)


def throughput(tokenizer: Path, paths: list[str], repeats: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    tokenizer_json = str(tokenizer / "tokenizer.json")
    for n in (1, 2):

        def best(code: str, args: list[str], n: int = n) -> dict[str, float]:
            return min((timed(code, args, n) for _ in range(repeats)), key=lambda run: run["seconds"])

        ours = best(OURS, [str(tokenizer), str(WORK / "tokens" / f"{tokenizer.name}-w{n}"), str(n), *paths])
        plain = best(BASELINE, [tokenizer_json, "encode_batch", *paths])
        fast = best(BASELINE, [tokenizer_json, "encode_batch_fast", *paths])
        assert ours["tokens"] == plain["tokens"] == fast["tokens"], (ours, plain, fast)
        rate = {k: r["tokens"] / r["seconds"] for k, r in (("ours", ours), ("plain", plain), ("fast", fast))}
        rows[f"workers_{n}"] = {
            "tokens": ours["tokens"],
            "tokenize_tokens_s": rate["ours"],
            "encode_batch_tokens_s": rate["plain"],
            "encode_batch_fast_tokens_s": rate["fast"],
            "ratio": rate["ours"] / rate["plain"],
        }
    return rows


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-spm", action="store_true", help="skip the SentencePiece comparison (slow unigram)")
    ap.add_argument("--quick", action="store_true", help="smaller corpora for steps 3-4, one repeat")
    ap.add_argument("--train-mb", type=float, default=32.0, help="corpus for step 3 (default 32 MB)")
    ap.add_argument("--tokenize-mb", type=float, default=32.0, help="corpus for step 4 (default 32 MB)")
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs the real data in {SHARED}")
    if args.quick:
        args.train_mb, args.tokenize_mb = 8.0, 8.0
    results: dict[str, Any] = {"load_average_at_start": os.getloadavg()}

    docs = real_documents()
    held = docs[9::10]
    train_docs = [d for i, d in enumerate(docs) if i % 10 != 9]
    train_paths = write_shards(WORK / "train", train_docs, 3)
    held_paths = write_shards(WORK / "heldout", held, 1)

    def mb(ds: list[str]) -> float:
        return sum(len(d.encode("utf-8")) for d in ds) / 1e6

    print(
        f"real text: {len(train_docs)} training documents ({mb(train_docs):.2f} MB), "
        f"{len(held)} held out ({mb(held):.2f} MB)"
    )

    comp = compression(train_paths, held_paths)
    results["compression"] = comp
    gpt2, mw, same = comp["bpe-50k"], comp["multiword-256k"], comp["multiword-same-size"]
    print("\n1. held-out compression at the largest vocabulary the real text supports (min_frequency 2)")
    print(
        f"{'tokenizer':<34} {'vocab':>8} {'bytes/token':>12} {'tokens':>9} {'vs BPE':>8} {'spanning':>9} "
        f"{'train s':>8} {'peak MB':>8}"
    )
    for name, r in (("bpe-50k recipe", gpt2), ("multiword-256k recipe", mw), ("multiword at the BPE's size", same)):
        print(
            f"{name:<34} {r['vocab_size']:>8,} {r['bytes_per_token']:>12.3f} {r['tokens']:>9,} "
            f"{r['tokens'] / gpt2['tokens'] - 1:>+8.1%} {r['spanning_share']:>9.1%} {r['train_seconds']:>8.1f} "
            f"{r['peak_rss_mb']:>8.0f}"
        )
    print(
        f"round-trip failures: {gpt2['round_trip_failures']} / {mw['round_trip_failures']} / {same['round_trip_failures']}"
        f" of {comp['held_out']['documents']} held-out documents"
    )

    if not args.skip_spm:
        size = same["vocab_size"]
        spm_result = sentencepiece_comparison(train_docs, held, size, max_piece=24)
        results["sentencepiece"] = spm_result
        print(f"\n2. multi-word trainers, split_by_whitespace=false, max piece 24, same text, vocab ~{size:,}")
        print(f"{'trainer':<34} {'vocab':>8} {'bytes/token':>12} {'train s':>8} {'round-trip fails':>17}")
        for name, r in (("SentencePiece unigram", spm_result["unigram"]), ("SentencePiece BPE", spm_result["bpe"])):
            print(
                f"{name:<34} {r['vocab_size']:>8,} {r['bytes_per_token']:>12.3f} {r['seconds']:>8.1f} "
                f"{r['round_trip_failures']:>17}"
            )
        print(
            f"{'HF byte-level BPE (our recipe)':<34} {same['vocab_size']:>8,} {same['bytes_per_token']:>12.3f} "
            f"{same['train_seconds']:>8.1f} {same['round_trip_failures']:>17}"
        )

    udhr = read_zip("udhr2")
    big = repeated(train_docs + udhr, int(args.train_mb * 1e6))
    big_paths = write_shards(WORK / "train-big", big, 8)
    print(f"\n3. training cost at full size: training text + UDHR (~380 languages), repeated to {mb(big):.1f} MB")
    results["full_size"] = {}
    for recipe in RECIPES:
        try:
            r = train(recipe, big_paths, WORK / "tok-full" / recipe)
        except SystemExit as exc:
            print(f"{recipe}: {str(exc).splitlines()[-1]}")
            continue
        results["full_size"][recipe] = r
        print(
            f"{recipe:<16} {r['vocab_size']:>8,} tokens from {r['text_mb']:.1f} MB: {r['train_seconds']:.1f} s "
            f"training ({r['wall_seconds']:.1f} s command), peak RSS {r['peak_rss_mb']:,.0f} MB"
        )

    corpus = repeated(train_docs, int(args.tokenize_mb * 1e6), seed=1)
    tok_paths = write_shards(WORK / "tokenize-input", corpus, 8)
    repeats = 1 if args.quick else 2
    print(
        f"\n4. tokenize throughput: {mb(corpus):.1f} MB in 8 shards, best of {repeats}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"{'tokenizer':<16} {'workers':>7} {'tokenize tok/s':>15} {'encode_batch tok/s':>19} {'ratio':>6} "
        f"{'encode_batch_fast':>18}"
    )
    results["throughput"] = {}
    for recipe in RECIPES:
        rows = throughput(WORK / "tok" / recipe, tok_paths, repeats)
        results["throughput"][recipe] = rows
        for w in (1, 2):
            r = rows[f"workers_{w}"]
            print(
                f"{recipe:<16} {w:>7} {r['tokenize_tokens_s']:>15,.0f} {r['encode_batch_tokens_s']:>19,.0f} "
                f"{r['ratio']:>6.2f} {r['encode_batch_fast_tokens_s']:>18,.0f}"
            )

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tokenizers.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {OUT / 'tokenizers.json'}")


if __name__ == "__main__":
    main()
