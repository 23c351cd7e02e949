"""Output on object storage: the same pipeline writing to a local folder and to s3://, in one run.

Run from the repo root (`make bench`):  .venv/bin/python bench/object_storage.py [--repeat N]

pipelines/massivetext.yaml (every global stage: its work files, markers and shards all go to
the bucket) on the sample WARC files (../shared/data/warc, else data/sample), at 2 workers,
each run a fresh `corpusforge run` process:

- local   `--output bench/out/s3/local`;
- s3      `--output s3://bench/run`: the S3 server is moto's (tests/s3_server.py) on
          127.0.0.1, reached by pyarrow's real S3 client through AWS_ENDPOINT_URL.

moto is a Python server sharing this machine's 2 cores with the pipeline, so the ratio is an
upper bound on what the upload path costs (every file goes through a local temporary file and
one upload; markers and work files are small objects). Runs are interleaved; medians are
reported, and the shards must be byte-identical. Figures to bench/out/object_storage.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PIPELINE = ROOT / "pipelines" / "massivetext.yaml"
WORKERS = 2


def load_s3_server():
    """tests/s3_server.py, loaded by path (bench scripts do not put tests/ on sys.path)."""
    spec = importlib.util.spec_from_file_location("s3_server", ROOT / "tests" / "s3_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_inputs() -> list[str]:
    for folder in (ROOT.parent / "shared" / "data" / "warc", ROOT / "data" / "sample"):
        files = sorted(folder.glob("*.warc.gz"))
        if files:
            return [str(f) for f in files]
    sys.exit("no sample WARC files: run `make sample` first")


def run_once(output: str, inputs: list[str]) -> float:
    cmd = [
        sys.executable,
        "-m",
        "corpusforge",
        "run",
        str(PIPELINE),
        "--input",
        *inputs,
        "--output",
        output,
        "--workers",
        str(WORKERS),
        "--quiet",
        "--no-report",
    ]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per output kind (median reported)")
    args = parser.parse_args()
    try:
        s3_server = load_s3_server()
    except ImportError as exc:
        sys.exit(f"needs moto ({exc}): pip install -e '.[dev]'")
    inputs = sample_inputs()
    shutil.rmtree(OUT / "s3", ignore_errors=True)
    seconds: dict[str, list[float]] = {"local": [], "s3": []}
    server_cpu = 0.0  # CPU time of this process during the s3 runs: moto's server threads
    with s3_server.s3_server() as endpoint:
        print(f"S3 server at {endpoint}; {len(inputs)} input file(s), {args.repeat} run(s) each", file=sys.stderr)
        for r in range(args.repeat):  # a fresh folder each run: no time spent deleting the last one
            local, remote = OUT / "s3" / f"local-{r}", f"s3://{s3_server.BUCKET}/run-{r}"
            for kind, output in (("local", str(local)), ("s3", remote)):
                cpu0 = resource.getrusage(resource.RUSAGE_SELF)
                seconds[kind].append(run_once(output, inputs))
                cpu1 = resource.getrusage(resource.RUSAGE_SELF)
                if kind == "s3":
                    server_cpu += cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
                print(f"  {kind:<6} run {r + 1}: {seconds[kind][-1]:6.2f} s", file=sys.stderr)
        objects = s3_server.read_tree(remote)
    shards = {p.relative_to(local).as_posix(): p.read_bytes() for p in sorted((local / "data").glob("*.parquet"))}
    identical = shards == {k: v for k, v in objects.items() if k.startswith("data/")}
    med = {k: statistics.median(v) for k, v in seconds.items()}
    result = {
        "workers": WORKERS,
        "inputs": inputs,
        "repeat": args.repeat,
        "seconds": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "ratio_s3_vs_local": round(med["s3"] / med["local"], 3),
        "objects_written": len(objects),
        "identical_shards": identical,
        "s3_server_cpu_seconds_per_run": round(server_cpu / args.repeat, 3),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "object_storage.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n| massivetext ({WORKERS} workers) | local folder | s3:// (moto on loopback) | ratio | objects | "
        f"S3 server CPU per run | identical shards |"
    )
    print("|---|---:|---:|---:|---:|---:|:---:|")
    print(
        f"| median of {args.repeat} | {med['local']:.2f} s | {med['s3']:.2f} s | {result['ratio_s3_vs_local']:.2f} | "
        f"{len(objects)} | {result['s3_server_cpu_seconds_per_run']:.2f} s | {'yes' if identical else 'NO'} |"
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
