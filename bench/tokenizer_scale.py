"""multiword-256k at its full size on ~1 GB: peak memory, time and held-out compression vs bpe-50k.

Run from the repo root:
    .venv/bin/python bench/tokenizer_scale.py build --out /tmp/tok1g [--mb 1000]
    .venv/bin/python bench/tokenizer_scale.py train --out /tmp/tok1g            # both recipes, one at a time
    .venv/bin/python bench/tokenizer_scale.py unique --out /tmp/tok1g           # memory vs *unique* text
    rm -r /tmp/tok1g

Text: every real text in ../shared/data (brown with its /TAGs stripped, abc, state_union,
inaugural, webtext, udhr2, and the pages pipelines/extract-only.yaml extracts from the WARCs),
~20 MB. Every 10th document is held out whole (`heldout/`); the other documents are cut into
sentences, and `train/` holds documents made of those sentences shuffled (5-60 sentences each,
paragraph breaks kept), a new permutation per pass, until --mb: the ~20 MB of unique sentences
repeat ~50 times. `unique/` holds one pass (each sentence once), in prefixes of 5, 10 and all MB.

Repetition flatters any trainer that deduplicates (HF counts each distinct word once), so
`unique` measures what the memory grows with: the same training on unique text of growing size.
Results: printed, and OUT/results.json.
"""

from __future__ import annotations

import argparse
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
import yaml

from corpusforge.tokenizer.recipes import load_recipe

SHARED = ROOT.parent / "shared" / "data"
SHARD_BYTES = 64_000_000
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_TAG = re.compile(r"/[^\s/]+(?=\s|$)")
_BROWN_SPACE = re.compile(r" ([,.;:?!')])|([(`]) ")


# --- real documents ---------------------------------------------------------------------------


def zip_texts(name: str) -> list[tuple[str, str]]:
    with zipfile.ZipFile(SHARED / "text" / f"{name}.zip") as z:
        return [
            (n, z.read(n).decode("utf-8", "replace"))
            for n in sorted(z.namelist())
            if not n.endswith("/") and "README" not in n and not n.endswith("CONTENTS")
        ]


def brown_text(raw: str) -> str:
    """`The/at Fulton/np-tl County/nn-tl ./.` -> `The Fulton County.` (paragraphs kept)."""
    paragraphs = []
    for para in raw.split("\n\n"):
        words = _TAG.sub("", " ".join(para.split())).strip()
        if words:
            paragraphs.append(_BROWN_SPACE.sub(lambda m: m.group(1) or m.group(2), words))
    return "\n\n".join(paragraphs)


def blocks(text: str, lines: int) -> list[str]:
    """A long file (abc, webtext) as documents of `lines` lines each."""
    rows = text.splitlines()
    return ["\n".join(rows[i : i + lines]).strip() for i in range(0, len(rows), lines)]


def extracted_pages(work: Path) -> list[str]:
    out = work / "extract"
    if not (out / "data").is_dir():
        warcs = [str(p) for p in sorted((SHARED / "warc").glob("*.warc.gz"))]
        cmd = ["run", "pipelines/extract-only.yaml", "--input", *warcs, "--output", str(out), "--workers", "2"]
        subprocess.run([sys.executable, "-m", "corpusforge", *cmd, "--quiet"], cwd=ROOT, check=True)
    return [
        t for p in sorted((out / "data").glob("*.parquet")) for t in pq.read_table(p).column("text").to_pylist() if t
    ]


def real_documents(work: Path) -> list[str]:
    docs = [brown_text(t) for _, t in zip_texts("brown")]
    for name, lines in (("abc", 40), ("webtext", 40)):
        docs += [b for _, t in zip_texts(name) for b in blocks(t, lines)]
    for name in ("state_union", "inaugural", "udhr2"):
        docs += [t for _, t in zip_texts(name)]
    docs += extracted_pages(work)
    return [d for d in docs if d.strip()]


def sentences(doc: str) -> list[str]:
    return [s for line in doc.splitlines() for s in _SENTENCE.split(line.strip()) if s]


# --- writing shards ---------------------------------------------------------------------------


class ShardWriter:
    """Parquet shards of ~SHARD_BYTES text with the pipeline's `id` and `text` columns."""

    def __init__(self, folder: Path, prefix: str = "part") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.prefix, self.rows, self.size, self.shards, self.total = folder, prefix, [], 0, 0, 0

    def add(self, text: str) -> None:
        self.rows.append(text)
        n = len(text.encode("utf-8"))
        self.size += n
        self.total += n
        if self.size >= SHARD_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            ids = [f"{self.shards}/{i}" for i in range(len(self.rows))]
            table = pa.table({"id": ids, "text": self.rows})
            pq.write_table(table, self.folder / f"{self.prefix}-{self.shards:05d}.parquet")
            self.rows, self.size, self.shards = [], 0, self.shards + 1


