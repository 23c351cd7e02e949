"""Ray executor overhead: the same pipeline on the local pool and on Ray, in one run.

Run from the repo root (`make bench`):  .venv/bin/python bench/ray_overhead.py [--repeat N] [--scale K]

Both sample pipelines (pipelines/extract-only.yaml, and pipelines/massivetext.yaml with every
global stage) on the sample WARC files (../shared/data/warc, else data/sample), at 2 workers,
each run a fresh `corpusforge run` process (the CLI, as a user runs it):

- local      `--workers 2`: the process pool;
- ray        `--workers 2 --ray-address ADDR`: Ray tasks on a Ray instance that is already up
             (2 CPUs, started once by this script, as a cluster is): each run is a new Ray job
             with fresh worker processes, so the stages are imported and set up again each time;
- ray-cold   `--workers 2 --executor ray`: corpusforge starts (and stops) its own local Ray
             instance, the laptop case; the difference to `ray` is Ray's start-up cost.

Runs are interleaved (local, ray, ray-cold, local, ...) so load drift hits all alike; medians
are reported. Ray's cost is mostly fixed per run (a Ray job starts fresh worker processes,
which import the stages), so `--scale K` (the sample files K times, as links under new names)
shows how it amortizes on more input. The goal: ray within 15 % of local. Each run's stats.json also gives the
per-core rates (documents per CPU-second of each stage) that the cluster estimate in bench/README.md
uses. Outputs go under bench/out/ray/ (git-ignored); figures to bench/out/ray_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PIPELINES = {
    "extract-only": ROOT / "pipelines" / "extract-only.yaml",
    "massivetext": ROOT / "pipelines" / "massivetext.yaml",
}
MODES = ("local", "ray", "ray-cold")
GOAL = 1.15
WORKERS = 2

# A Ray instance of WORKERS CPUs in a child process we own: it prints its address, then
# holds the instance until its stdin closes, and shuts it down (never `ray stop`, which
# would stop every Ray instance on the machine).
HEAD = f"""
import sys, ray
ray.init(num_cpus={WORKERS}, include_dashboard=False, logging_level="ERROR")
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()
ray.shutdown()
"""


def sample_inputs(scale: int) -> list[str]:
    for folder in (ROOT.parent / "shared" / "data" / "warc", ROOT / "data" / "sample"):
        files = sorted(folder.glob("*.warc.gz"))
        if files:
            break
    else:
        sys.exit("no sample WARC files: run `make sample` first")
    if scale == 1:
        return [str(f) for f in files]
    folder = OUT / "ray" / f"input-x{scale}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k in range(scale):
        for f in files:
            (folder / f"{k:02d}-{f.name}").symlink_to(f.resolve())
    return [str(p) for p in sorted(folder.glob("*.warc.gz"))]


def run_once(name: str, mode: str, inputs: list[str], address: str) -> dict:
    out = OUT / "ray" / f"{name}-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "corpusforge",
        "run",
        str(PIPELINES[name]),
        "--input",
        *inputs,
        "--output",
        str(out),
        "--workers",
        str(WORKERS),
        "--quiet",
    ]
    if mode == "ray":
        cmd += ["--ray-address", address]
    elif mode == "ray-cold":
        cmd += ["--executor", "ray"]
    # The instance was started by ray.init, so it uses token authentication (Ray's default since
    # 2.5x): a driver that joins it must be told so; the token is in ~/.ray/auth_token.
    env = os.environ | ({"RAY_AUTH_MODE": "token"} if mode == "ray" else {})
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    shards = {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}
    return {"seconds": seconds, "internal_seconds": stats["wall_seconds"], "stats": stats["stages"], "shards": shards}


def per_core_rates(stages: list[dict]) -> dict:
    """Documents per CPU-second: extraction alone, and every stage of the pipeline together."""
    by_name = {s["name"]: s for s in stages}
    total = sum(s["seconds"] for s in stages)
    pages = by_name["warc_reader"]["out"]  # HTML responses, the pages extraction sees
    rates = {"pages": pages, "cpu_seconds": round(total, 3), "pipeline_pages_per_core_s": pages / total}
    if "trafilatura" in by_name:
        t = by_name["trafilatura"]
        rates["extraction_pages_per_core_s"] = t["in"] / t["seconds"]
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per pipeline and executor (median reported)")
    parser.add_argument("--pipelines", nargs="+", default=list(PIPELINES), choices=list(PIPELINES))
    parser.add_argument("--scale", type=int, default=1, help="use the sample files K times (default 1)")
    args = parser.parse_args()
    inputs = sample_inputs(args.scale)
    OUT.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    head = subprocess.Popen(
        [sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    address = head.stdout.readline().strip()
    head_start = time.perf_counter() - t0
    if not address:
        sys.exit("the Ray instance did not start")
    print(
        f"Ray instance ({WORKERS} CPUs) at {address}, started in {head_start:.1f} s; "
        f"{len(inputs)} input file(s), {args.repeat} run(s) each",
        file=sys.stderr,
    )

    results: dict = {
        "workers": WORKERS,
        "inputs": inputs,
        "scale": args.scale,
        "repeat": args.repeat,
        "ray_instance_start_seconds": round(head_start, 2),
        "pipelines": {},
    }
    try:
        for name in args.pipelines:
            runs: dict[str, list[dict]] = {m: [] for m in MODES}
            for r in range(args.repeat):
                for mode in MODES:
                    run = run_once(name, mode, inputs, address)
                    runs[mode].append(run)
                    print(
                        f"  {name:<13} {mode:<9} run {r + 1}: {run['seconds']:6.2f} s "
                        f"(inside: {run['internal_seconds']:.2f} s)",
                        file=sys.stderr,
                    )
            reference = runs["local"][0]["shards"]
            identical = all(run["shards"] == reference for m in MODES for run in runs[m])
            med = {m: statistics.median(run["seconds"] for run in runs[m]) for m in MODES}
            med_in = {m: statistics.median(run["internal_seconds"] for run in runs[m]) for m in MODES}
            results["pipelines"][name] = {
                "seconds": {m: [round(run["seconds"], 3) for run in runs[m]] for m in MODES},
                "median_seconds": {m: round(v, 3) for m, v in med.items()},
                "median_internal_seconds": {m: round(v, 3) for m, v in med_in.items()},
                "ratio_ray_vs_local": round(med["ray"] / med["local"], 3),
                "ratio_ray_cold_vs_local": round(med["ray-cold"] / med["local"], 3),
                "identical_shards": identical,
                "per_core": per_core_rates(runs["local"][0]["stats"]),
            }
    finally:
        head.stdin.close()
        head.wait(timeout=120)

    results["goal_ray_vs_local"] = GOAL
    figures = OUT / ("ray_overhead.json" if args.scale == 1 else f"ray_overhead-x{args.scale}.json")
    figures.write_text(json.dumps(results, indent=2) + "\n")

    print(
        f"\n| pipeline ({WORKERS} workers) | local | ray (instance up) | ratio | ray, own instance | ratio "
        f"| identical shards |"
    )
    print("|---|---:|---:|---:|---:|---:|:---:|")
    ok = True
    for name, r in results["pipelines"].items():
        m = r["median_seconds"]
        ok &= r["ratio_ray_vs_local"] <= GOAL and r["identical_shards"]
        print(
            f"| {name} | {m['local']:.2f} s | {m['ray']:.2f} s | {r['ratio_ray_vs_local']:.2f} | "
            f"{m['ray-cold']:.2f} s | {r['ratio_ray_cold_vs_local']:.2f} | {'yes' if r['identical_shards'] else 'NO'} |"
        )
    for name, r in results["pipelines"].items():
        pc = r["per_core"]
        extra = (
            f", extraction alone {pc['extraction_pages_per_core_s']:.1f}" if "extraction_pages_per_core_s" in pc else ""
        )
        print(
            f"{name}: {pc['pipeline_pages_per_core_s']:.1f} pages per core-second for the whole pipeline{extra} "
            f"({pc['pages']} pages, {pc['cpu_seconds']:.1f} CPU-s)"
        )
    for name, r in results["pipelines"].items():
        m = r["median_seconds"]
        print(
            f"{name}: Ray's fixed cost ≈ {m['ray'] - m['local']:.1f} s per run on an instance that is up, "
            f"{m['ray-cold'] - m['local']:.1f} s when it starts its own"
        )
    print(f"goal: ray within {GOAL - 1:.0%} of local: {'met' if ok else 'NOT met'}  → {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
