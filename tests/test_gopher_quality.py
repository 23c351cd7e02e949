"""GopherQualityFilter: every rule just below, at and just above its threshold, annotate mode,
the declared columns, and real prose (state_union speeches) kept."""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path

import pytest
from conftest import check_filter

from corpusforge.document import Document
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.schema import validate
from corpusforge.stages.filters.gopher_quality import STOP_WORDS, GopherQualityFilter

STATE_UNION = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "text" / "state_union.zip"


def fillers(count: int, total_chars: int | None = None) -> list[str]:
    """`count` distinct words of letters a-j (no stop word among them), 5 letters each or
    lengths as equal as possible summing to `total_chars`."""
    total_chars = 5 * count if total_chars is None else total_chars
    base, extra = divmod(total_chars, count)
    lengths = [base + 1] * extra + [base] * (count - extra)
    pools = {}
    words = []
    for length in lengths:
        pool = pools.setdefault(length, ("".join(p) for p in itertools.product("abcdefghij", repeat=length)))
        words.append(next(w for w in pool if w not in STOP_WORDS))
    return words


def prose(n_words: int = 100, total_chars: int | None = None) -> list[str]:
    """A word list that passes every rule: two stop words, then distinct filler words."""
    chars = None if total_chars is None else total_chars - 6
    return ["the", "and"] + fillers(n_words - 2, chars)


def check(text: str, expected: str | None, **kwargs) -> Document:
    return check_filter(GopherQualityFilter, text, expected, **kwargs)


def score(doc: Document, key: str):
    return doc.metadata[f"gopher_quality_{key}"]


# --- word count -------------------------------------------------------------------------


@pytest.mark.parametrize("n, expected", [(49, "too_few_words"), (50, None), (51, None)])
def test_min_words(n, expected):
    doc = check(" ".join(prose(n)), expected)
    assert score(doc, "word_count") == n


@pytest.mark.parametrize("n, expected", [(99_999, None), (100_000, None), (100_001, "too_many_words")])
def test_max_words(n, expected):
    doc = check(" ".join(prose(n)), expected)
    assert score(doc, "word_count") == n


def test_punctuation_only_tokens_are_not_words():
    # 49 words plus dashes, bullets and ellipses standing alone: still too few words.
    words = prose(49)
    text = " - ".join(words[:10]) + " — … ... * " + " ".join(words[10:]) + " !"
    doc = check(text, "too_few_words")
    assert score(doc, "word_count") == 49


def test_empty_document():
    for text in ("", "   \n\n ", "- ... !"):
        doc = check(text, "too_few_words")
        assert score(doc, "word_count") == 0


# --- mean word length -------------------------------------------------------------------


@pytest.mark.parametrize("chars, expected", [(299, "mean_word_length"), (300, None), (301, None)])
def test_min_mean_word_length(chars, expected):
    doc = check(" ".join(prose(100, chars)), expected)
    assert score(doc, "mean_word_length") == chars / 100


@pytest.mark.parametrize("chars, expected", [(999, None), (1000, None), (1001, "mean_word_length")])
def test_max_mean_word_length(chars, expected):
    doc = check(" ".join(prose(100, chars)), expected)
    assert score(doc, "mean_word_length") == chars / 100


def test_word_length_ignores_punctuation():
    # 100 words of 3 letters, with commas, quotes and a full stop attached: mean exactly 3.
    words = prose(100, 300)
    words = [f'"{w},' if i % 3 == 0 else w for i, w in enumerate(words)]
    doc = check(" ".join(words) + ".", None)
    assert score(doc, "mean_word_length") == 3.0


# --- symbol-to-word ratio ---------------------------------------------------------------


@pytest.mark.parametrize("k, expected", [(9, None), (10, None), (11, "symbol_word_ratio")])
def test_hash_ratio(k, expected):
    words = prose(100)
    words[2 : 2 + k] = ["#" + w for w in words[2 : 2 + k]]
    doc = check(" ".join(words), expected)
    assert score(doc, "hash_ratio") == k / 100
    assert score(doc, "word_count") == 100  # "#tag" is still one word


@pytest.mark.parametrize("mark", ["...", "…"])
@pytest.mark.parametrize("k, expected", [(9, None), (10, None), (11, "symbol_word_ratio")])
def test_ellipsis_ratio(mark, k, expected):
    words = prose(100)
    words[2 : 2 + k] = [w + mark for w in words[2 : 2 + k]]  # inside the line, not at its end
    doc = check(" ".join(words), expected)
    assert score(doc, "ellipsis_ratio") == k / 100
    assert score(doc, "ellipsis_lines_ratio") == 0.0


# --- bullets and ellipses at line ends -------------------------------------------------


def lines_of(n_lines: int = 20) -> list[str]:
    words = prose(5 * n_lines)
    return [" ".join(words[5 * i : 5 * i + 5]) for i in range(n_lines)]


@pytest.mark.parametrize("k, expected", [(17, None), (18, None), (19, "bullet_lines")])
def test_bullet_lines(k, expected):
    bullets = itertools.cycle(["• ", "- ", "* ", "◦ ", "‣ ", "● ", "  – "])
    lines = [next(bullets) + line if i < k else line for i, line in enumerate(lines_of(20))]
    doc = check("\n".join(lines), expected)
    assert score(doc, "bullet_lines_ratio") == k / 20
    assert score(doc, "word_count") == 100  # a bullet, even "◦" or "●", is not a word


