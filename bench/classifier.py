"""Quality classifier benchmark: training time, held-out AUC, scoring speed beside extraction.

Run from the repo root:  .venv/bin/python bench/classifier.py [--docs N] [--chunk-words W]

1. Extract the sample crawls (../shared/data/warc, 218 HTML pages) with the pipeline's
   trafilatura stage, timing it: the extraction cost per page, in this run.
2. Train `corpusforge train-classifier` (its default settings) on the shared reference text
   (brown, abc, state_union, inaugural) against crawl-like text (webtext and the extracted
   pages), all cut into pieces of about W words (default 100) so both sides have many documents
   of one length; print training time and the held-out precision, recall, F1 and ROC AUC. Also
   the AUC on the held-out pieces split by source (crawl pages against reference; webtext
   against reference), scored by the same model.
3. Score the extracted pages (whole, as the stage sees them), repeated to N documents (default
   20,000), with the quality_classifier stage (threshold and pareto; median of --repeats
   interleaved runs): docs/s and cost as a share of extraction time per page; the goal is < 3 %.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from corpusforge.classifier.train import Settings, train_classifier  # noqa: E402
from corpusforge.document import Document  # noqa: E402
from corpusforge.engine.stage import StageContext  # noqa: E402
from corpusforge.engine.stats import StageStats  # noqa: E402
from corpusforge.stages.filters.quality_classifier import QualityClassifier  # noqa: E402
from corpusforge.stages.readers.warc_reader import WarcReader  # noqa: E402
from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WARC, TEXT = SHARED / "warc", SHARED / "text"
OUT = ROOT / "bench" / "out"
REFERENCE = ["brown.zip", "abc.zip", "state_union.zip", "inaugural.zip"]


def ctx(tmp: Path, name: str) -> StageContext:
    return StageContext(task=0, source="bench", work_dir=tmp / name, stats=StageStats(name))


def extract_sample(tmp: Path) -> tuple[list[Document], float, int]:
    reader, extractor = WarcReader(), TrafilaturaExtractor(favor_precision=True)
    extractor.setup()
    files = sorted(WARC.glob("cc-sample-*.warc.gz")) + [WARC / "articles-181.warc.gz"]
    html = [d for p in files for d in reader.read(str(p), ctx(tmp, "warc"))]
    t0 = time.perf_counter()
    docs = list(extractor.run(html, ctx(tmp, "trafilatura")))
    return docs, (time.perf_counter() - t0) / len(html), len(html)


def stage_rate(docs: list[Document], model: Path, tmp: Path, **keys) -> float:
    stage = QualityClassifier(model_path=str(model), **keys)
    stage.setup()
    batch = [Document(d.id, d.text, d.url) for d in docs]
    t0 = time.perf_counter()
    for _ in stage.run(batch, ctx(tmp, f"qc-{keys.get('select')}")):
        pass
    return len(batch) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20_000, help="documents scored for the speed figure")
    ap.add_argument("--chunk-words", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3, help="timed scoring runs per selection (median)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        docs, extract_s, pages = extract_sample(tmp)
        print(
            f"extraction: {pages} pages → {len(docs)} documents, {1 / extract_s:.1f} pages/s ({extract_s * 1e3:.1f} ms/page)"
        )
        crawl = tmp / "crawl.parquet"
        pq.write_table(pa.table({"text": [d.text for d in docs]}), crawl)

        model = tmp / "model"
        settings = Settings(chunk_words=args.chunk_words)
        card = train_classifier(
            [str(TEXT / n) for n in REFERENCE], [str(TEXT / "webtext.zip"), str(crawl)], model, settings, quiet=True
        )
        m, d = card["heldout_metrics"], card["documents"]
        print(
            f"train-classifier (defaults: dim {settings.dim}, epoch {settings.epoch}, lr {settings.lr}, "
            f"wordNgrams {settings.word_ngrams}; pieces of {args.chunk_words} words): "
            f"{d['train_per_side']['positive']:,} + {d['train_per_side']['negative']:,} documents "
            f"(of {d['available']['positive']:,} reference, {d['available']['negative']:,} crawl-like) "
            f"in {card['seconds']['train']:.2f} s, model {card['model_bytes'] / 1e6:.1f} MB"
        )
        print(
            f"held out {m['documents']:,}: precision {m['precision']:.3f} recall {m['recall']:.3f} "
            f"F1 {m['f1']:.3f} ROC AUC {m['roc_auc']:.4f}"
        )

        # one model, per-source AUC: the extracted pages are the crawl the stage will see
        from corpusforge.classifier.documents import chunk, read_texts
        from corpusforge.classifier.model import QualityModel
        from corpusforge.classifier.train import roc_auc

        scorer = QualityModel(model)
        import numpy as np

        ref = [
            p for n in ["inaugural.zip"] for t in read_texts(str(TEXT / n), "text") for p in chunk(t, args.chunk_words)
        ]
        pages_scores = scorer.scores([d.text for d in docs])
        ref_scores = scorer.scores(ref)
        whole_auc = roc_auc(
            np.r_[np.ones(len(ref_scores), bool), np.zeros(len(pages_scores), bool)], np.r_[ref_scores, pages_scores]
        )
        print(
            f"whole extracted pages ({len(docs)}, trained on as pieces) vs inaugural pieces ({len(ref)}): "
            f"AUC {whole_auc:.4f} (in-sample: an upper bound); median page score {np.median(pages_scores):.3f}"
        )

        corpus = [Document(f"{i}", docs[i % len(docs)].text) for i in range(args.docs)]
        runs: dict[str, list[float]] = {"threshold": [], "pareto": []}
        for _ in range(args.repeats):  # interleaved: the machine's load changes over a run
            for sel in runs:
                runs[sel].append(stage_rate(corpus, model, tmp, select=sel))
        rates = {sel: statistics.median(r) for sel, r in runs.items()}
        mean_kb = sum(len(d.text) for d in corpus) / len(corpus) / 1e3
        print(
            f"scoring {len(corpus):,} extracted pages (mean {mean_kb:.1f} kB), one process, median of {args.repeats}:"
        )
        rows = {}
        for sel, rate in rates.items():
            share = (1 / rate) / extract_s
            rows[sel] = {"docs_per_s": round(rate, 1), "share_of_extraction": round(share, 5)}
            print(
                f"  quality_classifier select={sel:<10} {rate:>8,.0f} docs/s  {100 * share:.2f} % of extraction (goal < 3 %)"
            )
        result = {
            "extraction_ms_per_page": round(extract_s * 1e3, 2),
            "pages": pages,
            "documents": len(docs),
            "card": {k: card[k] for k in ("documents", "settings", "heldout_metrics", "seconds", "model_bytes")},
            "whole_pages_vs_inaugural_auc": round(whole_auc, 4),
            "scoring": rows,
            "mean_doc_kb": round(mean_kb, 2),
        }
        (OUT / "classifier.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"→ {OUT / 'classifier.json'}")


if __name__ == "__main__":
    main()
