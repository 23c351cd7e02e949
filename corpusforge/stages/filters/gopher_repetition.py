"""Gopher's repetition rules (Rae et al. 2021, "Scaling Language Models", table A1).

A document is dropped when one of these scores is above its threshold (the key and the drop
reason share the score's name; a score equal to its threshold is kept):

    dup_line_frac       0.30    dup_line_char_frac  0.20    top_2gram_frac  0.20
    dup_para_frac       0.30    dup_para_char_frac  0.20    top_3gram_frac  0.18
                                                            top_4gram_frac  0.16
    dup_5gram_frac  0.15   dup_6gram_frac  0.14   dup_7gram_frac  0.13
    dup_8gram_frac  0.12   dup_9gram_frac  0.11   dup_10gram_frac 0.10

How each score is counted:

- Lines are the text split on "\\n"; paragraphs the text split on a blank line, regex
  `\\n\\s*\\n` (two or more newlines, as "\\n\\n+", also when the blank line holds spaces).
  Each is stripped of surrounding whitespace and blank ones are ignored everywhere: they are
  separators, not content (otherwise the empty lines between paragraphs would count as
  duplicates of each other).
- A line (paragraph) is *duplicate* when it equals an earlier line (paragraph): all
  occurrences but the first count, as in datatrove's `find_duplicates`. `dup_line_frac` is
  duplicate lines / lines; `dup_line_char_frac` is the characters of duplicate lines / the
  characters of all lines (stripped lengths, so "\\n" and indentation count in neither).
- Words are whitespace tokens (`str.split()`), compared exactly (case and attached
  punctuation included); n-grams are runs of n consecutive words. The denominator of every
  n-gram score is the total number of word characters (whitespace excluded); an n-gram's
  characters are those of its words.
- `top_{n}gram_frac` = characters of the most frequent n-gram × its number of occurrences /
  word characters, or 0 when no n-gram occurs twice. Among equally frequent n-grams the longest
  counts. Occurrences may overlap ("a a a a" holds "a a" three times), so the score can
  exceed 1 - as in Gopher and datatrove.
- `dup_{n}gram_frac` = characters of the words covered by at least one n-gram that occurs
  more than once (every occurrence, the first included) / word characters. A word inside
  several overlapping duplicate n-grams counts once (Gopher's "marking" of words, so the score
  is at most 1).

datatrove's `GopherRepetitionFilter` differs: its words come from a language tokenizer, not
whitespace; it divides every character count by len(text);
it splits lines on "\\n+" without stripping them; its top n-gram characters include the
spaces between the words; and for duplicate n-grams it scans left to right, skips the first
occurrence and jumps n words past each later one, so it can miss duplicates that start
inside a skipped span. Its scores are therefore not comparable one to one with these.

The n-gram scores cost a few numpy operations per n, not a Python loop per word: words get
exact integer ids once (position of their first occurrence), and an n-gram is identified by
the pair (id of its first n-1 words, id of its last word), grouped with one sort. Only
positions whose two (n-1)-grams both repeat can start a repeated n-gram, so each n works on
the survivors of n-1 and stops as soon as nothing repeats; clean prose leaves few survivors
after n = 4 or 5.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.stage import Filter

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)


def _duplicates(items: list[str]) -> tuple[int, int, int, int]:
    """(items, duplicate items, characters, characters of duplicates), duplicates being all
    occurrences after the first: exactly what the distinct items do not account for."""
    distinct = set(items)
    chars = sum(map(len, items))
    return len(items), len(items) - len(distinct), chars, chars - sum(map(len, distinct))


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each key: a dense id of its value and how often the value occurs (one sort)."""
    order = np.argsort(keys)
    sorted_keys = keys[order]
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    group = np.cumsum(first) - 1
    ids = np.empty_like(group)
    ids[order] = group
    return ids, np.bincount(group)[ids]


