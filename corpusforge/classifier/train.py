"""`corpusforge train-classifier --positive GLOB... --negative GLOB... --output DIR`.

A supervised fastText model telling reference text (`--positive`: books, news, speeches,
WebText) from raw crawl (`--negative`), as the Pile (Pile-CC) and DCLM trained theirs. The
defaults are DCLM's: its README says its OH-2.5+ELI5 classifier kept fastText's supervised
defaults (dim 100, 5 epochs, lr 0.1, minCount 1, window 5) but for word bigrams
(`wordNgrams=2`). The Pile's published scripts call `train_supervised` with no options, so
word unigrams: `--word-ngrams 1` reproduces that. Each is a flag; `bucket` (the hashed bigram
table) is 200,000 rather than fastText's 2,000,000, so a model is about a tenth of the size
at dim 100: a classifier trained on thousands of documents has far fewer distinct bigrams.

Steps: read both sides; normalise (`model.normalize`, also used when scoring); drop texts left
empty; sample the same number of documents from each side (at most `--max-docs`); hold out
`--heldout` of each side; train on the rest with one thread and `--seed` (fastText's training is
deterministic only with one thread: the same inputs and seed give the same model bytes); score
the held-out split: precision, recall and F1 at 0.5, and ROC AUC.

    DIR/model.bin    the fastText model (labels __label__positive, __label__negative)
    DIR/card.json    inputs (path, bytes, sha256, documents), settings, metrics, versions
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from corpusforge.classifier.documents import read_side
from corpusforge.classifier.model import CARD_FILE, MODEL_FILE, NEGATIVE, POSITIVE, QualityModel, normalize
from corpusforge.errors import ClassifierError
from corpusforge.fasttext_lib import fasttext_module
from corpusforge.io.atomic import atomic_path, write_json_atomic
from corpusforge.io.run_folder import RunFolder

ENTRIES = (MODEL_FILE, CARD_FILE, "train.txt")
_ATTEMPTS = 3


@dataclass(frozen=True)
class Settings:
    dim: int = 100
    epoch: int = 5
    lr: float = 0.1
    min_count: int = 1
    word_ngrams: int = 2
    bucket: int = 200_000
    max_docs: int | None = None  # per side
    heldout: float = 0.1  # of each side
    chunk_words: int = 0  # 0: a document as read; else cut into pieces of >= this many words
    text_key: str = "text"
    seed: int = 0

    def check(self) -> None:
        for key in ("dim", "epoch", "min_count", "word_ngrams", "bucket"):
            if getattr(self, key) < 1:
                raise ClassifierError(f"--{key.replace('_', '-')} must be positive, got {getattr(self, key)}")
        if not self.lr > 0:
            raise ClassifierError(f"--lr must be positive, got {self.lr}")
        if self.max_docs is not None and self.max_docs < 2:
            raise ClassifierError(f"--max-docs must be at least 2, got {self.max_docs}")
        if not 0 < self.heldout < 1:
            raise ClassifierError(f"--heldout must be between 0 and 1, got {self.heldout}")
        if self.chunk_words < 0:
            raise ClassifierError(f"--chunk-words must be >= 0, got {self.chunk_words}")


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random
    negative (ties count half), from the rank sum (Mann-Whitney U)."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based, ties averaged
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    labels = np.asarray(labels, dtype=bool)
    predicted = np.asarray(scores) >= threshold
    tp = int((predicted & labels).sum())
    precision = tp / int(predicted.sum()) if predicted.any() else 0.0
    recall = tp / int(labels.sum())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "roc_auc": round(roc_auc(labels, scores), 4),
        "threshold": threshold,
        "documents": int(len(labels)),
    }


def _split(texts: list[str], n: int, heldout: float, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """`n` of `texts`, sampled without replacement, cut into (train, held out)."""
    chosen = rng.permutation(len(texts))[:n]
    n_held = max(1, round(n * heldout))
    return [texts[i] for i in chosen[n_held:]], [texts[i] for i in chosen[:n_held]]


def train_classifier(
    positive: list[str],
    negative: list[str],
    output: str | Path,
    settings: Settings = Settings(),
    overwrite: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train, score the held-out split, write DIR/model.bin and DIR/card.json; returns the card."""
    settings.check()
    fasttext_module(train=True)  # the full build, not fasttext-predict's: said before any work
    if not positive or not negative:
        raise ClassifierError("train-classifier needs --positive and --negative inputs")
    started = time.perf_counter()
    sides = {}
    for flag, patterns in (("--positive", positive), ("--negative", negative)):
        texts, inputs = read_side(patterns, flag, settings.text_key, settings.chunk_words)
        texts = [t for t in map(normalize, texts) if t]
        if len(texts) < 2:
            raise ClassifierError(
                f"{flag}: {len(texts)} non-empty document(s) in {', '.join(i.path for i in inputs) or 'its inputs'}; "
                "each side needs at least 2 (one to train on, one held out)"
            )
        sides[flag] = (texts, inputs)
    n = min(len(sides["--positive"][0]), len(sides["--negative"][0]), settings.max_docs or 2**62)
    rng = np.random.default_rng(settings.seed)
    pos_train, pos_held = _split(sides["--positive"][0], n, settings.heldout, rng)
    neg_train, neg_held = _split(sides["--negative"][0], n, settings.heldout, rng)
    if not pos_train or not neg_train:
        raise ClassifierError(f"only {n} document(s) per side: nothing left to train on after the held-out split")
    examples = [f"{POSITIVE} {t}" for t in pos_train] + [f"{NEGATIVE} {t}" for t in neg_train]
    examples = [examples[i] for i in rng.permutation(len(examples))]  # SGD must not see one class, then the other

    out = Path(output)
    inputs = [i.path for _, (_, files) in sides.items() for i in files]
    with RunFolder(out, "classifier", ENTRIES, inputs=inputs) as folder:
        folder.start(overwrite, "a classifier")
        train_file = out / "train.txt"
        with atomic_path(train_file) as tmp:
            tmp.write_text("\n".join(examples) + "\n", encoding="utf-8")
        t0 = time.perf_counter()
        with atomic_path(out / MODEL_FILE) as tmp:
            attempts = _train(train_file, tmp, settings)
        train_seconds = time.perf_counter() - t0
        train_file.unlink()  # the normalised text again: the card's hashes say what it was made from

        scorer = QualityModel(out)
        held = pos_held + neg_held
        t0 = time.perf_counter()
        scores = scorer.scores(held)
        score_seconds = time.perf_counter() - t0
        labels = np.array([True] * len(pos_held) + [False] * len(neg_held))
        card = {
            "model": MODEL_FILE,
            "labels": {"positive": POSITIVE, "negative": NEGATIVE},
            "positive": {"patterns": positive, "inputs": [i.to_json() for i in sides["--positive"][1]]},
            "negative": {"patterns": negative, "inputs": [i.to_json() for i in sides["--negative"][1]]},
            "documents": {
                "available": {"positive": len(sides["--positive"][0]), "negative": len(sides["--negative"][0])},
                "train_per_side": {"positive": len(pos_train), "negative": len(neg_train)},
                "heldout_per_side": {"positive": len(pos_held), "negative": len(neg_held)},
            },
            "settings": asdict(settings) | {"thread": 1, "normalization": "lowercase, whitespace runs to one space"},
            "heldout_metrics": metrics(labels, scores),
            "seconds": {
                "total": round(time.perf_counter() - started, 3),
                "train": round(train_seconds, 3),
                "train_attempts": attempts,
                "score_heldout": round(score_seconds, 4),
            },
            "model_bytes": os.path.getsize(out / MODEL_FILE),
            "versions": {"corpusforge": _version("corpusforge"), "fasttext": _version("fasttext")},
        }
        write_json_atomic(out / CARD_FILE, card)
    return card


