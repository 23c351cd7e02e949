"""MinHash dedup speed and scale.

Run from the repo root (`make bench`):  .venv/bin/python bench/dedup_speed.py [--docs 20000] [--scale 100000 200000]

1. Signatures: our MinHasher (shingling + hashing + 128 permutations, in batches) vs
   datasketch's `MinHash.update_batch` (one MinHash per document) and `MinHash.bulk`, on the
   same documents, shingles and num_perm, in one run. Both sides are timed from the text
   (shingling counted on both sides); goal >= 2x datasketch's best.
2. Scale: the whole `minhash_dedup` pipeline (jsonl_reader → minhash_dedup → parquet_writer,
   2 workers, 16 input files) on 100k and 200k documents made from real text (State of the
   Union paragraphs with random word edits, so most are distinct and some are near
   duplicates), as a `corpusforge run` subprocess whose process tree's RSS is sampled every
   0.1 s and attributed to the phase running; goal: peak RSS < 2 GB at 200k and growing no
   faster than the document count.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import datasketch  # noqa: E402

from corpusforge.minhash import shingle_hash_fn, shingles  # noqa: E402
from corpusforge.stages.minhash_dedup import MinHashDeduplicator  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"


def real_passages() -> list[str]:
    with zipfile.ZipFile(SHARED / "text" / "state_union.zip") as z:
        text = "\n\n".join(z.read(n).decode("utf-8", "replace") for n in sorted(z.namelist()) if n.endswith(".txt"))
    words = text.split()
    return [" ".join(words[i:i + 100]) for i in range(0, len(words) - 100, 100)]  # 100-word passages


def make_docs(n: int, paras: list[str], rng: random.Random) -> list[str]:
    """n documents of 3 real 100-word passages each, 2 % of words replaced: distinct, realistic."""
    docs = []
    for _ in range(n):
        words = " ".join(rng.sample(paras, 3)).split()
        for _ in range(max(1, len(words) // 50)):
            words[rng.randrange(len(words))] = rng.choice(words)
        docs.append(" ".join(words))
    return docs


def bench_signatures(docs: list[str]) -> dict:
    stage = MinHashDeduplicator(ngram=5, num_perm=128, seed=1)
    t0 = time.perf_counter()
    for i in range(0, len(docs), 256):
        stage.signatures(docs[i:i + 256])
    ours = time.perf_counter() - t0

    hashfunc = shingle_hash_fn("affine32")
    t0 = time.perf_counter()
    for d in docs:
        m = datasketch.MinHash(num_perm=128, seed=1, hashfunc=hashfunc)
        m.update_batch([s.encode("utf-8") for s in shingles(d, 5)])
    update_batch = time.perf_counter() - t0

    t0 = time.perf_counter()
    datasketch.MinHash.bulk(([s.encode("utf-8") for s in shingles(d, 5)] for d in docs), num_perm=128, seed=1,
                            hashfunc=hashfunc)
    bulk = time.perf_counter() - t0

    t0 = time.perf_counter()
    for d in docs:
        m = datasketch.MinHash(num_perm=128, seed=1)  # its default hash (sha1), for reference
        m.update_batch([s.encode("utf-8") for s in shingles(d, 5)])
    default = time.perf_counter() - t0
    n = len(docs)
    return {"docs": n, "ours": n / ours, "update_batch": n / update_batch, "bulk": n / bulk, "default_sha1": n / default}


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            p = int(stat.parent.name)
            children.setdefault(int(fields[1]), []).append(p)
            rss[p] = int(fields[21]) * 4096
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def bench_scale(n: int, paras: list[str], tmp: Path) -> dict:
    rng = random.Random(n)
    docs = make_docs(n, paras, rng)
    docs += [docs[rng.randrange(n)] for _ in range(n // 20)]  # 5 % exact copies
    files = 16
    inputs = []
    for f in range(files):
        path = tmp / f"in-{n}-{f:02d}.jsonl"
        path.write_text("".join(json.dumps({"id": f"{f}-{i}", "text": t}) + "\n" for i, t in enumerate(docs[f::files])))
        inputs.append(str(path))
    out = tmp / f"out-{n}"
    config = tmp / f"run-{n}.yaml"
    config.write_text(json.dumps({"input": inputs, "output": str(out), "workers": 2,
                                  "stages": ["jsonl_reader", {"minhash_dedup": {"ngram": 5}}, "parquet_writer"]}))
    phases = {"00-stream": files, "01-minhash_dedup-buckets": 16, "02-minhash_dedup-clusters": 1, "03-stream": files}
    peak = {p: 0 for p in phases}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "corpusforge", "run", str(config), "--quiet"], cwd=ROOT)
    while proc.poll() is None:
        running = next((p for p, k in phases.items()
                        if len(list((out / "work" / "markers" / p).glob("task-*.json"))) < k), "03-stream")
        peak[running] = max(peak[running], tree_rss(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0
    stats = json.loads((out / "stats.json").read_text())
    dedup = next(s for s in stats["stages"] if s["name"] == "minhash_dedup")
    return {"docs": len(docs), "wall_s": wall, "removed": sum(dedup["dropped"].values()),
            "peak_rss_mb": {p: v / 2**20 for p, v in peak.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--scale", type=int, nargs="*", default=[100_000, 200_000])
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} not found (clone with ../shared beside the repo)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    paras = real_passages()
    docs = make_docs(args.docs, paras, random.Random(0))
    words = sum(len(d.split()) for d in docs) / len(docs)
    sig = bench_signatures(docs)
    best = max(sig["update_batch"], sig["bulk"], sig["default_sha1"])
    print(f"signatures, {sig['docs']:,} documents of 3 real passages ({words:.0f} words), 5-gram shingles, 128 perms:")
    print(f"  corpusforge MinHasher          {sig['ours']:>8,.0f} docs/s")
    print(f"  datasketch update_batch        {sig['update_batch']:>8,.0f} docs/s   (same hash function)")
    print(f"  datasketch bulk                {sig['bulk']:>8,.0f} docs/s   (same hash function)")
    print(f"  datasketch update_batch, sha1  {sig['default_sha1']:>8,.0f} docs/s   (its default hash)")
    print(f"  ours / datasketch's best = {sig['ours'] / best:.2f}x   goal >= 2x: {'PASS' if sig['ours'] >= 2 * best else 'FALLS SHORT'}")
    results = {"signatures": sig, "scale": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.scale:
            r = bench_scale(n, paras, Path(tmp))
            results["scale"].append(r)
            rss = r["peak_rss_mb"]
            print(f"\nminhash_dedup pipeline, {r['docs']:,} documents, 2 workers: {r['wall_s']:.1f} s, "
                  f"{r['removed']:,} removed; peak RSS of the run's process tree per phase:")
            for phase, mb in rss.items():
                print(f"  {phase:<28}" + (f"{mb:>8,.0f} MB" if mb else "   (over before a 0.1 s sample)"))
    if len(results["scale"]) == 2:
        a, b = results["scale"]
        ratio = max(b["peak_rss_mb"].values()) / max(a["peak_rss_mb"].values())
        print(f"\npeak RSS x{ratio:.2f} for x{b['docs'] / a['docs']:.1f} documents; "
              f"under 2 GB: {'PASS' if max(b['peak_rss_mb'].values()) < 2048 else 'FALLS SHORT'}")
    (OUT / "dedup_speed.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
