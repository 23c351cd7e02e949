"""MinHash dedup quality: precision, recall and the measured S-curve against exact Jaccard.

Run from the repo root (`make bench`):  .venv/bin/python bench/dedup_quality.py [--variants 8]

Data. The real pages of ../shared/data/warc are extracted by the pipeline itself
(pipelines/extract-only.yaml, cached in bench/out/dedup-extract). Every extracted text with
>= 150 words (cut at 1,500) is the base of a *family*: the base plus `--variants` edited
copies. One copy is exact (half of those differ only in case and punctuation); the others
get one edit kind each (word substitutions, word insertions, word deletions, a mix of the
three, or a boilerplate paragraph appended plus mixed edits), at scattered random positions,
with the words put in drawn from the real texts. The number of edits is searched per copy so
that its exact Jaccard with the base hits a target drawn (stratified) from 0.3-1.0. Jaccard
is always that of the stage's own shingles (corpusforge.stages.dedup.minhash.shingles, the stage's
ngram), so the families are made separately for ngram 5 and ngram 13. Families are shuffled
together and split over 4 JSONL files (the (task, row) order decides "earlier").

Truth. The exact Jaccard of *every* pair of documents (a sparse shingle-incidence product),
cross-checked with Python sets on every LSH candidate pair and a sample of other pairs.

Runs. The real `minhash_dedup` stage, through the pipeline (jsonl_reader → minhash_dedup in
annotate mode → parquet_writer, 2 workers): ngram 5 / 0.8 (the default) and MassiveText's
13 / 0.8, each with `verify: false` and with `verify: true` (the stage default). Candidate
pairs are read back from the stage's band-key files (all pairs sharing a bucket), its edges
from edges/*.npy, and its decisions from the `dup_cluster` column (removed = the survivor is
another document). With verify, "verified" is every candidate pair whose exact Jaccard is
>= t, and the bench counts those the stage left in different clusters (verify checks each
bucket member against the bucket head and the 16 members before it, so in buckets of up to
18 documents that count must be 0).

Measures (keep: first), with t the threshold:
- planted pairs (each edited or exact copy with its base): the share that lose one member
  to the other (end in one cluster), at J >= t + 0.05 (goal >= 0.995) and at J <= t - 0.05
  (goal <= 0.3 %). A planted pair is the clean unit: two copies of one base that each have
  J >= t with it end in one cluster with any J between them (connected components), so
  over *all* pairs the low-J rate also counts such chains (printed as "1 cluster");
- precision: of the removed documents, the share with some partner of Jaccard >= t;
- recall: of the documents with an *earlier* partner of Jaccard >= t + 0.05, the share removed;
- false removals: of the documents whose best partner has Jaccard <= t - 0.1, the share removed;
- S-curve: removal rate per 0.05 bin of each document's best Jaccard with an earlier document,
  and per pair: the share that were LSH candidates (beside 1-(1-J^r)^b) and that ended in one
  cluster.
Goals: planted pairs as above; precision >= 0.95, recall >= 0.95, false removals < 1 %.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpusforge.engine.config import load_config  # noqa: E402
from corpusforge.engine.runner import run_pipeline  # noqa: E402
from corpusforge.errors import OutputMismatchError  # noqa: E402
from corpusforge.stages.dedup.minhash import shingles  # noqa: E402
from corpusforge.stages.dedup.minhash_dedup import MinHashDeduplicator  # noqa: E402

WARC = ROOT.parent / "shared" / "data" / "warc"
OUT = ROOT / "bench" / "out"
FILES = 4
MIN_WORDS, MAX_WORDS = 150, 1500
BOILERPLATE = [
    (
        "Subscribe to our newsletter to get the latest stories delivered to your inbox every morning. We respect "
        "your privacy and you can unsubscribe at any time."
    ),
    (
        "This website uses cookies to improve your experience. By continuing to browse the site you agree to our "
        "use of cookies. Read our privacy policy and terms of service for more information."
    ),
    (
        "Copyright 2024 All rights reserved. This material may not be published, broadcast, rewritten or "
        "redistributed without permission. Follow us on Facebook, Twitter and Instagram."
    ),
    (
        "Share this article: Facebook Twitter LinkedIn Email Print. Related articles: more stories from this "
        "section. Leave a comment below and tell us what you think."
    ),
]
KINDS = ["substitute", "insert", "delete", "mixed", "mixed", "boilerplate"]


# --- data ----------------------------------------------------------------------------


def extracted_texts() -> list[str]:
    """The sample crawls' texts as the pipeline extracts them (cached; resumes if cut short)."""
    out = OUT / "dedup-extract"
    config = load_config(
        ROOT / "pipelines" / "extract-only.yaml",
        inputs=[str(p) for p in sorted(WARC.glob("*.warc.gz"))],
        output=str(out),
        workers=2,
    )
    try:
        run_pipeline(config, quiet=True)
    except OutputMismatchError:
        run_pipeline(config, overwrite=True, quiet=True)
    return pq.read_table(out / "data")["text"].to_pylist()


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def make_variant(
    tokens: list[str], kind: str, target: float, ngram: int, base: set, rng: random.Random, vocab: list[str]
) -> tuple[str, float]:
    """An edited copy of `tokens` whose shingle Jaccard with `base` is as close to `target` as
    the number of edits allows (binary search over a fixed random edit sequence)."""
    n = len(tokens)
    positions = rng.sample(range(n), n)
    op_kinds = {"substitute": ["sub"], "insert": ["ins"], "delete": ["del"]}.get(kind, ["sub", "ins", "del"])
    ops = [(rng.choice(op_kinds), rng.choice(vocab)) for _ in range(n)]
    tail = "\n\n" + rng.choice(BOILERPLATE) if kind == "boilerplate" else ""

    def build(k: int) -> str:
        edit = dict(zip(positions[:k], ops[:k]))
        out: list[str] = []
        for i, tok in enumerate(tokens):
            op = edit.get(i)
            if op is None:
                out.append(tok)
            elif op[0] == "sub":
                out.append(op[1])
            elif op[0] == "ins":
                out += [tok, op[1]]
        return " ".join(out) + tail

    cache: dict[int, tuple[str, float]] = {}

    def at(k: int) -> tuple[str, float]:
        if k not in cache:
            text = build(k)
            cache[k] = (text, jaccard(base, set(shingles(text, ngram))))
        return cache[k]

    lo, hi = 0, n
    while lo < hi:  # the first k whose Jaccard is <= target
        mid = (lo + hi) // 2
        if at(mid)[1] > target:
            lo = mid + 1
        else:
            hi = mid
    best = min({max(lo - 1, 0), lo}, key=lambda k: abs(at(k)[1] - target))
    return at(best)