def _fit(train_file: str, model_out: str, settings: Settings) -> None:
    """Train and save, in a process of its own (see `_train`)."""
    model = fasttext_module(train=True).train_supervised(
        input=train_file,
        dim=settings.dim,
        epoch=settings.epoch,
        lr=settings.lr,
        minCount=settings.min_count,
        wordNgrams=settings.word_ngrams,
        bucket=settings.bucket,
        thread=1,
        seed=settings.seed,
        verbose=0,
    )
    model.save_model(model_out)


def _train(train_file: Path, model_out: Path, settings: Settings) -> int:
    """fastText's supervised training in a fresh process; returns the attempts it took. The
    fasttext 0.9.3 binding, training again in a process that trained before, now and then stops
    with "Encountered NaN" on the same file and settings (measured: one run in three, at lr 0.1
    where nothing diverges); a fresh process has not done so in our runs, and every run that
    finishes writes the same bytes. A NaN is still retried, each time in a new process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    for attempt in range(1, _ATTEMPTS + 1):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            try:
                pool.submit(_fit, str(train_file), str(model_out), settings).result()
                return attempt
            except RuntimeError as exc:
                if "NaN" not in str(exc) or attempt == _ATTEMPTS:
                    raise ClassifierError(
                        f"fastText training failed ({exc}) {attempt} time(s); a lower --lr may help"
                    ) from None
    raise AssertionError("unreachable")


def _version(package: str) -> str:
    try:
        return version(package)
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        return "unknown"


def format_card(card: dict[str, Any], output: str | Path) -> str:
    m, d = card["heldout_metrics"], card["documents"]
    return (
        f"trained on {d['train_per_side']['positive']:,} + {d['train_per_side']['negative']:,} documents "
        f"in {card['seconds']['train']:.1f} s; held out {m['documents']:,}: "
        f"precision {m['precision']:.3f}  recall {m['recall']:.3f}  F1 {m['f1']:.3f}  ROC AUC {m['roc_auc']:.3f}\n"
        f"→ {Path(output) / MODEL_FILE} ({card['model_bytes'] / 1e6:,.1f} MB), {Path(output) / CARD_FILE}"
    )
