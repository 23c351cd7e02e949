"""Decontamination benchmark: the scan's cost beside extraction, and a 10M n-gram index.

Run from the repo root (`make bench`):  .venv/bin/python bench/decontam.py [--docs 20000] [--ngrams 10000000]

1. Extract the sample crawls (../shared/data/warc, 218 HTML pages) once with the pipeline's
   trafilatura stage, timing it: the extraction cost per document, in this run.
2. Repeat the extracted texts to N documents (default 20,000, each with a distinct suffix;
   one in 500 gets a real GSM8K question planted so the match path runs too) and time the
   `decontaminate` stage with GSM8K and HumanEval loaded, in this process: `prepare` (the
   scan) + the `count` step + `run` (the action), median of 3; the index is built before the
   clock starts and timed on its own. Goal: < 5 % of extraction time per document.
3. A synthetic index of ~10M n-grams: GSM8K, HumanEval and 100 test sets of 1,000 items of
   112 random words (drawn from the real texts' vocabulary; 100 13-grams each), built in a
   fresh process whose peak RSS is measured; then the same scan as in 2 against it.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpusforge.document import Document  # noqa: E402
from corpusforge.engine.stage import StageContext  # noqa: E402
from corpusforge.engine.stats import StageStats  # noqa: E402
from corpusforge.stages.decontamination.decontaminate import Decontaminator  # noqa: E402
from corpusforge.stages.decontamination.ngram_index import normalize_words  # noqa: E402
from corpusforge.stages.readers.warc_reader import WarcReader  # noqa: E402
from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WARC = SHARED / "warc"
EVALSETS = SHARED / "evalsets"
OUT = ROOT / "bench" / "out"
SETS = [
    {"name": "gsm8k", "path": str(EVALSETS / "gsm8k_test.jsonl"), "fields": ["question", "answer"]},
    {"name": "humaneval", "path": str(EVALSETS / "humaneval.jsonl.gz"), "fields": ["prompt", "canonical_solution"]},
]


def ctx(work: Path, name: str) -> StageContext:
    return StageContext(task=0, source="bench", work_dir=work, stats=StageStats(name))


def extract_sample(tmp: Path) -> tuple[list[Document], float]:
    reader, extractor = WarcReader(), TrafilaturaExtractor(favor_precision=True)
    extractor.setup()
    html = [
        d
        for p in sorted(WARC.glob("cc-sample-*.warc.gz")) + [WARC / "articles-181.warc.gz"]
        for d in reader.read(str(p), ctx(tmp, "warc"))
    ]
    t0 = time.perf_counter()
    docs = list(extractor.run(html, ctx(tmp, "trafilatura")))
    return docs, (time.perf_counter() - t0) / len(html)


def corpus(texts: list[Document], n: int, questions: list[str]) -> list[Document]:
    docs = []
    for i in range(n):
        text = f"{texts[i % len(texts)].text}\n[copy {i // len(texts)}]"
        if i % 500 == 250:
            text = text + "\n" + questions[i // 500 % len(questions)]
        docs.append(Document(id=f"{i}", text=text, url=None))
    return docs


def time_scan(stage: Decontaminator, docs: list[Document], work: Path, repeats: int) -> tuple[float, dict]:
    """Median seconds of prepare + count + run over all docs (the index already built in `work`)."""
    times, dropped = [], {}
    for r in range(repeats):
        batch = [copy.copy(d) for d in docs]
        c = ctx(work, f"scan-{r}")
        t0 = time.perf_counter()
        kept = list(stage.prepare(batch, c))
        for step in stage.steps():
            for t in range(step.n_tasks(1)):
                step.run(t, work, 1)
        out = list(stage.run(kept, c))
        times.append(time.perf_counter() - t0)
        dropped = dict(c.stats.dropped)
        assert len(out) + sum(dropped.values()) == len(docs)
    return statistics.median(times), dropped


def synthetic_sets(folder: Path, vocab: list[str], n_sets: int, items: int, words: int) -> list[dict]:
    rng = random.Random(0)
    sets = []
    for s in range(n_sets):
        path = folder / f"synthetic-{s:03d}.jsonl"
        with open(path, "w") as f:
            for _ in range(items):
                f.write(json.dumps({"text": " ".join(rng.choices(vocab, k=words))}) + "\n")
        sets.append({"name": f"syn{s:03d}", "path": str(path), "fields": ["text"]})
    return sets


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from corpusforge.stages.decontamination.ngram_index import NgramIndex
from corpusforge.stages.decontamination.testsets import parse_test_sets
sets, folder = json.loads(sys.argv[1]), sys.argv[2]
base = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 1024  # RSS now, kB
t0 = time.perf_counter()
idx = NgramIndex.build(parse_test_sets(sets), 13, 8, Path(folder))
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "entries": idx.meta["entries"], "rss_before_mb": base / 1024,
                  "peak_rss_mb": peak / 1024}))
"""