def make_families(texts: list[str], ngram: int, variants: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    bases = [t.split()[:MAX_WORDS] for t in texts if len(t.split()) >= MIN_WORDS]
    vocab = [w for t in texts for w in t.split()]
    docs = []
    for f, tokens in enumerate(bases):
        text = " ".join(tokens)
        base = set(shingles(text, ngram))
        docs.append({"family": f, "kind": "base", "text": text, "target": None})
        docs.append(
            {
                "family": f,
                "kind": "exact",
                "target": 1.0,
                "text": text if rng.random() < 0.5 else text.upper().replace(" ", " , "),
            }
        )
        edited = variants - 1
        targets = [0.3 + 0.7 * (v + rng.random()) / edited for v in range(edited)]  # stratified over 0.3-1.0
        rng.shuffle(targets)
        for v, target in enumerate(targets):
            kind = KINDS[v % len(KINDS)]
            vtext, _ = make_variant(tokens, kind, target, ngram, base, rng, vocab)
            docs.append({"family": f, "kind": kind, "text": vtext, "target": target})
    rng.shuffle(docs)  # families interleaved, as in a crawl
    return docs


# --- truth -----------------------------------------------------------------------------


def all_pairs_jaccard(sets: list[set]) -> sp.csr_matrix:
    """Upper-triangular sparse matrix of the exact Jaccard of every pair sharing a shingle."""
    ids: dict[str, int] = {}
    indptr, indices = [0], []
    for s in sets:
        indices += [ids.setdefault(x, len(ids)) for x in s]
        indptr.append(len(indices))
    a = sp.csr_matrix((np.ones(len(indices), dtype=np.float64), indices, indptr), shape=(len(sets), len(ids)))
    inter = sp.triu(a @ a.T, k=1).tocoo()
    size = np.array([len(s) for s in sets], dtype=np.float64)
    jac = inter.data / (size[inter.row] + size[inter.col] - inter.data)
    return sp.csr_matrix((jac, (inter.row, inter.col)), shape=(len(sets), len(sets)))


# --- the stage's view -------------------------------------------------------------------


def candidate_pairs(stage_dir: Path) -> set[tuple[int, int]]:
    """Every node pair that shares an LSH bucket, from the stage's band-key files."""
    pairs: set[tuple[int, int]] = set()
    for part in sorted((stage_dir / "keys").iterdir()):
        chunks, tasks = [], []
        for f in sorted(part.glob("task-*.npy")):
            e = np.load(f)
            chunks.append(e)
            tasks.append(np.full(len(e), int(f.stem.split("-")[1]), dtype=np.int64))
        e, task = np.concatenate(chunks), np.concatenate(tasks)
        nodes = (task << 32) | e["row"].astype(np.int64)
        order = np.lexsort((nodes, e["key"], e["band"]))
        band, key, nodes = e["band"][order], e["key"][order], nodes[order]
        start = np.flatnonzero(np.r_[True, (band[1:] != band[:-1]) | (key[1:] != key[:-1])])
        for s, stop in zip(start, np.r_[start[1:], len(nodes)]):
            for i in range(s, stop):
                for j in range(i + 1, stop):
                    pairs.add((int(nodes[i]), int(nodes[j])))
    return pairs


def run_stage(inputs: list[str], out: Path, ngram: int, threshold: float, verify: bool) -> float:
    t0 = time.perf_counter()
    run_pipeline(
        load_config(
            data={
                "input": inputs,
                "output": str(out),
                "workers": 2,
                "stages": [
                    "jsonl_reader",
                    {"minhash_dedup": {"ngram": ngram, "threshold": threshold, "verify": verify, "mode": "annotate"}},
                    "parquet_writer",
                ],
            }
        ),
        overwrite=True,
        quiet=True,
    )
    return time.perf_counter() - t0


def evaluate(docs: list[dict], ngram: int, threshold: float, verify: bool, tmp: Path) -> dict:
    # documents → 4 files; node = task << 32 | row
    inputs, node_of = [], []
    per_file = math.ceil(len(docs) / FILES)
    for t in range(FILES):
        path = tmp / f"docs-{ngram}-{t}.jsonl"
        chunk = range(t * per_file, min((t + 1) * per_file, len(docs)))
        path.write_text("".join(json.dumps({"id": str(i), "text": docs[i]["text"]}) + "\n" for i in chunk))
        inputs.append(str(path))
        node_of += [(t << 32) | r for r in range(len(chunk))]
    index_of = {nd: i for i, nd in enumerate(node_of)}
    out = tmp / f"out-{ngram}-{verify}"
    seconds = run_stage(inputs, out, ngram, threshold, verify)
    stage = MinHashDeduplicator(ngram=ngram, threshold=threshold, verify=verify)

    rows = pq.read_table(out / "data", columns=["id", "dup_cluster"]).to_pylist()
    survivor = list(range(len(docs)))
    for r in rows:  # dup_cluster: the survivor's position in the input, which is its document number here
        if r["dup_cluster"]:
            survivor[int(r["id"])] = int(r["dup_cluster"])
    removed = np.array([survivor[i] != i for i in range(len(docs))])

    # exact Jaccard of all pairs; doc i is earlier than j iff i < j (docs are in node order)
    sets = [set(shingles(d["text"], ngram)) for d in docs]
    jm = all_pairs_jaccard(sets).tocoo()
    pi, pj, pjac = jm.row, jm.col, jm.data
    n = len(docs)
    best = np.zeros(n)
    np.maximum.at(best, pi, pjac)
    np.maximum.at(best, pj, pjac)
    best_earlier = np.zeros(n)
    np.maximum.at(best_earlier, pj, pjac)
    jac_of = {(int(i), int(j)): float(x) for i, j, x in zip(pi, pj, pjac)}

    stage_dir = next((out / "work").glob("stage-*-minhash_dedup"))
    cands = {tuple(sorted((index_of[a], index_of[b]))) for a, b in candidate_pairs(stage_dir)}
    edges = np.concatenate([np.load(f) for f in sorted((stage_dir / "edges").glob("*.npy"))])
    edge_pairs = {tuple(sorted((index_of[int(a)], index_of[int(b)]))) for a, b in zip(edges["a"], edges["b"])}
    verified = {p for p in cands if jac_of.get(p, 0.0) >= threshold} if verify else cands
    cand_jac = np.array([jac_of.get(p, 0.0) for p in cands])
    # cross-check the sparse Jaccard with Python sets: every candidate pair and 3,000 others
    rng = random.Random(1)
    sample = [tuple(sorted(rng.sample(range(n), 2))) for _ in range(3000)]
    checked = [p for p in list(cands) + sample]
    mismatch = sum(abs(jaccard(sets[i], sets[j]) - jac_of.get((i, j), 0.0)) > 1e-9 for i, j in checked)
    noncand = [p for p in sample if p not in cands]

    should = best_earlier >= threshold + 0.05
    base_of = {d["family"]: i for i, d in enumerate(docs) if d["kind"] == "base"}
    planted = [
        (min(base_of[d["family"]], i), max(base_of[d["family"]], i)) for i, d in enumerate(docs) if d["kind"] != "base"
    ]
    planted_j = np.array([jac_of.get(p, 0.0) for p in planted])
    planted_one = np.array([survivor[i] == survivor[j] for i, j in planted])
    hi_sel, lo_sel = planted_j >= threshold + 0.05, planted_j <= threshold - 0.05
    same = np.array([survivor[i] == survivor[j] for i, j in zip(pi, pj)])
    low = best <= threshold - 0.1
    result = {
        "ngram": ngram,
        "threshold": threshold,
        "verify": verify,
        "bands": stage.bands,
        "rows": stage.rows,
        "docs": n,
        "removed": int(removed.sum()),
        "seconds": seconds,
        "precision": float((best[removed] >= threshold).mean()) if removed.any() else 1.0,
        "recall": float(removed[should].mean()) if should.any() else 1.0,
        "should_remove": int(should.sum()),
        "false_removal": float(removed[low].mean()) if low.any() else 0.0,
        "low_docs": int(low.sum()),
        "removed_low": int((removed & low).sum()),
        "planted_high": float(planted_one[hi_sel].mean()) if hi_sel.any() else 1.0,
        "planted_high_pairs": int(hi_sel.sum()),
        "planted_high_missed": sorted(round(float(x), 3) for x in planted_j[hi_sel & ~planted_one]),
        "planted_low": float(planted_one[lo_sel].mean()) if lo_sel.any() else 0.0,
        "planted_low_pairs": int(lo_sel.sum()),
        "planted_low_joined": sorted(round(float(x), 3) for x in planted_j[lo_sel & planted_one]),
        "planted_curve": [
            {
                "bin": f"{lo:.2f}-{lo + 0.05:.2f}",
                "pairs": int(sel.sum()),
                "one_cluster": float(planted_one[sel].mean()) if sel.any() else None,
            }
            for lo in np.arange(0.6, 1.0, 0.05)
            for sel in [(planted_j >= lo - 1e-9) & ((planted_j < lo + 0.05 - 1e-9) | (lo >= 0.95))]
        ],
        "pair_recall": float(same[pjac >= threshold + 0.05].mean()),
        "pairs_ge_t_plus": int((pjac >= threshold + 0.05).sum()),
        "candidates": len(cands),
        "candidates_ge_t": int((cand_jac >= threshold).sum()),
        "candidates_lt_t_minus_0.1": int((cand_jac <= threshold - 0.1).sum()),
        "pairs_ge_t": int((pjac >= threshold).sum()),
        "pairs_ge_t_candidates": int(sum(1 for p, x in jac_of.items() if x >= threshold and p in cands)),
        "edges": len(edges),
        "edge_pairs": len(edge_pairs),
        "edges_not_candidates": len(edge_pairs - cands),
        "verified": len(verified),
        "verified_split": sum(survivor[i] != survivor[j] for i, j in verified),
        "survivor_j_lt_t": int(sum(jac_of.get((survivor[i], i), 0.0) < threshold for i in np.flatnonzero(removed))),
        "survivor_j_le_low": int(
            sum(jac_of.get((survivor[i], i), 0.0) <= threshold - 0.1 for i in np.flatnonzero(removed))
        ),
        "jaccard_checked": len(checked),
        "jaccard_mismatch": int(mismatch),
        "noncandidate_sample": len(noncand),
        "noncandidate_sample_max_j": max((jac_of.get(p, 0.0) for p in noncand), default=0.0),
    }
    # S-curves
    is_cand = np.array([(int(i), int(j)) in cands for i, j in zip(pi, pj)])
    is_verified = np.array([(int(i), int(j)) in verified for i, j in zip(pi, pj)])
    curve = []
    for b in range(20):
        lo, hi = b / 20, (b + 1) / 20
        dsel = (best_earlier >= lo) & ((best_earlier < hi) if b < 19 else (best_earlier <= 1.0))
        psel = (pjac >= lo) & ((pjac < hi) if b < 19 else (pjac <= 1.0))
        mid = min((lo + hi) / 2, 1.0)
        theory = 1 - (1 - mid**stage.rows) ** stage.bands

        def share(m: np.ndarray, sel: np.ndarray = psel) -> float | None:
            return float(m[sel].mean()) if sel.any() else None

        curve.append(
            {
                "bin": f"{lo:.2f}-{hi:.2f}",
                "docs": int(dsel.sum()),
                "removed": float(removed[dsel].mean()) if dsel.any() else None,
                "pairs": int(psel.sum()),
                "candidate": share(is_cand),
                "theory": theory,
                "verified": share(is_verified),
                "same_cluster": share(same),
            }
        )
    result["s_curve"] = curve
    # who was missed, who was removed wrongly, by edit kind
    result["missed"] = sorted(
        ((round(float(best_earlier[i]), 3), docs[i]["kind"], len(sets[i])) for i in np.flatnonzero(should & ~removed)),
        reverse=True,
    )
    result["wrong"] = sorted(
        (round(float(best[i]), 3), docs[i]["kind"], len(sets[i])) for i in np.flatnonzero(removed & (best < threshold))
    )
    return result


def pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def by_kind(items: list) -> str:
    kinds: dict[str, int] = {}
    for _, k, _ in items:
        kinds[k] = kinds.get(k, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))


