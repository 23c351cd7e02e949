"""Keep documents by a fastText quality classifier's score (`corpusforge train-classifier`).

Every document gets `quality_score`, the model's probability that it is reference text, in
both modes. What is kept (`select`):

- `threshold`: score >= `threshold`;
- `pareto`: GPT-3's and the Pile's sampling, keep when `np.random.pareto(alpha) > 1 - score`
  (GPT-3: alpha 9; Pile-CC: alpha 3), the draw made from a hash of `seed` and the document's
  id (`pareto_draw`), so a rerun (with any number of workers) keeps the same documents. A
  document of score s is kept with probability (2 - s)^-alpha: most of the best, some of the rest;
- `top_fraction`: the `fraction` of the whole corpus with the highest scores, exactly
  ceil(fraction x n) documents, ties broken by position (the lowest task, then row, as the
  dedup stages' "first"). Only this choice makes the stage global: `prepare` scores each task
  and saves the scores, the step `cut` finds the last kept (score, task, row), and `run` keeps
  what ranks at or above it. The other two decide document by document, in the phase.

Reasons (`mode: drop`) or `quality_classifier_reason` (`mode: annotate`): `low_score`,
`pareto`, `below_top_fraction`. Each task also saves its documents' scores and decisions, and
`finish` writes OUTPUT/quality_classifier.json (score histograms before and after selection,
the kept fraction) for the report.

The model is checked (a file, with train-classifier's two labels) when the config is read, and
loaded once per worker process in `setup()`, never pickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from fractions import Fraction
from itertools import islice
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import xxhash

from corpusforge.classifier.model import QualityModel, model_file
from corpusforge.document import Document
from corpusforge.engine.stage import Decides, GlobalStage, GlobalStep, StageContext
from corpusforge.errors import ClassifierError
from corpusforge.io.atomic import load_npy, save_npy, write_json_atomic
from corpusforge.io.paths import AnyPath

SCORE_COLUMN = "quality_score"
HISTOGRAM_BINS = 20
_DECISION = [("score", "<f8"), ("kept", "?")]
_TWO_53 = float(2**53)


def summary_file(label: str) -> str:
    return f"{label}.json"


def pareto_draw(doc_id: str, alpha: float, seed: int) -> float:
    """numpy's `rng.pareto(alpha)` (a Lomax draw, U^(-1/alpha) - 1 for U uniform on (0, 1)),
    with U taken from the 64-bit hash of the document's id and `seed`: the same document gets
    the same draw in every run, and a draw costs ~0.6 µs instead of ~20 µs for a generator
    seeded per document (GPT-3's rule as written: `np.random.pareto(alpha) > 1 - score`)."""
    h = xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed=seed)
    u = ((h >> 11) + 0.5) / _TWO_53  # the top 53 bits: a double in (0, 1), never 0
    return u ** (-1.0 / alpha) - 1.0


def pareto_keeps(doc_id: str, score: float, alpha: float, seed: int) -> bool:
    """Keep when the draw exceeds 1 - score: with probability (2 - score)^-alpha."""
    return pareto_draw(doc_id, alpha, seed) > 1.0 - score


def top_count(fraction: float, n: int) -> int:
    """ceil(fraction x n) with the fraction as written (0.3 x 10 is 3, not 4 from 3.0000000000000004)."""
    return min(n, math.ceil(Fraction(str(fraction)) * n))


