"""Extraction benchmark: how fast and how good is `pipelines/extract-only.yaml`?

Run from the repo root (`make bench`):  .venv/bin/python bench/extraction.py [--repeat N] [--files F]

Three measures on real pages (../shared/data/warc/articles-181.*):

(a) speed of `corpusforge run pipelines/extract-only.yaml` (the CLI, in a subprocess) at 1 and 2
    workers, on the 181 article responses repeated N times over F .warc.gz files;
(b) speed of a plain single-process loop (warcio → trafilatura.extract, same options) on the same
    files: the limit the pipeline's overhead is judged against;
(c) token F1 against the human-annotated article bodies, ours vs plain trafilatura;
(d) the cost of flushing every atomic write to disk (fsync of file and folder): the 2-worker run
    with fsync as shipped, with `os.fsync` a no-op, and the seconds spent inside fsync itself,
    timed in every process of the run (medians of --fsync-runs interleaved pairs).

Everything generated goes under bench/out/ (git-ignored); figures also go to bench/out/extraction.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CONFIG = ROOT / "pipelines" / "extract-only.yaml"
N_PAGES = 181
DEFAULT_TOTAL = 1_800  # records in the speed input: ~1 min per core-bound run at ~30 pages/s

# The trafilatura options that extract-only.yaml resolves to (favor_precision: true, the
# TrafilaturaExtractor defaults for the rest), so the plain loop does exactly the same work.
PIPELINE_OPTIONS: dict[str, Any] = dict(
    favor_precision=True,
    include_comments=False,
    include_tables=True,
    output_format="txt",
)
GOAL_VS_PLAIN = 0.9
GOAL_SCALING = 1.7


@dataclass
class Page:
    """One response record of the source WARC, kept as raw bytes so copies are byte-identical."""

    url: str
    warc_headers: list[tuple[str, str]]
    http_status_line: str
    http_headers: list[tuple[str, str]]
    payload: bytes


# --------------------------------------------------------------------------- input


def load_pages(warc_path: Path) -> list[Page]:
    """The source's response records; requests and warcinfo are not documents, so we skip them."""
    from warcio.archiveiterator import ArchiveIterator

    pages: list[Page] = []
    with open(warc_path, "rb") as stream:
        for rec in ArchiveIterator(stream):
            if rec.rec_type != "response":
                continue
            # raw_stream, not content_stream: the payload bytes exactly as stored (no decoding).
            payload = rec.raw_stream.read()
            pages.append(
                Page(
                    url=rec.rec_headers.get_header("WARC-Target-URI"),
                    warc_headers=list(rec.rec_headers.headers),
                    http_status_line=rec.http_headers.statusline,
                    http_headers=list(rec.http_headers.headers),
                    payload=payload,
                )
            )
    return pages


def write_copy(writer: Any, page: Page) -> None:
    """Write one copy of a page with a fresh WARC-Record-ID; everything else is kept.

    The block digest and Content-Length are left to the writer (it recomputes them); the payload
    digest stays valid because the payload is untouched.
    """
    from warcio.statusandheaders import StatusAndHeaders

    drop = {"warc-record-id", "warc-block-digest", "content-length"}
    headers = {k: v for k, v in page.warc_headers if k.lower() not in drop}
    http = StatusAndHeaders(page.http_status_line, list(page.http_headers), protocol="HTTP/1.1")
    record = writer.create_warc_record(
        page.url,
        "response",
        payload=io.BytesIO(page.payload),
        length=len(page.payload),
        warc_headers_dict=headers,
        http_headers=http,
    )
    writer.write_record(record)


