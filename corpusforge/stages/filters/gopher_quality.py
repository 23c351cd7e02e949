"""Gopher's quality rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1).

A document is dropped, with its own reason, when

- it has fewer than `min_words` (`too_few_words`) or more than `max_words` words
  (`too_many_words`); a document with no words at all is always `too_few_words`;
- its mean word length is below `min_mean_word_length` or above `max_mean_word_length`
  (`mean_word_length`);
- the number of `#`, or the number of ellipses (`...` or `…`, non-overlapping), divided by the
  number of words is above `max_symbol_word_ratio` (`symbol_word_ratio`);
- more than `max_bullet_lines_ratio` of its non-blank lines start with a bullet
  (`bullet_lines`), or more than `max_ellipsis_lines_ratio` end with an ellipsis
  (`ellipsis_lines`);
- fewer than `min_alpha_words_ratio` of its words contain an alphabetic character
  (`alpha_words`);
- fewer than `min_stop_words` of its words are stop words (`stop_words`).

Every threshold is inclusive, as in the paper ("remove documents with more than 90 % ..."):
a document whose score equals a threshold is kept.

What is counted:

- A *token* is a run of non-whitespace (`str.split()`). A *word* is a token with at least one
  character that is not punctuation (Unicode category P*, plus ASCII `string.punctuation`,
  which adds `$+<=>^`|~`, plus the bullet characters). Tokens made only of punctuation
  ("-", "...", "—", "•") are not words, as in Gopher and datatrove; every rule that counts
  words uses this one definition.
- A word's *length* is its number of non-punctuation characters ("world." is 5, "don't" 4),
  which approximates the tokenizer-split words of Gopher/datatrove without a tokenizer.
- *Alphabetic* means `str.isalpha` (Unicode letters): "1945" and "€20" are words without one.
- Stop words are {the, be, to, of, and, that, have, with} by default, matched on lowercased
  words with punctuation removed ("The", "the," count); occurrences are counted, as datatrove
  does, so "the the" is two - the paper's "at least two of the following words" can also be
  read as two distinct ones, which this does not do.
- Lines are split on "\\n" and stripped; blank lines are ignored (so a list whose items are
  separated by blank lines is still all bullets). The bullets are in `BULLETS`.

The per-document cost is a few whole-text passes in C (`str.translate`, `str.split`,
`str.count`, `map` over the word list) and no Python bytecode per word or character, so the
filter is cheap next to HTML extraction. In annotate mode every score is computed and
recorded even after a rule fails, so thresholds can be tuned from the output.
"""

from __future__ import annotations

import string
import unicodedata
from itertools import filterfalse
from typing import ClassVar, Literal

import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.stage import Filter

STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]

# Line-initial characters that mark a list item. Gopher names none; datatrove uses "•" and "-".
# Numbered items ("1.") are not bullets: numbered prose (laws, recipes) is often good text.
BULLETS = (
    "•",
    "‣",
    "●",
    "◦",
    "○",
    "∙",
    "⁃",
    "▪",
    "▫",
    "■",
    "□",
    "◆",
    "◇",
    "►",
    "▸",
    "▶",
    "➢",
    "➤",
    "→",
    "✓",
    "✔",
    "-",
    "–",
    "—",
    "*",
)
ELLIPSES = ("...", "…")

# All punctuation code points lie in the first two planes; scanning those (~30 ms, once per
# process) instead of all of Unicode keeps import cheap.
_PLANES = range(0x20000)
# str.translate tables (code point -> None deletes it): a C loop over the text, much faster
# than a regex character class of 800 code points or a per-word Python check.
# Bullets are deleted too: "•", "●" or "■" standing alone is no more a word than "-" is.
_DELETE_PUNCTUATION = dict.fromkeys(
    [c for c in _PLANES if unicodedata.category(chr(c))[0] == "P"]
    + [ord(c) for c in string.punctuation + "".join(BULLETS)]
)
# Everything that is neither a letter nor whitespace: after deleting it, a token survives
# `split()` exactly when it contained a letter. Code points above the second plane are CJK
# ideographs (letters) and tags, so leaving them out of the table is harmless.
_DELETE_NON_LETTERS = dict.fromkeys(c for c in _PLANES if not chr(c).isalpha() and not chr(c).isspace())


