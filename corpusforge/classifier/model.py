"""A quality model as `train-classifier` writes it: a supervised fastText model with exactly two
labels, and the one normalisation its texts go through at training and at scoring time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from corpusforge.errors import ClassifierError
from corpusforge.fasttext_lib import fasttext_module

POSITIVE = "__label__positive"  # the reference side (--positive)
NEGATIVE = "__label__negative"  # the crawl side (--negative)
MODEL_FILE = "model.bin"
CARD_FILE = "card.json"


def normalize(text: str) -> str:
    """Lowercased, every run of whitespace (newlines too: fastText reads one line per example)
    one space, as the Pile's and DCLM's classifiers prepare text; the same at training and
    scoring time, or the scores would not mean what the held-out metrics say."""
    return " ".join(text.lower().split())


def model_file(path: str | Path) -> Path:
    """A `train-classifier` output folder or a model file → the model file."""
    p = Path(os.path.expanduser(str(path)))
    return p / MODEL_FILE if p.is_dir() else p


class QualityModel:
    """A loaded quality model: `scores(texts)` is each text's probability of the positive label."""

    def __init__(self, path: str | Path) -> None:
        file = model_file(path)
        if not file.is_file():
            raise ClassifierError(
                f"quality model {path!r}: no such file ({file.resolve()}); "
                "train one with `corpusforge train-classifier --positive ... --negative ... --output DIR`"
            )
        try:
            self._model: Any = fasttext_module().load_model(str(file))
        except ValueError as exc:  # fastText's word for a file that is not one of its models
            raise ClassifierError(f"quality model {file}: not a fastText model ({exc})") from None
        labels = set(self._model.get_labels())
        if labels != {POSITIVE, NEGATIVE}:
            raise ClassifierError(
                f"quality model {file}: its labels are {sorted(labels)}, not {POSITIVE} and {NEGATIVE}: "
                "not a model train-classifier wrote (a language-ID model, say)"
            )
        self.path = file

    def scores(self, texts: list[str]) -> np.ndarray:
        """P(positive) for each text (float64); 0.0 for a text with no word in it."""
        prepared = [normalize(t) for t in texts]
        out = np.zeros(len(texts), dtype=np.float64)
        index = [i for i, t in enumerate(prepared) if t]
        if not index:
            return out
        batch = [prepared[i] for i in index]
        try:  # the list form: fasttext 0.9.3's single-string predict fails under NumPy 2
            labels, probs = self._model.predict(batch, k=2)
        except (TypeError, UnicodeError):  # a lone surrogate cannot cross into C++
            batch = [t.encode("utf-8", "replace").decode("utf-8") for t in batch]
            labels, probs = self._model.predict(batch, k=2)
        for i, lab, prob in zip(index, labels, probs):
            p = dict(zip(lab, prob.tolist()))
            if POSITIVE in p:
                out[i] = p[POSITIVE]
            else:  # k=2 of two labels gives both, but a sum rounded past 1 is not worth trusting
                out[i] = 1.0 - p.get(NEGATIVE, 1.0)
        return np.clip(out, 0.0, 1.0)  # fastText's softmax can round to 1.00001
