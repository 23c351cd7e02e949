"""Filter benchmark: what the stages after extraction cost, beside extraction itself.

Run from the repo root (`make bench`):  .venv/bin/python bench/filters.py [--docs N]

1. Extract the sample crawls (../shared/data/warc, 218 HTML pages) once with the pipeline's
   trafilatura stage, timing it: the extraction cost per document.
2. Repeat the extracted texts to N documents (default 20,000; each copy gets a distinct
   suffix so exact dedup keeps them) and time each stage alone on them, in this process:
   language, gopher_quality, gopher_repetition, c4, exact_dedup (prepare + find + run).
3. Print docs/s per stage and its cost as a share of extraction time per document; the goal
   is language + gopher_quality + gopher_repetition + exact_dedup < 10 % of extraction.
4. Run pipelines/massivetext.yaml on the sample (1 worker) and print each stage's share of
   the pipeline's time from stats.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpusforge.document import Document  # noqa: E402
from corpusforge.engine.config import load_config  # noqa: E402
from corpusforge.engine.runner import run_pipeline  # noqa: E402
from corpusforge.engine.stage import StageContext  # noqa: E402
from corpusforge.engine.stats import StageStats  # noqa: E402
from corpusforge.stages import STAGES  # noqa: E402
from corpusforge.stages.readers.warc_reader import WarcReader  # noqa: E402
from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor  # noqa: E402

WARC = ROOT.parent / "shared" / "data" / "warc"
OUT = ROOT / "bench" / "out"
MEASURED = ["language", "gopher_quality", "gopher_repetition", "c4", "exact_dedup"]
GOAL_STAGES = ["language", "gopher_quality", "gopher_repetition", "exact_dedup"]


def ctx(tmp: Path, name: str) -> StageContext:
    return StageContext(task=0, source="bench", work_dir=tmp / name, stats=StageStats(name))


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


def corpus(texts: list[Document], n: int) -> list[Document]:
    return [
        Document(id=f"{i}", text=f"{texts[i % len(texts)].text}\n[copy {i // len(texts)}]", url=None) for i in range(n)
    ]


def time_stage(name: str, docs: list[Document], tmp: Path, repeats: int) -> float:
    """Median seconds of the stage over all docs (global stages: all their phases)."""
    stage = STAGES[name]()
    stage.setup()
    times = []
    for r in range(repeats):
        batch = [copy.copy(d) for d in docs]
        for d in batch:
            d.metadata = {}
        c = ctx(tmp, f"{name}-{r}")
        t0 = time.perf_counter()
        if hasattr(stage, "prepare"):
            kept = list(stage.prepare(batch, c))
            for step in stage.steps():
                for t in range(step.n_tasks(1)):
                    step.run(t, c.work_dir, 1)
            out = list(stage.run(kept, c))
        else:
            out = list(stage.run(batch, c))
        times.append(time.perf_counter() - t0)
        assert len(out) + sum(c.stats.dropped.values()) == len(docs)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not WARC.is_dir():
        print(f"skipped: {WARC} not found (clone with ../shared beside the repo)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        texts, extract_s = extract_sample(tmp)
        docs = corpus(texts, args.docs)
        kb = sum(len(d.text) for d in docs) / len(docs) / 1000
        print(f"extraction (trafilatura, favor_precision): {1 / extract_s:,.1f} docs/s on the 218 sample pages")
        print(f"stages alone on {len(docs):,} documents ({len(texts)} extracted texts repeated, mean {kb:.1f} kB):")
        print(f"{'stage':<20}{'docs/s':>12}{'% of extraction':>18}")
        results = {}
        for name in MEASURED:
            if name not in STAGES:
                print(f"{name:<20}{'(not built)':>12}")
                continue
            seconds = time_stage(name, docs, tmp, args.repeats)
            per_doc = seconds / len(docs)
            results[name] = {"docs_per_s": len(docs) / seconds, "share_of_extraction": per_doc / extract_s}
            print(f"{name:<20}{len(docs) / seconds:>12,.0f}{100 * per_doc / extract_s:>17.2f}%")
        total = sum(results[n]["share_of_extraction"] for n in GOAL_STAGES if n in results)
        verdict = "PASS" if total < 0.10 else "FALLS SHORT"
        print(
            f"{' + '.join(n for n in GOAL_STAGES if n in results)}: {100 * total:.2f}% of extraction "
            f"(goal < 10%: {verdict})"
        )

        config = load_config(
            ROOT / "pipelines" / "massivetext.yaml",
            inputs=[str(p) for p in sorted(WARC.glob("*.warc.gz"))],
            output=str(tmp / "massivetext"),
            workers=1,
        )
        stages = run_pipeline(config, overwrite=True, quiet=True)
        wall = sum(s.seconds for s in stages)
        print("\npipelines/massivetext.yaml on the sample (1 worker), share of pipeline time per stage:")
        for s in stages:
            print(
                f"  {s.name:<20}{s.seconds:>8.2f} s {100 * s.seconds / wall:>7.1f}%   {s.docs_in:>6,} → {s.docs_out:,}"
            )
    (OUT / "filters.json").write_text(
        json.dumps({"extraction_docs_per_s": 1 / extract_s, "stages": results, "goal_share": total}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
