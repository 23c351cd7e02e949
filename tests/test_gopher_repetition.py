"""GopherRepetitionFilter: every rule just below, at and just above its threshold, the n-gram
scores against a brute-force reading of their definitions, annotate mode, the declared
columns, and real prose (state_union speeches) kept."""

from __future__ import annotations

import itertools
import random
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from conftest import check_filter

from corpusforge.document import Document
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.schema import validate
from corpusforge.stages.filters.gopher_repetition import DUP_NGRAMS, TOP_NGRAMS, GopherRepetitionFilter

STATE_UNION = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "text" / "state_union.zip"

DEFAULTS = {
    "dup_line_frac": 0.30,
    "dup_para_frac": 0.30,
    "dup_line_char_frac": 0.20,
    "dup_para_char_frac": 0.20,
    "top_2gram_frac": 0.20,
    "top_3gram_frac": 0.18,
    "top_4gram_frac": 0.16,
    "dup_5gram_frac": 0.15,
    "dup_6gram_frac": 0.14,
    "dup_7gram_frac": 0.13,
    "dup_8gram_frac": 0.12,
    "dup_9gram_frac": 0.11,
    "dup_10gram_frac": 0.10,
}


class Words:
    """Distinct words over one alphabet, by length; two instances with disjoint alphabets never
    share a word."""

    def __init__(self, alphabet: str) -> None:
        self.alphabet = alphabet
        self.pools: dict[int, object] = {}

    def take(self, length: int) -> str:
        pool = self.pools.setdefault(length, ("".join(p) for p in itertools.product(self.alphabet, repeat=length)))
        return next(pool)

    def chars(self, total: int) -> list[str]:
        """Distinct words of 5 letters (one of 6 to 9) whose lengths sum to `total` (>= 5)."""
        count, rest = divmod(total, 5)
        return [self.take(5) for _ in range(count - 1)] + [self.take(5 + rest)]


def check(text: str, expected: str | None, **kwargs) -> Document:
    return check_filter(GopherRepetitionFilter, text, expected, **kwargs)


def score(doc: Document, key: str) -> float:
    return doc.metadata[f"gopher_repetition_{key}"]


# --- lines and paragraphs ---------------------------------------------------------------