class GopherQualityFilter(Filter):
    """Drop documents that fail one of Gopher's quality rules; see the module docstring."""

    name = "gopher_quality"
    scores: ClassVar[dict[str, pa.DataType]] = {
        "word_count": pa.int64(),
        "mean_word_length": pa.float64(),
        "hash_ratio": pa.float64(),
        "ellipsis_ratio": pa.float64(),
        "bullet_lines_ratio": pa.float64(),
        "ellipsis_lines_ratio": pa.float64(),
        "alpha_words_ratio": pa.float64(),
        "stop_words": pa.int64(),
    }

    def __init__(
        self,
        min_words: int = 50,
        max_words: int = 100_000,
        min_mean_word_length: float = 3.0,
        max_mean_word_length: float = 10.0,
        max_symbol_word_ratio: float = 0.1,
        max_bullet_lines_ratio: float = 0.9,
        max_ellipsis_lines_ratio: float = 0.3,
        min_alpha_words_ratio: float = 0.8,
        min_stop_words: int = 2,
        stop_words: list[str] = STOP_WORDS,
        mode: Literal["drop", "annotate"] = "drop",
    ) -> None:
        super().__init__(mode=mode)
        if min_words > max_words:
            raise ValueError(f"min_words ({min_words}) is above max_words ({max_words})")
        if min_mean_word_length > max_mean_word_length:
            raise ValueError(
                f"min_mean_word_length ({min_mean_word_length}) is above max_mean_word_length ({max_mean_word_length})"
            )
        self.min_words = min_words
        self.max_words = max_words
        self.min_mean_word_length = min_mean_word_length
        self.max_mean_word_length = max_mean_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(w.lower() for w in stop_words)

    def filter(self, doc: Document) -> str | None:
        text = doc.text
        # Deleting punctuation empties punctuation-only tokens, so split() drops them: what
        # is left are exactly the words, each at its punctuation-free length. Lowercasing
        # first serves the stop words; it changes no length except for "İ" (one code point
        # that lowercases to two), which is not worth a second pass.
        words = text.lower().translate(_DELETE_PUNCTUATION).split()
        n_words = len(words)
        if n_words == 0:
            self.record(doc, word_count=0)
            return "too_few_words"

        mean_word_length = len("".join(words)) / n_words
        hash_ratio = text.count("#") / n_words
        ellipsis_ratio = (text.count("...") + text.count("…")) / n_words

        lines = [line for line in (raw.strip() for raw in text.split("\n")) if line]
        n_lines = len(lines)  # >= 1, since there is a word
        bullet_lines_ratio = sum(line.startswith(BULLETS) for line in lines) / n_lines
        ellipsis_lines_ratio = sum(line.endswith(ELLIPSES) for line in lines) / n_lines

        # Punctuation is gone, so nearly every word is all letters and passes str.isalpha (a C
        # call per word); only the rest (numbers, symbols, letters with combining marks) need
        # the letter test: delete their non-letters and count the tokens that survive.
        others = list(filterfalse(str.isalpha, words))
        with_letter = len(" ".join(others).translate(_DELETE_NON_LETTERS).split()) if others else 0
        alpha_words_ratio = (n_words - len(others) + with_letter) / n_words
        stop_words = sum(map(self.stop_words.__contains__, words))

        self.record(
            doc,
            word_count=n_words,
            mean_word_length=mean_word_length,
            hash_ratio=hash_ratio,
            ellipsis_ratio=ellipsis_ratio,
            bullet_lines_ratio=bullet_lines_ratio,
            ellipsis_lines_ratio=ellipsis_lines_ratio,
            alpha_words_ratio=alpha_words_ratio,
            stop_words=stop_words,
        )

        # The rules in the paper's order; the first one that fails names the drop.
        if n_words < self.min_words:
            return "too_few_words"
        if n_words > self.max_words:
            return "too_many_words"
        if not self.min_mean_word_length <= mean_word_length <= self.max_mean_word_length:
            return "mean_word_length"
        if hash_ratio > self.max_symbol_word_ratio or ellipsis_ratio > self.max_symbol_word_ratio:
            return "symbol_word_ratio"
        if bullet_lines_ratio > self.max_bullet_lines_ratio:
            return "bullet_lines"
        if ellipsis_lines_ratio > self.max_ellipsis_lines_ratio:
            return "ellipsis_lines"
        if alpha_words_ratio < self.min_alpha_words_ratio:
            return "alpha_words"
        if stop_words < self.min_stop_words:
            return "stop_words"
        return None