def documents_from(pool: list[str], rng: random.Random) -> list[str]:
    """One pass over `pool` in a new order, cut into documents of 5-60 sentences."""
    order = pool[:]
    rng.shuffle(order)
    docs, i = [], 0
    while i < len(order):
        n = rng.randint(5, 60)
        parts = order[i : i + n]
        i += n
        docs.append("".join(s + ("\n\n" if rng.random() < 0.15 else " ") for s in parts).rstrip())
    return docs


def build(out: Path, mb: float, seed: int = 0) -> dict[str, Any]:
    docs = real_documents(out)
    held = docs[9::10]
    pool = [s for i, d in enumerate(docs) if i % 10 != 9 for s in sentences(d)]
    rng = random.Random(seed)
    heldout = ShardWriter(out / "heldout")
    for d in held:
        heldout.add(d)
    heldout.flush()
    # one pass: every training sentence once, written as prefixes of growing size
    unique_docs = documents_from(pool, random.Random(seed + 1))
    unique_mb = sum(len(d.encode("utf-8")) for d in unique_docs) / 1e6
    for size in (5, 10, None):
        w = ShardWriter(out / f"unique-{size or 'all'}")
        for d in unique_docs:
            if size and w.total >= size * 1e6:
                break
            w.add(d)
        w.flush()
    train = ShardWriter(out / "train")
    passes = 0
    while train.total < mb * 1e6:
        passes += 1
        for d in documents_from(pool, rng):
            train.add(d)
            if train.total >= mb * 1e6:
                break
    train.flush()
    info = {
        "real_documents": len(docs),
        "heldout_documents": len(held),
        "heldout_mb": heldout.total / 1e6,
        "training_sentences": len(pool),
        "unique_mb": unique_mb,
        "train_mb": train.total / 1e6,
        "train_shards": train.shards,
        "passes": passes,
    }
    (out / "build.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


# --- training and measuring -------------------------------------------------------------------


FIT = "import sys; from corpusforge.tokenizer.train import train_tokenizer as t; " + (
    "t(sys.argv[1], [sys.argv[2]], sys.argv[3], overwrite=True, quiet=True, fit_vocab=True)"
)


def train(recipe: str, inputs: str, out: Path, fit: bool = False) -> dict[str, Any]:
    """The recipe's real command in a fresh process (`fit`: keep the vocabulary the text reaches,
    through the Python API, which the CLI does not offer). Peak RSS: GNU time's, the process's
    VmHWM at exit."""
    if fit:
        cmd = [sys.executable, "-c", FIT, recipe, inputs, str(out)]
    else:
        cmd = [sys.executable, "-m", "corpusforge", "train-tokenizer", recipe, "--input", inputs]
        cmd += ["--output", str(out), "--overwrite", "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr[-3000:]}")
    max_rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    info = json.loads((out / "training.json").read_text())
    return {
        "command": " ".join(["corpusforge", *cmd[3:]])
        if not fit
        else f"train_tokenizer({recipe!r}, {inputs!r}, fit_vocab=True)",
        "vocab_size": info["vocab_size"],
        "text_mb": info["text_bytes"] / 1e6,
        "wall_seconds": round(wall, 1),
        "train_seconds": info["seconds"],
        "peak_rss_mb": round(max_rss / 1024),
        "stages": info.get("stages"),
        "load_average": os.getloadavg()[0],
    }


def compression(folders: list[Path], heldout: str) -> list[dict[str, Any]]:
    from corpusforge.tokenizer.stats import tokenizer_stats

    stats = tokenizer_stats(folders, [heldout], quiet=True)
    keys = ("bytes_per_token", "tokens", "spanning_share", "round_trip_failures", "vocab_used")
    return [{k: row[k] for k in keys} for row in stats["tokenizers"]]


def cmd_train(out: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"build": json.loads((out / "build.json").read_text())}
    inputs = str(out / "train" / "*.parquet")
    for recipe in ("multiword-256k", "bpe-50k"):
        r = train(recipe, inputs, out / "tok" / recipe)
        results[recipe] = r
        print(
            f"{recipe}: {r['vocab_size']:,} pieces from {r['text_mb']:,.0f} MB in {r['wall_seconds']:,.0f} s, "
            f"peak RSS {r['peak_rss_mb']:,} MB  stages {r['stages']}",
            flush=True,
        )
    rows = compression([out / "tok" / "bpe-50k", out / "tok" / "multiword-256k"], str(out / "heldout" / "*.parquet"))
    for recipe, row in zip(("bpe-50k", "multiword-256k"), rows):
        results[recipe] |= row
    bpe, mw = results["bpe-50k"], results["multiword-256k"]
    print(
        f"held out ({results['build']['heldout_documents']} real documents, {results['build']['heldout_mb']:.1f} MB):"
    )
    for name, r in (("bpe-50k", bpe), ("multiword-256k", mw)):
        print(
            f"  {name:<15} {r['bytes_per_token']:.3f} bytes/token, {r['tokens']:,} tokens "
            f"({r['tokens'] / bpe['tokens'] - 1:+.1%}), spanning {r['spanning_share']:.1%}, "
            f"round-trip failures {r['round_trip_failures']}"
        )
    return results


def distinct_words(inputs: str) -> tuple[int, int]:
    """Stage 1's words (GPT-2's regex, digits split): how many in all, how many distinct -
    what HF's word counts hold."""
    from corpusforge.tokenizer.corpus import TextStream, resolve_shards
    from corpusforge.tokenizer.recipes import load_recipe
    from corpusforge.tokenizer.train import pre_tokenizer

    split = pre_tokenizer(load_recipe("multiword-256k"), use_regex=True)
    seen: set[str] = set()
    total = 0
    for text in TextStream(resolve_shards(inputs), quiet=True):
        words = [w for w, _ in split.pre_tokenize_str(text)]
        total += len(words)
        seen.update(words)
    return total, len(seen)


def cmd_unique(out: Path) -> dict[str, Any]:
    """The same recipe on unique text of growing size: what the peak grows with."""
    results: dict[str, Any] = {}
    for size in ("5", "10", "all"):
        inputs = str(out / f"unique-{size}" / "*.parquet")
        # unique text this small supports fewer than 256,000 pieces: keep what it reaches
        r = train("multiword-256k", inputs, out / "tok" / f"unique-{size}", fit=True)
        r["words"], r["distinct_words"] = distinct_words(inputs)
        results[size] = r
        print(
            f"unique {r['text_mb']:.1f} MB: {r['vocab_size']:,} pieces, {r['wall_seconds']:.0f} s, "
            f"peak RSS {r['peak_rss_mb']:,} MB; {r['distinct_words']:,} distinct of {r['words']:,} stage-1 words; "
            f"stages {r['stages']}",
            flush=True,
        )
    # The one-stage trainer (no pre-tokenization at all) on the same unique text, at the size
    # the two stages reached: its memory, and both on the held-out documents.
    recipe = out / "multiword-one-stage.yaml"
    one_stage = load_recipe("multiword-256k").to_dict() | {"name": "multiword-one-stage", "superword_transition": None}
    recipe.write_text(yaml.safe_dump(one_stage | {"vocab_size": results["all"]["vocab_size"]}))
    r = train(str(recipe), str(out / "unique-all" / "*.parquet"), out / "tok" / "one-stage-all", fit=True)
    results["one_stage_all"] = r
    rows = compression([out / "tok" / "unique-all", out / "tok" / "one-stage-all"], str(out / "heldout" / "*.parquet"))
    results["all"] |= rows[0]
    r |= rows[1]
    print(
        f"one stage on the same {r['text_mb']:.1f} MB: {r['vocab_size']:,} pieces, {r['wall_seconds']:.0f} s, "
        f"peak RSS {r['peak_rss_mb']:,} MB"
    )
    for name, row in (("two stages", results["all"]), ("one stage", r)):
        print(f"  {name:<10} held out: {row['bytes_per_token']:.3f} bytes/token, spanning {row['spanning_share']:.1%}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=("build", "train", "unique"))
    ap.add_argument("--out", type=Path, required=True, help="work folder outside the repo, e.g. /tmp/tok1g")
    ap.add_argument("--mb", type=float, default=1000.0, help="training text to build (default 1000 MB)")
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs the real data in {SHARED}")
    if args.step == "build":
        result = build(args.out, args.mb)
        print(json.dumps(result, indent=2))
    else:
        result = cmd_train(args.out) if args.step == "train" else cmd_unique(args.out)
    file = args.out / "results.json"
    previous = json.loads(file.read_text()) if file.is_file() else {}
    file.write_text(json.dumps(previous | {args.step: result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
