"""MinHash dedup quality: precision, recall and the S-curve against exact Jaccard.

Run from the repo root (`make bench`):  .venv/bin/python bench/dedup_quality.py

Input: the real pages of ../shared/data/warc extracted by the pipeline (extract-only), each
of the first `--families` texts with >= 150 words becoming a family: the text plus 6
variants edited at rates chosen so that true Jaccard spans ~0.3-1.0 (word substitutions,
insertions, deletions, and a boilerplate paragraph appended to some). Every within-family
pair gets its exact Jaccard on the stage's own shingles; a sample of cross-family pairs
checks that unrelated documents are not merged.

The real `minhash_dedup` stage runs through the pipeline in annotate mode (jsonl_reader →
minhash_dedup → parquet_writer), so every document's cluster and survivor are known:
- recall: of the documents that have an *earlier* partner with J >= threshold + 0.05,
  the share removed (keep: first);
- precision: of the removed documents, the share that have some partner with J >= threshold;
- false removals: of the documents whose best partner has J <= threshold - 0.1, the share removed;
- S-curve: per Jaccard bin, the share of pairs put in the same cluster.
Goals: precision and recall >= 0.95, false removals < 1 %.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpusforge.config import load_config  # noqa: E402
from corpusforge.minhash import shingles  # noqa: E402
from corpusforge.runner import run_pipeline  # noqa: E402

WARC = ROOT.parent / "shared" / "data" / "warc"
OUT = ROOT / "bench" / "out"
BOILERPLATE = ("Subscribe to our newsletter to get the latest stories delivered to your inbox every "
               "morning. We respect your privacy and you can unsubscribe at any time. Follow us on social "
               "media for more updates, and share this article with your friends and family.")
FILLER = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november".split()


def extracted_texts() -> list[str]:
    out = OUT / "dedup-extract"
    if not (out / "stats.json").exists():
        config = load_config(ROOT / "pipelines" / "extract-only.yaml", inputs=[str(p) for p in sorted(WARC.glob("*.warc.gz"))],
                             output=str(out), workers=2)
        run_pipeline(config, overwrite=True, quiet=True)
    return [t for t in pq.read_table(out / "data")["text"].to_pylist() if len(t.split()) >= 150]


def variant(text: str, rate: float, rng: random.Random, boilerplate: bool) -> str:
    words = text.split()
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            out.append(rng.choice(FILLER))  # substitution
        elif r < 2 * rate / 3:
            continue  # deletion
        elif r < rate:
            out += [w, rng.choice(FILLER)]  # insertion
        else:
            out.append(w)
    return " ".join(out) + ("\n\n" + BOILERPLATE if boilerplate else "")


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def evaluate(docs: list[str], family: list[int], ngram: int, threshold: float, verify: bool, tmp: Path,
             rng: random.Random) -> dict:
    path = tmp / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(docs)))
    out = tmp / f"out-{ngram}-{verify}"
    run_pipeline(load_config(data={
        "input": [str(path)], "output": str(out), "workers": 2,
        "stages": ["jsonl_reader", {"minhash_dedup": {"ngram": ngram, "threshold": threshold, "verify": verify,
                                                      "mode": "annotate"}}, "parquet_writer"]}), quiet=True)
    rows = sorted(pq.read_table(out / "data").to_pylist(), key=lambda r: int(r["id"]))
    cluster = [r["dup_cluster"] or f"0:{i}" for i, r in enumerate(rows)]
    removed = [cluster[i] != f"0:{i}" for i in range(len(rows))]

    sets = [set(shingles(t, ngram)) for t in docs]
    members: dict[int, list[int]] = {}
    for i, f in enumerate(family):
        members.setdefault(f, []).append(i)
    pairs = [(i, j, jaccard(sets[i], sets[j])) for m in members.values() for i, j in itertools.combinations(m, 2)]
    cross = []
    for _ in range(5000):
        i, j = rng.sample(range(len(docs)), 2)
        if family[i] != family[j]:
            cross.append((min(i, j), max(i, j), jaccard(sets[i], sets[j])))
    best = [0.0] * len(docs)
    best_earlier = [0.0] * len(docs)
    for i, j, jac in pairs + cross:
        best[i], best[j] = max(best[i], jac), max(best[j], jac)
        best_earlier[j] = max(best_earlier[j], jac)

    should = [i for i in range(len(docs)) if best_earlier[i] >= threshold + 0.05]
    recall = sum(removed[i] for i in should) / max(len(should), 1)
    gone = [i for i in range(len(docs)) if removed[i]]
    precision = sum(best[i] >= threshold for i in gone) / max(len(gone), 1)
    low = [i for i in range(len(docs)) if best[i] <= threshold - 0.1]
    false_removal = sum(removed[i] for i in low) / max(len(low), 1)
    bins: dict[int, list[int]] = {}
    for i, j, jac in pairs:
        bins.setdefault(min(int(jac * 20), 19), []).append(cluster[i] == cluster[j])
    cross_merged = sum(cluster[i] == cluster[j] for i, j, _ in cross)
    return {"ngram": ngram, "verify": verify, "docs": len(docs), "removed": len(gone), "precision": precision,
            "recall": recall, "should_remove": len(should), "false_removal": false_removal, "low_docs": len(low),
            "cross_pairs": len(cross), "cross_merged": cross_merged,
            "s_curve": {f"{b / 20:.2f}-{(b + 1) / 20:.2f}": (sum(v) / len(v), len(v)) for b, v in sorted(bins.items())}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=150)
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()
    if not WARC.is_dir():
        print(f"skipped: {WARC} not found (clone with ../shared beside the repo)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    texts = extracted_texts()[: args.families]
    docs, family = [], []
    for f, text in enumerate(texts):
        docs.append(text)
        family.append(f)
        for k in range(6):
            docs.append(variant(text, rng.uniform(0.0, 0.16), rng, boilerplate=k % 3 == 2))
            family.append(f)
    order = list(range(len(docs)))
    rng.shuffle(order)  # families interleaved, as in a crawl
    docs, family = [docs[i] for i in order], [family[i] for i in order]
    print(f"{len(texts)} real extracted texts (>= 150 words) x 7 = {len(docs)} documents "
          f"(6 edited variants each: substitutions, insertions, deletions at 0-16 %, boilerplate on 1 in 3)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for ngram, verify in [(5, False), (5, True), (13, False), (13, True)]:
            r = evaluate(docs, family, ngram, args.threshold, verify, Path(tmp), random.Random(1))
            results.append(r)
            ok = r["precision"] >= 0.95 and r["recall"] >= 0.95 and r["false_removal"] < 0.01
            print(f"\nngram {ngram}, threshold {args.threshold}, verify {verify}: removed {r['removed']} of {r['docs']}"
                  f"\n  precision {r['precision']:.3f}   recall (J >= {args.threshold + 0.05:.2f}, n={r['should_remove']}) "
                  f"{r['recall']:.3f}   removed with J <= {args.threshold - 0.1:.2f}: {100 * r['false_removal']:.2f} % "
                  f"(n={r['low_docs']})   cross-family pairs merged: {r['cross_merged']}/{r['cross_pairs']}"
                  f"   goals: {'PASS' if ok else 'FALL SHORT'}")
            print("  S-curve (Jaccard bin: share of pairs put in one cluster, pairs):")
            print("   " + "  ".join(f"{b}: {v:.2f} ({n})" for b, (v, n) in r["s_curve"].items() if float(b[:4]) >= 0.3))
    (OUT / "dedup_quality.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