def planted_ok(r: dict) -> bool:
    return r["planted_high"] >= 0.995 and r["planted_low"] <= 0.003


def report(r: dict, threshold: float) -> None:
    ok = r["precision"] >= 0.95 and r["recall"] >= 0.95 and r["false_removal"] < 0.01
    verify = r["verify"]
    print(
        f"\nngram {r['ngram']}, threshold {threshold}, verify {str(verify).lower()}: {r['bands']} bands x "
        f"{r['rows']} rows; removed {r['removed']} of {r['docs']} (pipeline {r['seconds']:.1f} s)"
    )
    print(
        f"  precision {r['precision']:.3f}   recall {r['recall']:.3f} (docs with an earlier partner J >= "
        f"{threshold + 0.05:.2f}: {r['should_remove']})   removed with best J <= {threshold - 0.1:.2f}: "
        f"{pct(r['false_removal'], 2)} ({r['removed_low']} of {r['low_docs']})   "
        f"goals: {'PASS' if ok else 'FALL SHORT'}"
    )
    print(
        f"  planted pairs (copy, base) that lose one member to the other: {pct(r['planted_high'], 2)} of "
        f"{r['planted_high_pairs']:,} at J >= {threshold + 0.05:.2f} (goal >= 99.5 %), "
        f"{pct(r['planted_low'], 2)} of {r['planted_low_pairs']:,} at J <= {threshold - 0.05:.2f} (goal <= 0.3 %)   "
        f"{'PASS' if planted_ok(r) else 'FALL SHORT'}"
        + (f"; missed at J {', '.join(map(str, r['planted_high_missed'][:10]))}" if r["planted_high_missed"] else "")
        + (f"; joined at J {', '.join(map(str, r['planted_low_joined'][:10]))}" if r["planted_low_joined"] else "")
    )
    print(
        "  planted pairs in one cluster by J: "
        + ", ".join(f"{c['bin']} {pct(c['one_cluster'])} of {c['pairs']}" for c in r["planted_curve"])
    )
    print(
        f"  pairs with J >= {threshold + 0.05:.2f} put in one cluster: {pct(r['pair_recall'])} of "
        f"{r['pairs_ge_t_plus']:,}; removed documents whose J with their cluster's survivor is < {threshold}: "
        f"{r['survivor_j_lt_t']}, <= {threshold - 0.1:.2f}: {r['survivor_j_le_low']} (chains through other members)"
    )
    print(
        f"  LSH candidate pairs {r['candidates']:,}: {r['candidates_ge_t']:,} with J >= {threshold}, "
        f"{r['candidates_lt_t_minus_0.1']:,} with J <= {threshold - 0.1:.2f}"
        + (
            f"; {r['verified']:,} pass verify ({r['verified_split']} of those end in different clusters)"
            if verify
            else ""
        )
        + f"; of all {r['pairs_ge_t']:,} pairs with J >= {threshold}, {r['pairs_ge_t_candidates']:,} are candidates"
    )
    print(
        f"  edges written {r['edges']:,} ({r['edge_pairs']:,} distinct pairs, "
        f"{r['edges_not_candidates']} not candidate pairs); exact Jaccard cross-checked with sets on "
        f"{r['jaccard_checked']:,} pairs (every candidate + a random sample): {r['jaccard_mismatch']} mismatches; "
        f"highest J among {r['noncandidate_sample']:,} sampled non-candidate pairs: "
        f"{r['noncandidate_sample_max_j']:.3f}"
    )
    extra = f"{'verified':>10}" if verify else ""
    print("  S-curve     docs by best J to an earlier doc |  pairs by their J")
    print(
        f"  {'J bin':<11}{'docs':>6}{'removed':>9}  |{'pairs':>8}{'candidate':>11}{'theory':>8}{extra}{'1 cluster':>11}"
    )
    low = [c for c in r["s_curve"] if float(c["bin"][:4]) < 0.3]
    d, p = sum(c["docs"] for c in low), sum(c["pairs"] for c in low)

    def agg(key: str, weight: str) -> float:
        return sum((c[key] or 0) * c[weight] for c in low) / max(sum(c[weight] for c in low), 1)

    print(
        f"  {'0.00-0.30':<11}{d:>6}{pct(agg('removed', 'docs')):>9}  |{p:>8,}{pct(agg('candidate', 'pairs'), 2):>11}"
        f"{'':>8}"
        + (f"{pct(agg('verified', 'pairs'), 2):>10}" if verify else "")
        + f"{pct(agg('same_cluster', 'pairs'), 2):>11}"
    )
    for c in r["s_curve"]:
        if float(c["bin"][:4]) < 0.3:
            continue
        v = f"{pct(c['verified']):>10}" if verify else ""
        print(
            f"  {c['bin']:<11}{c['docs']:>6}{pct(c['removed']):>9}  |{c['pairs']:>8,}{pct(c['candidate']):>11}"
            f"{pct(c['theory']):>8}{v}{pct(c['same_cluster']):>11}"
        )
    if r["missed"]:
        print(
            f"  kept although an earlier partner has J >= {threshold + 0.05:.2f}: {len(r['missed'])} "
            f"({by_kind(r['missed'])}); their J: {', '.join(f'{j:.2f}' for j, _, _ in r['missed'][:10])}"
            f"{' ...' if len(r['missed']) > 10 else ''}"
        )
    if r["wrong"]:
        print(
            f"  removed with no partner of J >= {threshold}: {len(r['wrong'])} ({by_kind(r['wrong'])}); "
            f"their best J: {', '.join(f'{j:.2f}' for j, _, _ in r['wrong'][:10])}"
            f"{' ...' if len(r['wrong']) > 10 else ''}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=int, default=8, help="edited copies per family (default 8)")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not WARC.is_dir():
        print(f"skipped: {WARC} not found (clone with ../shared beside the repo)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    texts = extracted_texts()
    n_bases = sum(len(t.split()) >= MIN_WORDS for t in texts)
    print(
        f"families: the {n_bases} of {len(texts)} texts extracted from {WARC.name}/*.warc.gz by "
        f"pipelines/extract-only.yaml with >= {MIN_WORDS} words (cut at {MAX_WORDS}), each with "
        f"{args.variants} copies: 1 exact (half only case/punctuation changed) and {args.variants - 1} "
        f"edited - word substitutions, insertions, deletions, a mix, or a boilerplate paragraph appended plus "
        f"mixed edits - at random positions with words drawn from the real texts, the number of edits "
        f"searched to hit a Jaccard with the base drawn stratified from 0.3-1.0 on that run's shingles "
        f"(so made separately for ngram 5 and 13); families shuffled over {FILES} JSONL files."
    )
    results = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmpdir:
        tmp = Path(tmpdir)
        for ngram in (5, 13):
            docs = make_families(texts, ngram, args.variants, args.seed + ngram)
            for verify in (False, True):
                r = evaluate(docs, ngram, args.threshold, verify, tmp)
                results.append(r)
                report(r, args.threshold)
    print(
        f"\nsummary (threshold {args.threshold}; goals: planted pairs at J >= {args.threshold + 0.05:.2f} >= 99.5 % "
        f"in one cluster, at J <= {args.threshold - 0.05:.2f} <= 0.3 %; precision >= 0.95, recall >= 0.95 for J >= "
        f"{args.threshold + 0.05:.2f}, < 1 % removed with J <= {args.threshold - 0.1:.2f})"
    )
    print(
        f"  {'ngram':>5} {'verify':>6} {'bands x rows':>12} {'planted J>=t+.05':>17} {'planted J<=t-.05':>17} "
        f"{'precision':>10} {'recall':>8} {'false removals':>15}"
    )
    for r in results:
        ok = r["precision"] >= 0.95 and r["recall"] >= 0.95 and r["false_removal"] < 0.01
        print(
            f"  {r['ngram']:>5} {str(r['verify']).lower():>6} {r['bands']:>6} x {r['rows']:<4} "
            f"{pct(r['planted_high'], 2):>17} {pct(r['planted_low'], 2):>17} {r['precision']:>10.3f} "
            f"{r['recall']:>8.3f} {pct(r['false_removal'], 2):>15}   {'PASS' if ok else 'FALLS SHORT'}"
            f" (planted: {'PASS' if planted_ok(r) else 'FALLS SHORT'})"
        )
    (OUT / "dedup_quality.json").write_text(json.dumps(results, indent=2))
    print(f"\n({time.perf_counter() - started:.0f} s; results in {OUT / 'dedup_quality.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