def test_blank_lines_do_not_dilute_bullets():
    lines = ["- " + line for line in lines_of(20)]
    doc = check("\n\n".join(lines), "bullet_lines")
    assert score(doc, "bullet_lines_ratio") == 1.0


@pytest.mark.parametrize("mark", ["...", "…"])
@pytest.mark.parametrize("k, expected", [(5, None), (6, None), (7, "ellipsis_lines")])
def test_ellipsis_lines(mark, k, expected):
    lines = [line + mark + "  " if i < k else line + "." for i, line in enumerate(lines_of(20))]
    doc = check("\n".join(lines), expected)
    assert score(doc, "ellipsis_lines_ratio") == k / 20


# --- alphabetic words and stop words -------------------------------------------------


@pytest.mark.parametrize("k, expected", [(19, None), (20, None), (21, "alpha_words")])
def test_alpha_words(k, expected):
    words = prose(100)
    words[2 : 2 + k] = [f"{19000 + i}" if i % 2 else f"€{i:03d}" for i in range(k)]
    doc = check(" ".join(words), expected)
    assert score(doc, "alpha_words_ratio") == (100 - k) / 100


def test_alpha_words_letters_anywhere():
    # "1940s", "COVID-19" and "été" have a letter; "3.14" and "12:30" do not.
    words = fillers(80) + ["the", "of", "1940s", "COVID-19", "été", "x2"] + ["3.14", "12:30"] * 7
    doc = check(" ".join(words), None)
    assert score(doc, "alpha_words_ratio") == 86 / 100


@pytest.mark.parametrize("k, expected", [(1, "stop_words"), (2, None), (3, None)])
def test_stop_words(k, expected):
    words = fillers(100 - k) + ["with"] * k
    doc = check(" ".join(words), expected)
    assert score(doc, "stop_words") == k


def test_stop_words_match_case_and_punctuation_and_count_occurrences():
    base = fillers(98)
    assert check(" ".join(base + ["The", "that,"]), None).metadata["gopher_quality_stop_words"] == 2
    assert check(" ".join(base + ["the", "the"]), None).metadata["gopher_quality_stop_words"] == 2
    assert check(" ".join(base + ["theatre", "tothe"]), "stop_words").metadata["gopher_quality_stop_words"] == 0
    # A custom list from the config.
    check(" ".join(base + ["der", "die"]), None, stop_words=["der", "die", "das"])


def test_first_failing_rule_names_the_drop_and_annotate_records_all_scores():
    # Too few words and all bullets: the word count, checked first, is the reason.
    text = "\n".join("- " + w for w in prose(10))
    doc = check(text, "too_few_words")
    assert score(doc, "bullet_lines_ratio") == 1.0


def test_columns_declare_every_recorded_key():
    stage = GopherQualityFilter(mode="annotate")
    doc = Document("d", " ".join(prose(100)))
    stage.filter(doc)
    columns = stage.columns()
    assert set(columns) == {"gopher_quality_reason"} | {f"gopher_quality_{k}" for k in GopherQualityFilter.scores}
    assert set(doc.metadata) | {"gopher_quality_reason"} == set(columns)
    # Drop mode writes nothing, so declares nothing.
    assert GopherQualityFilter().columns() == {}
    plain = Document("d", " ".join(prose(100)))
    GopherQualityFilter().filter(plain)
    assert plain.metadata == {}


def test_config_keys_validate():
    args = validate(
        GopherQualityFilter,
        {"min_words": 20, "min_mean_word_length": 2, "stop_words": ["a"], "mode": "annotate"},
        "stages[1]",
    )
    stage = GopherQualityFilter(**args)
    assert stage.min_words == 20 and stage.min_mean_word_length == 2.0 and stage.annotate
    with pytest.raises(ValueError):
        GopherQualityFilter(min_words=10, max_words=5)


# --- real prose -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speeches() -> dict[str, str]:
    if not STATE_UNION.is_file():
        pytest.skip(f"real text not found at {STATE_UNION} (clone with ../shared beside the repo)")
    with zipfile.ZipFile(STATE_UNION) as z:
        return {n: z.read(n).decode("utf-8", errors="replace") for n in z.namelist() if n.endswith(".txt")}


def test_state_union_speeches_are_kept(speeches, tmp_path):
    stage = GopherQualityFilter()
    ctx = StageContext(task=0, source="t", work_dir=tmp_path, stats=StageStats("x"))
    kept = list(stage.run([Document(n, t) for n, t in speeches.items()], ctx))
    assert len(speeches) > 60 and len(kept) == len(speeches), ctx.stats.dropped

    # Paragraphs long enough to be documents: a few fall under 50 words once "--" is not a word.
    paragraphs = [p for t in speeches.values() for p in t.split("\n") if len(p.split()) >= 50]
    ctx = StageContext(task=0, source="t", work_dir=tmp_path, stats=StageStats("x"))
    kept = list(stage.run([Document(str(i), p) for i, p in enumerate(paragraphs)], ctx))
    assert len(paragraphs) > 3000
    assert len(kept) >= 0.98 * len(paragraphs), ctx.stats.dropped