def build_in_child(sets: list[dict], folder: Path) -> dict:
    """Build the index in a fresh interpreter that imports only what building needs, so its
    peak RSS minus its RSS before building is the build's own memory."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(sets), str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def index_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("*.npy")) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ngrams", type=int, default=10_000_000, help="synthetic index size (0: skip)")
    args = parser.parse_args()
    if not WARC.is_dir() or not EVALSETS.is_dir():
        print(f"skipped: {WARC} or {EVALSETS} not found (clone with ../shared beside the repo)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        texts, extract_s = extract_sample(tmp)
        questions = [json.loads(line)["question"] for line in open(SETS[0]["path"])]
        docs = corpus(texts, args.docs, questions)
        kb = sum(len(d.text) for d in docs) / len(docs) / 1000
        print(f"extraction (trafilatura, favor_precision): {1 / extract_s:,.1f} docs/s on the 218 sample pages")
        results["extraction_docs_per_s"] = 1 / extract_s

        stage = Decontaminator(test_sets=SETS)
        work = tmp / "real"
        t0 = time.perf_counter()
        idx = stage.index(work)
        build_s = time.perf_counter() - t0
        print(
            f"index of GSM8K + HumanEval: {idx.meta['entries']:,} n-grams, built in {build_s:.2f} s, "
            f"{index_mb(work / 'index'):.1f} MB"
        )
        seconds, dropped = time_scan(stage, docs, work, args.repeats)
        share = seconds / len(docs) / extract_s
        verdict = "PASS" if share < 0.05 else "FALLS SHORT"
        print(
            f"scan (prepare + count + run) on {len(docs):,} documents (mean {kb:.1f} kB): "
            f"{len(docs) / seconds:,.0f} docs/s = {100 * share:.2f}% of extraction per document "
            f"(goal < 5%: {verdict}); dropped {dropped}"
        )
        results["gsm8k_humaneval"] = {
            "index_ngrams": idx.meta["entries"],
            "index_build_s": build_s,
            "index_mb": index_mb(work / "index"),
            "docs": len(docs),
            "docs_per_s": len(docs) / seconds,
            "share_of_extraction": share,
            "dropped": dropped,
        }

        if args.ngrams:
            per_set_items = max(1, args.ngrams // (100 * 100))
            vocab = sorted({w for d in texts for w in normalize_words(d.text)})
            folder = tmp / "synthetic"
            folder.mkdir()
            t0 = time.perf_counter()
            sets = synthetic_sets(folder, vocab, 100, per_set_items, 112)
            print(
                f"\nsynthetic test sets: 100 × {per_set_items:,} items of 112 random words "
                f"({len(vocab):,}-word vocabulary), written in {time.perf_counter() - t0:.1f} s"
            )
            built = build_in_child(SETS + sets, tmp / "big" / "index")
            mb = index_mb(tmp / "big" / "index")
            print(
                f"index of {built['entries']:,} n-grams: built in {built['seconds']:.1f} s, "
                f"peak RSS {built['peak_rss_mb']:,.0f} MB ({built['peak_rss_mb'] - built['rss_before_mb']:,.0f} MB "
                f"above the process before building); {mb:,.0f} MB on disk, memory-mapped by the workers"
            )
            big = Decontaminator(test_sets=SETS + sets)
            seconds, dropped = time_scan(big, docs, tmp / "big", args.repeats)
            share_big = seconds / len(docs) / extract_s
            print(
                f"scan against it: {len(docs) / seconds:,.0f} docs/s = {100 * share_big:.2f}% of extraction "
                f"per document; dropped {dropped}"
            )
            results["synthetic"] = built | {
                "index_mb": mb,
                "docs_per_s": len(docs) / seconds,
                "share_of_extraction": share_big,
            }
    (OUT / "decontam.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
