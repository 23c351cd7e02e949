"""One big WARC file on several workers: split into byte ranges, one task each.

Run from the repo root (`make bench`):  .venv/bin/python bench/one_warc.py [--copies 8] [--repeat 3]

Input. One gzipped WARC built from the real crawls in ../shared/data/warc: every record of
every file there, `--copies` times over; each copy's WARC-Record-IDs (and the request/response
links between them) and target URLs get a copy number, so the records are distinct, while
the HTML bytes are the real pages. It is written to /tmp/corpusforge-bench/ (built once per
--copies). The figures below say which input they come from.

Runs. The extraction pipeline (warc_reader → trafilatura → language → parquet_writer), each
run a fresh `corpusforge run` process (the CLI, as a user runs it):
- whole:   `split_bytes: 0`, 1 worker: one task for the file, as before splitting existed (once);
- split-1: `split_bytes: --split-mb`, 1 worker;
- split-2: the same, 2 workers;
split-1 and split-2 `--repeat` times, interleaved so load drift hits both alike; medians are
reported, of the process's wall time and of the run's own (stats.json `wall_seconds`: from
reading the config to the last file, without the ~3 s of Python start-up and imports).
The goal: split-2 at least 1.8 × as fast as split-1 on this 2-core machine, with the same
documents in the same order in every run: the rows of data/*.parquet concatenated in
shard-name order, and every stage's counts in stats.json. Start-up, the process pool and the
workers' set-up (the fastText model) are paid once per run and not halved by a second worker,
so the input must be big enough for them not to matter. Outputs go to bench/out/one_warc/
(git-ignored), figures to bench/out/one_warc.json.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SHARED = ROOT.parent / "shared" / "data" / "warc"
INPUTS = Path("/tmp/corpusforge-bench")
MODES = {"whole": (0, 1), "split-1": (None, 1), "split-2": (None, 2)}  # (split bytes, workers)
GOAL = 1.8
ID_HEADERS = ("WARC-Record-ID", "WARC-Concurrent-To", "WARC-Refers-To", "WARC-Warcinfo-ID")


def _copy_id(value: str, copy: int) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{value}#{copy}')}>"


def build_input(copies: int) -> Path:
    """Every record of the shared WARCs, `copies` times, with per-copy ids and URLs."""
    sources = sorted(SHARED.glob("*.warc.gz"))
    if not sources:
        sys.exit(f"no WARC files in {SHARED} (clone with ../shared beside the repo)")
    path = INPUTS / f"one-warc-x{copies}.warc.gz"
    if path.is_file():
        return path
    INPUTS.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for copy in range(copies):
            for source in sources:
                with open(source, "rb") as f:
                    for rec in ArchiveIterator(f):
                        headers = rec.rec_headers
                        for name in ID_HEADERS:
                            if headers.get_header(name):
                                headers.replace_header(name, _copy_id(headers.get_header(name), copy))
                        url = headers.get_header("WARC-Target-URI")
                        if url:
                            headers.replace_header("WARC-Target-URI", f"{url}{'&' if '?' in url else '?'}copy={copy}")
                        # the block: the HTTP headers as warcio writes them back, then the payload as it was
                        block = rec.raw_stream.read()
                        if rec.http_headers is not None:
                            block = rec.http_headers.to_bytes() + block
                            headers.remove_header("WARC-Block-Digest")
                        new = writer.create_warc_record(
                            headers.get_header("WARC-Target-URI") or "",
                            rec.rec_type,
                            payload=io.BytesIO(block),
                            warc_headers=headers,
                            length=len(block),
                        )
                        writer.write_record(new)
    tmp.rename(path)
    return path


def config(input_file: Path, out: Path, split_bytes: int) -> dict:
    return {
        "input": str(input_file),
        "output": str(out),
        "stages": [
            {"warc_reader": {"split_bytes": split_bytes}},
            {"trafilatura": {"favor_precision": True}},
            "language",
            "parquet_writer",
        ],
    }


def run_once(mode: str, input_file: Path, split_bytes: int) -> dict:
    split, workers = MODES[mode]
    out = OUT / "one_warc" / mode
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cfg = out.parent / f"{mode}.yaml"
    cfg.write_text(yaml.safe_dump(config(input_file, out, split_bytes if split is None else split)))
    cmd = [sys.executable, "-m", "corpusforge", "run", str(cfg), "--workers", str(workers), "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    shards = sorted((out / "data").glob("*.parquet"))
    rows = pa.concat_tables([pq.read_table(p) for p in shards]) if shards else None
    counts = [(s["name"], s["in"], s["out"], s["dropped"]) for s in stats["stages"]]
    pages = next(s["out"] for s in stats["stages"] if s["name"] == "warc_reader")
    return {
        "seconds": seconds,
        "inside": stats["wall_seconds"],
        "pages": pages,
        "shards": len(shards),
        "rows": rows,
        "counts": counts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=8, help="the shared WARCs' records this many times (default 8)")
    parser.add_argument("--split-mb", type=float, default=1.0, help="split_bytes of the split runs, in MiB (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (median reported)")
    args = parser.parse_args()
    input_file = build_input(args.copies)
    split_bytes = int(args.split_mb * 1024 * 1024)
    size = input_file.stat().st_size
    tasks = -(-size // split_bytes)
    print(
        f"input: {input_file} ({size / 1e6:.1f} MB; the records of {SHARED} × {args.copies}, ids and URLs "
        f"made distinct per copy); split runs: split_bytes {split_bytes:,} → {tasks} tasks",
        file=sys.stderr,
    )
    OUT.mkdir(parents=True, exist_ok=True)

    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for r in range(args.repeat):
        for mode in MODES if r == 0 else ("split-1", "split-2"):
            run = run_once(mode, input_file, split_bytes)
            runs[mode].append(run)
            print(
                f"  {mode:<8} run {r + 1}: {run['seconds']:6.2f} s (inside: {run['inside']:.2f} s), "
                f"{run['pages'] / run['seconds']:5.1f} pages/s, {run['shards']} shard(s)",
                file=sys.stderr,
            )
    reference = runs["whole"][0]
    identical = all(
        run["counts"] == reference["counts"]
        and (run["rows"] is None) == (reference["rows"] is None)
        and (run["rows"] is None or run["rows"].equals(reference["rows"]))
        for m in MODES
        for run in runs[m]
    )
    med = {m: statistics.median(run["seconds"] for run in runs[m]) for m in MODES}
    inside = {m: statistics.median(run["inside"] for run in runs[m]) for m in MODES}
    pages = reference["pages"]
    results = {
        "input": str(input_file),
        "input_bytes": size,
        "copies": args.copies,
        "split_bytes": split_bytes,
        "tasks": tasks,
        "pages": pages,
        "documents_out": 0 if reference["rows"] is None else reference["rows"].num_rows,
        "seconds": {m: [round(run["seconds"], 3) for run in runs[m]] for m in MODES},
        "median_seconds": {m: round(v, 3) for m, v in med.items()},
        "median_seconds_inside": {m: round(v, 3) for m, v in inside.items()},
        "pages_per_second": {m: round(pages / v, 2) for m, v in med.items()},
        "speedup_2_workers_vs_split_1": round(med["split-1"] / med["split-2"], 3),
        "speedup_2_workers_vs_split_1_inside": round(inside["split-1"] / inside["split-2"], 3),
        "speedup_2_workers_vs_whole": round(med["whole"] / med["split-2"], 3),
        "identical_outputs": identical,
        "goal": GOAL,
    }
    (OUT / "one_warc.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"\n| one WARC, {size / 1e6:.1f} MB, {pages} pages | wall | pages/s | the run's own wall |")
    print("|---|---:|---:|---:|")
    for m, (split, workers) in MODES.items():
        how = "whole file" if split == 0 else f"{tasks} ranges of {args.split_mb:g} MiB"
        print(
            f"| {how}, {workers} worker{'s' if workers > 1 else ''} | {med[m]:.2f} s | {pages / med[m]:.1f} "
            f"| {inside[m]:.2f} s |"
        )
    s1, sw = results["speedup_2_workers_vs_split_1"], results["speedup_2_workers_vs_whole"]
    si = results["speedup_2_workers_vs_split_1_inside"]
    print(f"\n2 workers vs 1: {s1:.2f}x (the runs' own wall: {si:.2f}x; vs the whole file: {sw:.2f}x); goal >= {GOAL}x")
    print(f"same documents, same order, same counts in every run: {'yes' if identical else 'NO'}")
    return 0 if identical and s1 >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
