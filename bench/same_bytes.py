"""Do two checkouts make the same bytes? The sample runs that a refactor must not change.

    python bench/same_bytes.py --manifest /tmp/before.json      # in the old checkout
    python bench/same_bytes.py --manifest /tmp/after.json       # in the new one
    python bench/same_bytes.py --compare /tmp/before.json /tmp/after.json

Runs, from the checkout it is started in (`python -m corpusforge`, so that checkout's package):
the `massivetext`, `c4` and `extract-only` pipelines on the three sample crawls, then `make
train`'s chain (train-tokenizer with a 4,096 vocabulary, tokenize with a 10 % validation split,
the tiny-sample training config), all in one folder (--work; the same path for both checkouts,
since configs and checkpoints record their paths). The manifest holds the SHA-256 of every file
these wrote except intermediate `work/` folders and the files that record wall time (stats.json,
report.html, log.csv, loss.png, run summaries); --compare lists the files that differ or exist
on one side only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CORPUSFORGE_SHARED", ROOT.parent / "shared" / "data"))
SAMPLES = ("cc-sample-0000.warc.gz", "cc-sample-0001.warc.gz", "articles-181.warc.gz")
PIPELINES = ("massivetext", "c4", "extract-only")
# Files that record how long something took (or when), so they differ between any two runs.
TIMED = {
    "stats.json",
    "report.html",
    "log.csv",
    "loss.png",
    "tokenize.json",
    "training.json",
    "summary.json",
    ".corpusforge",
    ".lock",
}


def cf(*args: str) -> None:
    cmd = [sys.executable, "-m", "corpusforge", *args]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"  {time.perf_counter() - t0:6.1f} s  corpusforge {' '.join(args)}", file=sys.stderr)


def hash_tree(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and p.name not in TIMED and not p.name.endswith(".tmp") and "work" not in rel.parts:
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def produce(out: Path, manifest_path: Path) -> None:
    inputs = [str(SHARED / "warc" / n) for n in SAMPLES]
    missing = [p for p in inputs if not Path(p).is_file()]
    if missing:
        sys.exit(f"sample crawls missing: {missing} (set CORPUSFORGE_SHARED to shared/data)")
    out.mkdir(parents=True, exist_ok=True)
    for name in PIPELINES:
        cf(
            "run",
            f"pipelines/{name}.yaml",
            "--input",
            *inputs,
            "--output",
            str(out / name),
            "--workers",
            "2",
            "--overwrite",
            "--quiet",
            "--no-report",
        )
    corpus = str(out / "massivetext" / "data" / "*.parquet")
    cf(
        "train-tokenizer",
        "tokenizers/bpe-50k.yaml",
        "--input",
        corpus,
        "--output",
        str(out / "tok"),
        "--vocab-size",
        "4096",
        "--overwrite",
        "--quiet",
    )
    cf(
        "tokenize",
        "--tokenizer",
        str(out / "tok"),
        "--input",
        corpus,
        "--output",
        str(out / "tokens"),
        "--val-fraction",
        "0.1",
        "--workers",
        "2",
        "--overwrite",
        "--quiet",
    )
    recipe = next(p for p in ("pipelines/training", "pipelines/train") if (ROOT / p).is_dir())  # before the rename
    config = yaml.safe_load((ROOT / recipe / "tiny-sample.yaml").read_text())
    config |= {"data": str(out / "tokens"), "out_dir": str(out / "train"), "device": "cpu"}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(config, f)
    try:
        cf("train", f.name, "--overwrite", "--quiet")
    finally:
        os.unlink(f.name)
    manifest = {}
    for part in (*PIPELINES, "tok", "tokens", "train"):
        manifest |= {f"{part}/{k}": v for k, v in hash_tree(out / part).items()}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    print(f"{len(manifest)} files hashed → {manifest_path}")


def compare(a: Path, b: Path) -> int:
    before, after = ({k: v for k, v in json.loads(m.read_text()).items() if Path(k).name not in TIMED} for m in (a, b))
    differ = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    only_a, only_b = sorted(before.keys() - after.keys()), sorted(after.keys() - before.keys())
    same = len(before.keys() & after.keys()) - len(differ)
    print(f"{same} files identical, {len(differ)} differ, {len(only_a)} only in {a}, {len(only_b)} only in {b}")
    for label, names in (("differ", differ), (f"only in {a}", only_a), (f"only in {b}", only_b)):
        for n in names:
            print(f"  {label}: {n}")
    return 1 if differ or only_a or only_b else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "corpusforge-same-bytes",
        help="folder for the runs (default: /tmp/corpusforge-same-bytes)",
    )
    p.add_argument("--manifest", type=Path, help="write the hashes here")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = p.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.manifest:
        p.error("give --manifest FILE or --compare BEFORE AFTER")
    produce(args.work, args.manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