def generate_inputs(source: Path, pages: list[Page], repeat: int, n_files: int) -> list[Path]:
    """Repeat the pages `repeat` times over `n_files` gzip WARCs; reuse them if already made alike.

    Copies go round-robin over files so every file (= one pipeline task) holds the same page mix
    and the two workers get equal work.
    """
    from warcio.warcwriter import WARCWriter

    folder = OUT / "inputs"
    manifest = folder / "manifest.json"
    key = {
        "source": str(source),
        "size": source.stat().st_size,
        "mtime": source.stat().st_mtime,
        "repeat": repeat,
        "files": n_files,
    }
    paths = [folder / f"articles-x{repeat}-{i:03d}.warc.gz" for i in range(n_files)]
    if manifest.is_file() and json.loads(manifest.read_text()) == key and all(p.is_file() for p in paths):
        return paths
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    handles = [open(p, "wb") for p in paths]
    try:
        writers = [WARCWriter(h, gzip=True) for h in handles]
        k = 0
        for _ in range(repeat):
            for page in pages:
                write_copy(writers[k % n_files], page)
                k += 1
    finally:
        for h in handles:
            h.close()
    manifest.write_text(json.dumps(key))
    return paths


# --------------------------------------------------------------------------- speed


def iter_responses(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(url, payload bytes) of every response record, as a minimal reader would produce them."""
    from warcio.archiveiterator import ArchiveIterator

    for path in paths:
        with open(path, "rb") as stream:
            for rec in ArchiveIterator(stream):
                if rec.rec_type == "response":
                    yield rec.rec_headers.get_header("WARC-Target-URI"), rec.content_stream().read()


def plain_loop(paths: list[Path]) -> tuple[int, int, float]:
    """The limit: warcio + trafilatura in one process, nothing else. Returns (docs, kept, seconds)."""
    from trafilatura import extract

    t0 = time.perf_counter()
    docs = kept = 0
    for url, payload in iter_responses(paths):
        # Bytes go in as-is: trafilatura's own decoding takes its UTF-8 fast path on these pages.
        text = extract(payload, url=url, **PIPELINE_OPTIONS)
        docs += 1
        kept += bool(text and text.strip())
    return docs, kept, time.perf_counter() - t0


def cli_command() -> list[str]:
    """The installed `corpusforge` script next to this interpreter, else `python -m corpusforge`."""
    script = Path(sys.executable).parent / "corpusforge"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "corpusforge"]


def run_pipeline(inputs: list[Path], output: Path, workers: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One CLI run; wall time is measured around the whole subprocess (startup and imports included)."""
    cmd = cli_command() + [
        "run",
        str(CONFIG),
        "--input",
        *map(str, inputs),
        "--output",
        str(output),
        "--workers",
        str(workers),
        "--quiet",
        "--overwrite",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"corpusforge run failed (exit {proc.returncode}):\n{' '.join(cmd)}\n{proc.stderr[-4000:]}")
    stats = json.loads((output / "stats.json").read_text())
    by_name = {s["name"]: s for s in stats["stages"]}
    reader = by_name.get("warc_reader", {})
    writer = by_name.get("parquet_writer", {})
    return {
        "workers": workers,
        "seconds": wall,
        "internal_seconds": stats["wall_seconds"],  # run_pipeline's own wall: no process startup
        "docs_in": reader.get("out", 0),  # HTML documents the reader produced
        "docs_out": writer.get("out", 0),
        "stage_seconds": {s["name"]: s.get("seconds") for s in stats["stages"]},
        "dropped": {s["name"]: s.get("dropped") for s in stats["stages"] if s.get("dropped")},
    }


def verdict(value: float, goal: float) -> str:
    return "PASS" if value >= goal else "FALL SHORT"


def measure_speed(inputs: list[Path], n_records: int) -> dict[str, Any]:
    """Plain loop, then ours at 1 and 2 workers, all on the same files."""
    print("speed: plain loop (warcio → trafilatura.extract, 1 process) ...", flush=True)
    docs, kept, secs = plain_loop(inputs)
    plain = {"docs": docs, "kept": kept, "seconds": secs, "docs_per_s": docs / secs}
    print(f"  {docs} docs in {secs:.1f}s = {plain['docs_per_s']:.1f} docs/s ({kept} with text)", flush=True)

    ours: dict[int, dict[str, Any]] = {}
    for workers in (1, 2):
        print(f"speed: corpusforge run extract-only.yaml --workers {workers} ...", flush=True)
        r = run_pipeline(inputs, OUT / f"speed-w{workers}", workers)
        # Rate over the records in the input, the same numerator as the plain loop.
        r["docs_per_s"] = n_records / r["seconds"]
        r["internal_docs_per_s"] = n_records / r["internal_seconds"]
        ours[workers] = r
        print(
            f"  {n_records} docs in {r['seconds']:.1f}s = {r['docs_per_s']:.1f} docs/s end to end "
            f"({r['internal_docs_per_s']:.1f} docs/s inside the run, {r['internal_seconds']:.1f}s; "
            f"{r['docs_out']} kept)",
            flush=True,
        )
        if r["docs_in"] != n_records:
            print(f"  WARNING: the reader produced {r['docs_in']} documents, expected {n_records}", flush=True)

    return {
        "plain": plain,
        "ours_w1": ours[1],
        "ours_w2": ours[2],
        "ratio_w1_vs_plain": ours[1]["docs_per_s"] / plain["docs_per_s"],
        "ratio_w2_vs_w1": ours[2]["docs_per_s"] / ours[1]["docs_per_s"],
        "ratio_w1_vs_plain_internal": ours[1]["internal_docs_per_s"] / plain["docs_per_s"],
        "ratio_w2_vs_w1_internal": ours[2]["internal_docs_per_s"] / ours[1]["internal_docs_per_s"],
    }


# --------------------------------------------------------------------------- quality


def token_f1(pred: str | None, truth: str) -> float:
    """Bag-of-whitespace-tokens F1, as in the article-extraction-benchmark."""
    p, t = (pred or "").split(), truth.split()
    if not p and not t:
        return 1.0
    if not p or not t:
        return 0.0
    overlap = sum((Counter(p) & Counter(t)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(p), overlap / len(t)
    return 2 * precision * recall / (precision + recall)


def mean_f1(predictions: dict[str, str | None], truth: dict[str, str]) -> float:
    """Mean over every annotated page; a page without a prediction scores 0."""
    return sum(token_f1(predictions.get(url), body) for url, body in truth.items()) / len(truth)


def pipeline_texts(source: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Run ours on the original WARC (read in place, not copied) and read back url → text."""
    import pyarrow.parquet as pq

    output = OUT / "quality"
    run = run_pipeline([source], output, workers=2)
    texts: dict[str, str] = {}
    for shard in sorted((output / "data").glob("*.parquet")):
        table = pq.read_table(shard, columns=["url", "text"])
        texts.update(zip(table.column("url").to_pylist(), table.column("text").to_pylist()))
    return texts, run


def measure_quality(source: Path, truth_path: Path, pages: list[Page]) -> dict[str, Any]:
    from trafilatura import extract

    raw = json.loads(truth_path.read_text())
    truth = {item["url"]: item["articleBody"] for item in raw.values()}
    print(f"quality: token F1 on the {len(truth)} annotated pages ...", flush=True)

    ours, run = pipeline_texts(source)
    variants: dict[str, dict[str, Any]] = {
        "default": {},
        "favor_precision": {"favor_precision": True},
        "same_options_as_ours": PIPELINE_OPTIONS,
    }
    plain: dict[str, dict[str, str | None]] = {name: {} for name in variants}
    for page in pages:
        for name, options in variants.items():
            plain[name][page.url] = extract(page.payload, url=page.url, **options)

    result = {
        "pages": len(truth),
        "ours_kept": sum(url in ours for url in truth),
        "f1_ours": mean_f1(ours, truth),
        "f1_plain_default": mean_f1(plain["default"], truth),
        "f1_plain_favor_precision": mean_f1(plain["favor_precision"], truth),
        "f1_plain_same_options": mean_f1(plain["same_options_as_ours"], truth),
        "ours_dropped": run["dropped"],
    }
    # Pages where ours and the same-options plain call disagree point at the pipeline itself
    # (decoding, reading) rather than at trafilatura.
    result["pages_differing_from_plain_same_options"] = sum(
        (ours.get(url) or "").strip() != (plain["same_options_as_ours"].get(url) or "").strip() for url in truth
    )
    return result


# --------------------------------------------------------------------------- fsync

# Loaded by every process of a run (the CLI, the forkserver, each worker) through PYTHONPATH.
_FSYNC_HOOKS = {
    "off": "import os\nos.fsync = lambda fd: None\n",
    "timed": (
        "import os, time\n_fsync = os.fsync\n"
        "def fsync(fd):\n    t0 = time.perf_counter()\n    _fsync(fd)\n"
        "    with open(os.environ['CORPUSFORGE_FSYNC_LOG'], 'a') as f:\n"
        "        f.write(f'{time.perf_counter() - t0}\\n')\n"
        "os.fsync = fsync\n"
    ),
}


def measure_fsync(inputs: list[Path], runs: int) -> dict[str, Any]:
    """The 2-worker run as shipped (fsync timed inside) against the same run without fsync."""
    seconds: dict[str, list[float]] = {"timed": [], "off": []}
    in_fsync: list[float] = []
    calls = 0
    for i in range(runs):
        for hook in ("timed", "off") if i % 2 == 0 else ("off", "timed"):
            folder = OUT / "fsync-hooks" / hook
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "sitecustomize.py").write_text(_FSYNC_HOOKS[hook])
            log = OUT / "fsync-hooks" / "fsync.log"
            log.unlink(missing_ok=True)
            env = os.environ | {"PYTHONPATH": str(folder), "CORPUSFORGE_FSYNC_LOG": str(log)}
            r = run_pipeline(inputs, OUT / f"fsync-{hook}", 2, env)
            seconds[hook].append(r["internal_seconds"])
            if hook == "timed":
                times = [float(x) for x in log.read_text().split()] if log.is_file() else []
                in_fsync.append(sum(times))
                calls = len(times)
            print(f"  fsync {hook:5s}: {r['internal_seconds']:.2f}s", flush=True)
    on, off = statistics.median(seconds["timed"]), statistics.median(seconds["off"])
    return {
        "runs": runs,
        "with_fsync_s": on,
        "without_fsync_s": off,
        "ratio": on / off,
        "seconds_in_fsync": statistics.median(in_fsync),
        "fsync_calls": calls,
        "share_in_fsync": statistics.median(in_fsync) / on,
    }


# --------------------------------------------------------------------------- report


def report(args: argparse.Namespace, n_records: int, speed: dict[str, Any] | None, quality: dict[str, Any]) -> None:
    print()
    print("=" * 78)
    print(f"Extraction benchmark: pipelines/extract-only.yaml   (machine: {os.cpu_count()} cores)")
    print("=" * 78)
    if speed is not None:
        p, w1, w2 = speed["plain"], speed["ours_w1"], speed["ours_w2"]
        print(
            f"Speed input: the {N_PAGES} article pages repeated {args.repeat} times = {n_records} response "
            f"records in {args.files} .warc.gz files (bench/out/inputs/); one measure each."
        )
        print(f"  plain loop (warcio → trafilatura, 1 process)  {p['docs_per_s']:7.1f} docs/s  ({p['seconds']:.1f}s)")
        print(
            f"  ours, 1 worker                                {w1['docs_per_s']:7.1f} docs/s  ({w1['seconds']:.1f}s;"
            f" {w1['internal_docs_per_s']:.1f} docs/s without process startup)"
        )
        print(
            f"  ours, 2 workers                               {w2['docs_per_s']:7.1f} docs/s  ({w2['seconds']:.1f}s;"
            f" {w2['internal_docs_per_s']:.1f} docs/s without process startup)"
        )
        r1, r2 = speed["ratio_w1_vs_plain"], speed["ratio_w2_vs_w1"]
        print(f"  ours@1 / plain  = {r1:.2f}x   goal >= {GOAL_VS_PLAIN}x   {verdict(r1, GOAL_VS_PLAIN)}")
        print(f"  ours@2 / ours@1 = {r2:.2f}x   goal >= {GOAL_SCALING}x   {verdict(r2, GOAL_SCALING)}")
        print(
            f"  (without process startup: {speed['ratio_w1_vs_plain_internal']:.2f}x and "
            f"{speed['ratio_w2_vs_w1_internal']:.2f}x)"
        )
    else:
        print("Speed: skipped (--skip-speed)")
    f = speed and speed.get("fsync")
    if f:
        print(
            f"Durability (2 workers, medians of {f['runs']} interleaved pairs): with fsync {f['with_fsync_s']:.2f}s, "
            f"without {f['without_fsync_s']:.2f}s (ratio {f['ratio']:.3f}); {f['fsync_calls']} fsync calls took "
            f"{f['seconds_in_fsync']:.3f}s = {100 * f['share_in_fsync']:.2f}% of the run   goal < 1%   "
            f"{'PASS' if f['share_in_fsync'] < 0.01 else 'FALL SHORT'}"
        )
    q = quality
    print(
        f"Quality: mean token F1 on the {q['pages']} original pages vs the annotated article body "
        f"(a dropped page scores 0)"
    )
    print(f"  ours (extract-only.yaml)                 {q['f1_ours']:.4f}   ({q['ours_kept']}/{q['pages']} pages kept)")
    print(f"  plain trafilatura.extract, defaults      {q['f1_plain_default']:.4f}")
    print(f"  plain trafilatura.extract, favor_prec.   {q['f1_plain_favor_precision']:.4f}")
    print(
        f"  (check: plain with ours' options         {q['f1_plain_same_options']:.4f};"
        f" {q['pages_differing_from_plain_same_options']} page(s) differ from ours)"
    )
    print(f"Figures: {(OUT / 'extraction.json').relative_to(ROOT)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--repeat",
        type=int,
        default=round(DEFAULT_TOTAL / N_PAGES),
        help="copies of the 181 pages in the speed input (default: %(default)s, ~1,800 records)",
    )
    parser.add_argument("--files", type=int, default=8, help="input files = pipeline tasks (default: %(default)s)")
    parser.add_argument("--skip-speed", action="store_true", help="only measure quality")
    parser.add_argument(
        "--fsync-runs",
        type=int,
        default=3,
        metavar="N",
        help="runs with fsync and without, interleaved (default: %(default)s; 0: skip)",
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=ROOT.parent / "shared" / "data",
        help="shared data folder (default: ../shared/data)",
    )
    args = parser.parse_args()
    if args.repeat < 1 or args.files < 1:
        parser.error("--repeat and --files must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    source = args.shared / "warc" / "articles-181.warc.gz"
    truth_path = args.shared / "warc" / "articles-181.ground-truth.json"
    if not (source.is_file() and truth_path.is_file()):
        print(
            f"bench/extraction.py: skipped, no benchmark data ({source} and {truth_path.name} are needed; "
            "they live in the shared data folder next to the repo)."
        )
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    pages = load_pages(source)
    n_records = len(pages) * args.repeat
    speed = None
    if not args.skip_speed:
        print(
            f"input: {len(pages)} pages x {args.repeat} = {n_records} records over {args.files} files ...", flush=True
        )
        inputs = generate_inputs(source, pages, args.repeat, args.files)
        speed = measure_speed(inputs, n_records)
        if args.fsync_runs:
            print("durability: fsync on and off ...", flush=True)
            speed["fsync"] = measure_fsync(inputs, args.fsync_runs)
    quality = measure_quality(source, truth_path, pages)

    figures = {
        "input": {"pages": len(pages), "repeat": args.repeat, "records": n_records, "files": args.files},
        "speed": speed,
        "quality": quality,
        "goals": {"w1_vs_plain": GOAL_VS_PLAIN, "w2_vs_w1": GOAL_SCALING},
        "bench_seconds": time.perf_counter() - started,
    }
    (OUT / "extraction.json").write_text(json.dumps(figures, indent=2, default=str))
    report(args, n_records, speed, quality)
    print(f"(bench took {figures['bench_seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