@pytest.mark.parametrize("dups, expected", [(5, None), (6, None), (7, "dup_line_frac")])
def test_dup_line_frac(dups, expected):
    # 20 lines: "Applause." once plus `dups` repeats, the rest distinct 8-word lines. The
    # repeats are short (few characters) and each sits between distinct lines (no n-gram repeats).
    filler = Words("abcdefghij")
    unique = [" ".join(filler.take(5) for _ in range(8)) for _ in range(19 - dups)]
    lines = []
    for i in range(20):
        lines.append("Applause." if i % 2 and i // 2 <= dups else unique.pop())
    doc = check("\n".join(lines), expected)
    assert score(doc, "dup_line_frac") == dups / 20
    assert score(doc, "dup_para_frac") == 0.0  # one paragraph
    assert score(doc, "top_2gram_frac") == 0.0


@pytest.mark.parametrize("dups, expected", [(5, None), (6, None), (7, "dup_para_frac")])
def test_dup_para_frac(dups, expected):
    # 20 paragraphs: "Applause." once plus `dups` repeats, the rest distinct 3-line paragraphs,
    # so repeated lines are a much smaller share of the lines.
    filler = Words("abcdefghij")
    unique = ["\n".join(" ".join(filler.take(5) for _ in range(6)) for _ in range(3)) for _ in range(19 - dups)]
    paragraphs = ["(Applause.)" if i % 2 and i // 2 <= dups else unique.pop() for i in range(20)]
    doc = check("\n\n".join(paragraphs), expected)
    assert score(doc, "dup_para_frac") == dups / 20
    assert score(doc, "dup_line_frac") == dups / (3 * (19 - dups) + dups + 1)


def test_paragraphs_split_on_blank_lines_with_spaces_and_crlf():
    text = "One two three.\n \t\nFour five.\r\n\r\nOne two three.\n\n\n\nFour five."
    doc = check(text, "dup_para_frac", dup_line_frac=1.0, dup_line_char_frac=1.0)
    assert score(doc, "dup_para_frac") == 2 / 4


@pytest.mark.parametrize("unique_chars, expected", [(301, None), (300, None), (299, "dup_line_char_frac")])
def test_dup_line_char_frac(unique_chars, expected):
    # One-word lines: a 100-character word twice (100 duplicate characters) among distinct
    # 5-letter words of `unique_chars` characters in all; 100 / (200 + 300) is exactly 0.2.
    long_word = "k" * 100
    unique = Words("abcdefghij").chars(unique_chars)
    lines = unique[:4] + [long_word] + unique[4:6] + [long_word] + unique[6:]
    doc = check("\n".join(lines), expected)
    assert score(doc, "dup_line_char_frac") == 100 / (200 + unique_chars)
    assert score(doc, "dup_line_frac") <= 0.3


@pytest.mark.parametrize("unique_chars, expected", [(301, None), (300, None), (299, "dup_para_char_frac")])
def test_dup_para_char_frac(unique_chars, expected):
    # As above with paragraphs. A repeated paragraph is made of repeated lines, so the line
    # rules see the same text; they are switched off to isolate the paragraph rule.
    long_word = "k" * 100
    unique = Words("abcdefghij").chars(unique_chars)
    paragraphs = unique[:4] + [long_word] + unique[4:6] + [long_word] + unique[6:]
    doc = check("\n\n".join(paragraphs), expected, dup_line_char_frac=1.0)
    assert score(doc, "dup_para_char_frac") == 100 / (200 + unique_chars)


def test_blank_lines_are_not_duplicates():
    # Paragraphs separated by blank lines (and lines of spaces) are not repeated lines.
    filler = Words("abcdefghij")
    text = "\n\n  \n".join(" ".join(filler.take(5) for _ in range(10)) for _ in range(10))
    doc = check(text, None)
    assert score(doc, "dup_line_frac") == 0.0 and score(doc, "dup_para_frac") == 0.0


# --- n-grams ----------------------------------------------------------------------------


def ngram_text(block_lengths: list[int], copies: int, total_chars: int) -> str:
    """`copies` copies of a block of distinct words (letters k-t, of the given lengths) among
    distinct filler words (letters a-j), `total_chars` word characters in all."""
    blocks = Words("klmnopqrst")
    block = [blocks.take(n) for n in block_lengths]
    fillers = Words("abcdefghij").chars(total_chars - copies * sum(block_lengths))
    gap = len(fillers) // copies
    words = []
    for c in range(copies):
        words += fillers[c * gap : (c + 1) * gap] + block  # each copy after at least one filler
    words += fillers[copies * gap :] + ["tail"]  # no copy at the very end; "tail" adds 4 chars
    return " ".join(words)


@pytest.mark.parametrize("n, block_chars", [(2, 50), (3, 45), (4, 40)])
@pytest.mark.parametrize("total, expected", [(1001, None), (1000, None), (999, "top")])
def test_top_ngram_frac(n, block_chars, total, expected):
    # An n-gram of `block_chars` characters four times in `total` word characters:
    # 4 * 50 / 1000 = 0.20, 4 * 45 / 1000 = 0.18 and 4 * 40 / 1000 = 0.16, the thresholds.
    key = f"top_{n}gram_frac"
    text = ngram_text([block_chars // n] * n, copies=4, total_chars=total - 4)
    doc = check(text, expected and key)
    assert score(doc, key) == 4 * block_chars / total
    assert all(score(doc, f"top_{m}gram_frac") < DEFAULTS[f"top_{m}gram_frac"] for m in TOP_NGRAMS if m != n)


@pytest.mark.parametrize("n", DUP_NGRAMS)
@pytest.mark.parametrize("delta, expected", [(1, None), (0, None), (-1, "dup")])
def test_dup_ngram_frac(n, delta, expected):
    # An n-gram twice, covering exactly threshold * 1000 of 1000 word characters (one
    # character more or less of filler moves it just across). Shorter duplicate n-grams
    # cover the same words, with higher thresholds; longer ones cover nothing.
    key = f"dup_{n}gram_frac"
    covered = round(DEFAULTS[key] * 1000)  # 150, 140, ..., 100
    lengths = [covered // 2 // n] * n
    lengths[0] += covered // 2 - sum(lengths)
    total = 1000 + delta
    doc = check(ngram_text(lengths, copies=2, total_chars=total - 4), expected and key)
    assert score(doc, key) == covered / total
    for m in DUP_NGRAMS:
        assert score(doc, f"dup_{m}gram_frac") == (covered / total if m <= n else 0.0)


def test_overlapping_duplicates_count_each_word_once():
    words = ["alpha", "beta", "gamma", "delta", "eps"] * 3 + ["zeta"] * 6
    scores = GopherRepetitionFilter.ngram_scores(words)
    chars = sum(map(len, words))
    # The 5-word cycle repeats (every 5-gram inside it repeats); "zeta" x 6 holds "zeta" x 5 twice.
    assert scores["dup_5gram_frac"] == 1.0
    assert scores["dup_6gram_frac"] == (chars - 6 * 4) / chars
    # Overlapping occurrences all count for the top n-gram: "zeta zeta" is there 5 times.
    assert scores["top_2gram_frac"] == 5 * len("zetazeta") / chars


def reference_ngram_scores(words: list[str]) -> dict[str, float]:
    """The definitions in the module docstring, read literally: every n-gram as a tuple."""
    total = sum(map(len, words))
    scores = {}
    for n in TOP_NGRAMS + DUP_NGRAMS:
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        counts = Counter(grams)
        if n in TOP_NGRAMS:
            top = max(counts.values(), default=0)
            longest = max((sum(map(len, g)) for g, c in counts.items() if c == top), default=0)
            scores[f"top_{n}gram_frac"] = longest * top / total if top > 1 else 0.0
        else:
            covered = [False] * len(words)
            for i, g in enumerate(grams):
                if counts[g] > 1:
                    covered[i : i + n] = [True] * n
            scores[f"dup_{n}gram_frac"] = sum(len(w) for w, c in zip(words, covered) if c) / total if total else 0.0
    return scores


def test_ngram_scores_match_brute_force_on_random_repetitive_text():
    rng = random.Random(0)
    for _ in range(2000):
        vocab = ["".join(rng.choice("abc") for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 8))]
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 80))]
        # Sometimes paste a long run back in, so that 10-grams repeat.
        if len(words) > 20 and rng.random() < 0.5:
            i = rng.randrange(len(words) - 12)
            words[i:i] = words[i : i + rng.randint(5, 12)]
        got = GopherRepetitionFilter.ngram_scores(words)
        if len(words) < 2:
            assert not any(got.values())
            continue
        assert got == pytest.approx(reference_ngram_scores(words), rel=1e-12), words


def test_ngram_scores_match_brute_force_on_prose(speeches):
    for text in list(speeches.values())[::8]:
        words = text.split()
        assert GopherRepetitionFilter.ngram_scores(words) == pytest.approx(reference_ngram_scores(words), rel=1e-12)


# --- modes and columns ------------------------------------------------------------------


def test_annotate_records_every_score_even_after_a_line_rule_fails():
    text = "\n".join(["Same line here."] * 10)
    doc = check(text, "dup_line_frac")
    assert score(doc, "dup_line_frac") == 0.9
    assert score(doc, "dup_5gram_frac") == 1.0  # computed although a line rule failed first


def test_empty_and_tiny_documents_are_kept():
    for text in ("", "\n\n", "word", "two words"):
        doc = check(text, None)
        assert all(score(doc, k) == 0.0 for k in DEFAULTS)


def test_columns_declare_every_recorded_key():
    stage = GopherRepetitionFilter(mode="annotate")
    doc = Document("d", "some text\n\nmore text here")
    stage.filter(doc)
    columns = stage.columns()
    assert set(columns) == {"gopher_repetition_reason"} | {f"gopher_repetition_{k}" for k in DEFAULTS}
    assert set(doc.metadata) | {"gopher_repetition_reason"} == set(columns)
    assert GopherRepetitionFilter().columns() == {}


def test_config_keys_are_the_table():
    args = validate(GopherRepetitionFilter, {"top_2gram_frac": 0.25, "dup_10gram_frac": 0}, "stages[2]")
    expected = {**DEFAULTS, "top_2gram_frac": 0.25, "dup_10gram_frac": 0.0}
    assert {k: v for k, v in args.items() if k != "mode"} == expected
    assert GopherRepetitionFilter(**args).thresholds == expected


# --- real prose -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speeches() -> dict[str, str]:
    if not STATE_UNION.is_file():
        pytest.skip(f"real text not found at {STATE_UNION} (clone with ../shared beside the repo)")
    with zipfile.ZipFile(STATE_UNION) as z:
        return {n: z.read(n).decode("utf-8", errors="replace") for n in z.namelist() if n.endswith(".txt")}


def test_state_union_speeches_are_kept(speeches, tmp_path):
    stage = GopherRepetitionFilter()
    ctx = StageContext(task=0, source="t", work_dir=tmp_path, stats=StageStats("x"))
    kept = list(stage.run([Document(n, t) for n, t in speeches.items()], ctx))
    # 1970-Nixon ends in three "??" paragraphs out of six: a legitimate dup_para_frac drop.
    assert len(kept) >= len(speeches) - 2, ctx.stats.dropped

    # Paragraphs long enough to be documents: speeches repeat phrases ("substantial wage
    # increases are good business for ..."), which the n-gram rules catch in short texts.
    paragraphs = [p for t in speeches.values() for p in t.split("\n") if len(p.split()) >= 50]
    ctx = StageContext(task=0, source="t", work_dir=tmp_path, stats=StageStats("x"))
    kept = list(stage.run([Document(str(i), p) for i, p in enumerate(paragraphs)], ctx))
    assert len(kept) >= 0.95 * len(paragraphs), ctx.stats.dropped