def top_rows(score: np.ndarray, group: np.ndarray, row: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the ceil(fraction x n) best documents, by score descending, then (group, row)
    (input order); a NaN score (a null) is never among them."""
    valid = ~np.isnan(score)
    k = min(top_count(fraction, len(score)), int(valid.sum()))
    return np.lexsort((row, group, -np.where(valid, score, -np.inf)))[:k]  # the last key sorts first


class QualityClassifier(Decides, GlobalStage):
    """Score each document with a quality model and keep by `select` (see the module docstring)."""

    name = "quality_classifier"

    def __init__(
        self,
        model_path: str,
        select: Literal["threshold", "pareto", "top_fraction"] = "threshold",
        threshold: float = 0.5,
        alpha: float = 9.0,
        fraction: float | None = None,
        seed: int = 0,
        batch_docs: int = 256,
        mode: Literal["drop", "annotate"] = "drop",
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        if not alpha > 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        if select == "top_fraction" and fraction is None:
            raise ValueError("select: top_fraction needs 'fraction' (the share of documents to keep, e.g. 0.3)")
        if fraction is not None and not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if batch_docs < 1:
            raise ValueError(f"batch_docs must be positive, got {batch_docs}")
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed must be between 0 and 2**64 - 1, got {seed}")
        self.model_path = str(model_file(model_path))
        self.select, self.threshold, self.alpha, self.fraction = select, threshold, alpha, fraction
        self.seed, self.batch_docs, self.mode = seed, batch_docs, mode
        self._model: QualityModel | None = None

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_model": None}  # a C++ object: reloaded in each process

    def check(self) -> None:
        try:
            QualityModel(self.model_path)
        except ClassifierError as exc:
            raise ValueError(f"model_path: {exc}") from None

    def depends_on(self) -> list[str]:
        return [self.model_path]

    def setup(self) -> None:
        if self._model is None:
            self._model = QualityModel(self.model_path)

    def is_global(self) -> bool:
        return self.select == "top_fraction"

    def columns(self) -> dict[str, pa.DataType]:
        return {SCORE_COLUMN: pa.float64()} | self.reason_columns()

    def _scored(self, docs: Iterable[Document]) -> Iterator[tuple[Document, float]]:
        self.setup()
        assert self._model is not None
        it = iter(docs)
        while batch := list(islice(it, self.batch_docs)):
            for doc, score in zip(batch, self._model.scores([d.text for d in batch]).tolist()):
                doc.metadata[SCORE_COLUMN] = score
                yield doc, score

    def _reason(self, doc: Document, score: float) -> str | None:
        if self.select == "threshold":
            return None if score >= self.threshold else "low_score"
        return None if pareto_keeps(doc.id, score, self.alpha, self.seed) else "pareto"

    # --- top_fraction: score, cut, apply ------------------------------------------------

    def prepare(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        scores: list[float] = []
        for doc, score in self._scored(docs):
            scores.append(score)
            yield doc
        save_npy(ctx.work_dir / "scores" / f"task-{ctx.task:05d}.npy", np.array(scores, dtype=np.float64))

    def steps(self) -> list[GlobalStep]:
        return [GlobalStep("cut", n_tasks=lambda n_stream_tasks: 1, run=self._cut)] if self.is_global() else []

    def _cut(self, _: int, work_dir: AnyPath, n_stream_tasks: int) -> None:
        """The last document kept, in the order (score descending, task, row)."""
        scores = [load_npy(work_dir / "scores" / f"task-{t:05d}.npy") for t in range(n_stream_tasks)]
        score = np.concatenate(scores) if scores else np.empty(0)
        task = np.concatenate([np.full(len(s), t, dtype=np.int64) for t, s in enumerate(scores)] or [np.empty(0)])
        row = np.concatenate([np.arange(len(s), dtype=np.int64) for s in scores] or [np.empty(0)])
        order = top_rows(score, task, row, self.fraction or 1.0)
        cut: dict[str, Any] = {"documents": len(score), "keep": len(order), "score": math.inf, "task": -1, "row": -1}
        if len(order):
            last = order[-1]
            cut |= {"score": float(score[last]), "task": int(task[last]), "row": int(row[last])}
        write_json_atomic(work_dir / "cut.json", cut)

    def _top_reasons(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[tuple[Document, float, str | None]]:
        cut = json.loads((ctx.work_dir / "cut.json").read_text())
        scores = load_npy(ctx.work_dir / "scores" / f"task-{ctx.task:05d}.npy")
        for row, doc in enumerate(docs):
            s = float(scores[row])  # the score as ranked (the column holds the same value)
            kept = s > cut["score"] or (s == cut["score"] and (ctx.task, row) <= (cut["task"], cut["row"]))
            yield doc, s, None if kept else "below_top_fraction"

    # --- the streaming pass: decide, record, keep or drop -------------------------------

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        if self.is_global():
            verdicts = self._top_reasons(docs, ctx)
        else:
            verdicts = ((doc, s, self._reason(doc, s)) for doc, s in self._scored(docs))
        decisions: list[tuple[float, bool]] = []

        def recorded() -> Iterator[tuple[Document, str | None]]:
            for doc, score, reason in verdicts:
                decisions.append((score, reason is None))
                yield doc, reason

        yield from self.keep_or_drop(recorded(), ctx)
        save_npy(ctx.work_dir / "decisions" / f"task-{ctx.task:05d}.npy", np.array(decisions, dtype=_DECISION))

    def finish(self, work_dir: AnyPath, output_dir: AnyPath, n_stream_tasks: int, label: str) -> None:
        files = [work_dir / "decisions" / f"task-{t:05d}.npy" for t in range(n_stream_tasks)]
        if not all(f.is_file() for f in files):  # work/ deleted: keep the summary written before
            return
        d = np.concatenate([load_npy(f) for f in files]) if files else np.empty(0, dtype=_DECISION)
        chosen = {"threshold": self.threshold, "pareto": self.alpha, "top_fraction": self.fraction}[self.select]
        write_score_summary(
            output_dir / summary_file(label),
            d["score"],
            d["kept"],
            {"stage": self.name, "select": self.select, "value": chosen, "mode": self.mode, "model": self.model_path},
        )


def write_score_summary(path: AnyPath, scores: np.ndarray, kept: np.ndarray, info: dict[str, Any]) -> None:
    """The report's input: histograms of the scores before and after selection, the kept share."""
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    before, _ = np.histogram(scores, bins=edges)
    after, _ = np.histogram(scores[kept], bins=edges)
    write_json_atomic(
        path,
        info
        | {
            "documents": int(len(scores)),
            "kept": int(kept.sum()),
            "kept_fraction": round(float(kept.mean()), 6) if len(scores) else None,
            "bin_edges": [round(e, 4) for e in edges.tolist()],
            "before": before.tolist(),
            "after": after.tolist(),
        },
    )