class GopherRepetitionFilter(Filter):
    """Drop documents with too much repeated text; see the module docstring."""

    name = "gopher_repetition"
    scores: ClassVar[dict[str, pa.DataType]] = {
        key: pa.float64()
        for key in ["dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac"]
        + [f"top_{n}gram_frac" for n in TOP_NGRAMS]
        + [f"dup_{n}gram_frac" for n in DUP_NGRAMS]
    }

    def __init__(
        self,
        dup_line_frac: float = 0.30,
        dup_para_frac: float = 0.30,
        dup_line_char_frac: float = 0.20,
        dup_para_char_frac: float = 0.20,
        top_2gram_frac: float = 0.20,
        top_3gram_frac: float = 0.18,
        top_4gram_frac: float = 0.16,
        dup_5gram_frac: float = 0.15,
        dup_6gram_frac: float = 0.14,
        dup_7gram_frac: float = 0.13,
        dup_8gram_frac: float = 0.12,
        dup_9gram_frac: float = 0.11,
        dup_10gram_frac: float = 0.10,
        mode: Literal["drop", "annotate"] = "drop",
    ) -> None:
        super().__init__(mode=mode)
        # Score name -> threshold, in the table's order: the first score above its threshold
        # names the drop.
        self.thresholds = {
            "dup_line_frac": dup_line_frac,
            "dup_para_frac": dup_para_frac,
            "dup_line_char_frac": dup_line_char_frac,
            "dup_para_char_frac": dup_para_char_frac,
            "top_2gram_frac": top_2gram_frac,
            "top_3gram_frac": top_3gram_frac,
            "top_4gram_frac": top_4gram_frac,
            "dup_5gram_frac": dup_5gram_frac,
            "dup_6gram_frac": dup_6gram_frac,
            "dup_7gram_frac": dup_7gram_frac,
            "dup_8gram_frac": dup_8gram_frac,
            "dup_9gram_frac": dup_9gram_frac,
            "dup_10gram_frac": dup_10gram_frac,
        }

    def filter(self, doc: Document) -> str | None:
        text = doc.text
        scores = self.line_scores(text)
        # In drop mode a failed line rule spares the n-gram work; annotate wants every score.
        if not self.annotate and (reason := self.first_failure(scores)):
            return reason
        scores.update(self.ngram_scores(text.split()))
        self.record(doc, **scores)
        return self.first_failure(scores)

    def first_failure(self, scores: dict[str, float]) -> str | None:
        for key, threshold in self.thresholds.items():
            if key in scores and scores[key] > threshold:
                return key
        return None

    @staticmethod
    def line_scores(text: str) -> dict[str, float]:
        lines = [s for s in (raw.strip() for raw in text.split("\n")) if s]
        paragraphs = [s for s in (raw.strip() for raw in _PARAGRAPH_BREAK.split(text)) if s]
        n_lines, dup_lines, line_chars, dup_line_chars = _duplicates(lines)
        n_paras, dup_paras, para_chars, dup_para_chars = _duplicates(paragraphs)
        return {
            "dup_line_frac": dup_lines / n_lines if n_lines else 0.0,
            "dup_para_frac": dup_paras / n_paras if n_paras else 0.0,
            "dup_line_char_frac": dup_line_chars / line_chars if line_chars else 0.0,
            "dup_para_char_frac": dup_para_chars / para_chars if para_chars else 0.0,
        }

    @staticmethod
    def ngram_scores(words: list[str]) -> dict[str, float]:
        scores = {f"top_{n}gram_frac": 0.0 for n in TOP_NGRAMS}
        scores.update({f"dup_{n}gram_frac": 0.0 for n in DUP_NGRAMS})
        n_words = len(words)
        if n_words < 2:
            return scores
        # offsets[i] = characters of words[:i]; an n-gram at i has offsets[i+n] - offsets[i].
        offsets = np.zeros(n_words + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=n_words), out=offsets[1:])
        total = float(offsets[-1])
        # A word's id is the position of its first occurrence: exact, and computed in C.
        word_ids = np.fromiter(map({}.setdefault, words, range(n_words)), dtype=np.int64, count=n_words)
        word_counts = np.bincount(word_ids, minlength=n_words)[word_ids]

        # pos: ascending start positions of the (n-1)-grams that occur more than once, and
        # ids: their exact ids (< n_words, so keys below stay under n_words**2).
        pos = np.flatnonzero(word_counts > 1)
        ids = word_ids[pos]
        for n in range(2, max(DUP_NGRAMS) + 1):
            # The n-gram at i repeats only if the (n-1)-grams at i and i+1 both repeat, and
            # then all its occurrences are among these candidates: counting them is exact.
            follows = pos[1:] == pos[:-1] + 1
            starts = pos[:-1][follows]
            if starts.size == 0:
                break  # nothing repeats at n, hence at no larger n either
            keys = ids[:-1][follows] * n_words + word_ids[starts + n - 1]
            gram_ids, counts = _group(keys)
            if n in TOP_NGRAMS:
                top = counts.max()
                if top > 1:
                    longest = (offsets[starts + n] - offsets[starts])[counts == top].max()
                    scores[f"top_{n}gram_frac"] = float(longest * top) / total
            repeated = counts > 1
            pos, ids = starts[repeated], gram_ids[repeated]
            if pos.size == 0:
                break
            if n in DUP_NGRAMS:
                # Equal-length spans sorted by start: span k adds the words from its start up
                # to its end or the next span's start, whichever is first - their union.
                ends = np.minimum(pos + n, np.append(pos[1:], n_words))
                scores[f"dup_{n}gram_frac"] = float((offsets[ends] - offsets[pos]).sum()) / total
        return scores
