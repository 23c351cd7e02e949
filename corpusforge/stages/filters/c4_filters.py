"""The C4 cleaning rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning").

Follows the reference implementation (`clean_page` in TensorFlow Datasets' `c4_utils.py`)
rule for rule and in its order, with each rule behind a key.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Literal

import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.stage import Filter
from corpusforge.stages.filters.word_lists import base_language, compile_word_list, read_word_list

log = logging.getLogger(__name__)

# C4 keeps lines ending in . ? ! or a double quote; we also accept a closing single quote
# (as datatrove does). A line ending in an ellipsis is a truncated teaser, not a sentence:
# C4 removes lines ending in "..." and we treat the one-character "…" the same way.
END_MARKS = (".", "?", "!", '"', "'")
ELLIPSES = ("...", "…")
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
# Wikipedia-style citation markers, removed before the line is judged (as in C4).
CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
# A sentence ends at a run of . ! ? (plus closing quotes or brackets) followed by blanks.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+")


def count_sentences(line: str) -> int:
    """Sentences in a line, by a regex instead of C4's NLTK punkt tokenizer.

    A sentence ends at `.`, `!` or `?` (repeated, possibly followed by closing quotes or
    brackets) followed by whitespace, unless the next word starts with a lowercase letter
    (so "e.g. the" or "etc. and" do not split). Pieces without a letter or digit are not
    sentences. Unlike punkt it knows no abbreviations: "Mr. Smith" counts two, so it is
    slightly more lenient than C4 near the `min_sentences` threshold.
    """
    pieces = _SENTENCE_END.split(line)
    count = 0
    for i, piece in enumerate(pieces):
        if not any(ch.isalnum() for ch in piece):
            continue
        if i > 0 and count > 0 and piece[0].islower():
            continue  # not a sentence start: the previous piece's end mark was an abbreviation
        count += 1
    return count


class C4Filter(Filter):
    """C4's line and document rules.

    Each line is stripped and its citation markers (`[1]`, `[edit]`, `[citation needed]`)
    removed (`remove_citations`); then, in C4's order, a line is removed if it has a word
    longer than `max_word_length` characters (null: no limit), if it does not end in
    terminal punctuation (`filter_terminal_punct`; see `END_MARKS`), if it has fewer than
    `min_words_per_line` words. A surviving line containing "lorem ipsum" drops the whole
    document (`lorem_ipsum`, `filter_lorem_ipsum`); a line mentioning "javascript" is removed
    (`filter_javascript`); a line with a curly bracket drops the document (`curly_bracket`,
    `filter_curly_bracket`); a policy line (cookies, privacy policy, terms of use) is removed
    (`filter_policy`). As in C4, the lorem-ipsum and curly-bracket rules look only at lines
    that passed the punctuation and length rules: a "{" in a short menu line does not condemn
    a page, and a line that mentions javascript is removed before its brackets count.

    A document left with no lines is dropped as `no_lines_left`; one with fewer than
    `min_sentences` sentences in its kept lines (see `count_sentences`) as
    `too_few_sentences`; then, as C4 applied its bad-words filter to the cleaned page, one
    whose kept lines contain an entry of its language's word list as `bad_words`.

    `bad_words` (off by default) names the lists: `{en: path/to/en, de: path/to/de}` (a
    document's `language`, written by the `language` stage, → the list it is checked with;
    `zh-Hant` falls back to `zh`), and `"*"` for the documents whose language has no list of
    its own (quote it in YAML: `"*": path`); a plain path is one list for every document. A
    document whose language has no list and no `"*"` list is not checked (nothing is
    counted). A document without a language (no `language` stage, or a null one) is checked
    with the `"*"` list, else with the only list when just one is given (the corpus is taken
    to be in that language), else not at all. Entries match on word boundaries, except for
    ja, th and zh (substrings), as in C4; see `word_lists` for the file format. C4 used the
    LDNOOBW English list; it costs the stage about 40 % of its speed on extracted pages
    (4,500 → 2,700 docs/s, one core), still ~1.4 % of trafilatura's time per page.

    A kept document's text becomes its kept lines joined by newlines (blank lines go). In
    annotate mode the text is left unchanged and the would-be result is recorded:
    `c4_lines_removed` (non-blank lines removed), `c4_lines_kept`, `c4_sentences`, and with
    `bad_words`, `c4_bad_words` (matches in the kept lines; null where the document is not
    checked).
    """

    name = "c4"
    scores: ClassVar[dict[str, pa.DataType]] = {
        "lines_removed": pa.int32(),
        "lines_kept": pa.int32(),
        "sentences": pa.int32(),
    }

    def __init__(
        self,
        filter_terminal_punct: bool = True,
        min_words_per_line: int = 3,
        max_word_length: int | None = 1000,
        remove_citations: bool = True,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
        min_sentences: int = 5,
        bad_words: str | dict[str, str] | None = None,
        mode: Literal["drop", "annotate"] = "drop",
    ) -> None:
        super().__init__(mode=mode)
        if min_words_per_line < 0 or min_sentences < 0:
            raise ValueError("min_words_per_line and min_sentences must be >= 0")
        if max_word_length is not None and max_word_length < 1:
            raise ValueError("max_word_length must be positive (or null for no limit)")
        self.filter_terminal_punct = filter_terminal_punct
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        self.remove_citations = remove_citations
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_javascript = filter_javascript
        self.filter_curly_bracket = filter_curly_bracket
        self.filter_policy = filter_policy
        self.min_sentences = min_sentences
        if bad_words is not None and not bad_words:
            raise ValueError("bad_words is empty: name a list file (or {language: file}), or leave the key out")
        self.bad_words = bad_words
        # language (or "*") -> (the key that names the file, in messages; the file)
        self._lists: dict[str, tuple[str, str]] = (
            {"*": ("bad_words", bad_words)}
            if isinstance(bad_words, str)
            else {lang: (f"bad_words.{lang}", path) for lang, path in (bad_words or {}).items()}
        )
        for key, path in self._lists.values():
            if not path:
                raise ValueError(f"{key}: expected the path of a list file, got {path!r}")
        self._patterns: dict[str, re.Pattern[str]] | None = None

    # Compiled in each process from the files (setup), never pickled.
    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_patterns": None}

    def check(self) -> None:
        for lang, (key, path) in self._lists.items():
            self._load(lang, key, path, warn=True)

    def depends_on(self) -> list[str]:
        return [path for _, path in self._lists.values()]

    def setup(self) -> None:
        if self._patterns is None:
            self._patterns = {lang: self._load(lang, key, path) for lang, (key, path) in self._lists.items()}

    @staticmethod
    def _load(lang: str, key: str, path: str, warn: bool = False) -> re.Pattern[str]:
        try:
            entries, malformed = read_word_list(path)
        except FileNotFoundError:
            raise ValueError(f"{key}: list file not found: {path}") from None
        except (OSError, UnicodeError) as exc:
            raise ValueError(f"{key}: cannot read the list file {path}: {exc}") from None
        if malformed and warn:
            log.warning("%s: %s: skipped %d line(s) made only of punctuation", key, path, malformed)
        try:
            return compile_word_list(entries, lang)
        except ValueError:
            raise ValueError(f"{key}: {path} has no entries (one word or phrase a line)") from None

    def columns(self) -> dict[str, pa.DataType]:
        cols = super().columns()
        if self.annotate and self._lists:
            cols[f"{self.name}_bad_words"] = pa.int32()
        return cols

    def bad_words_pattern(self, doc: Document) -> re.Pattern[str] | None:
        """The regex of the list this document is checked with, or None."""
        if not self._lists:
            return None
        if self._patterns is None:
            self.setup()
        assert self._patterns is not None
        language = doc.metadata.get("language")
        if isinstance(language, str) and language:
            found = self._patterns.get(language) or self._patterns.get(base_language(language))
            return found or self._patterns.get("*")
        if "*" in self._patterns or len(self._patterns) != 1:
            return self._patterns.get("*")
        return next(iter(self._patterns.values()))

    def filter(self, doc: Document) -> str | None:
        kept: list[str] = []
        removed = 0
        sentences = 0
        reason = None
        for line in doc.text.splitlines():
            line = line.strip()
            if not line:
                continue
            if (
                self.max_word_length is not None
                and len(line) > self.max_word_length
                and any(len(w) > self.max_word_length for w in line.split())
            ):
                removed += 1
                continue
            if self.remove_citations and "[" in line:
                line = CITATION.sub("", line)
            if self.filter_terminal_punct and (not line.endswith(END_MARKS) or line.endswith(ELLIPSES)):
                removed += 1
                continue
            words = line.split()
            if not words or len(words) < self.min_words_per_line:
                removed += 1
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                reason = "lorem_ipsum"
                break
            if self.filter_javascript and "javascript" in lower:
                removed += 1
                continue
            if self.filter_curly_bracket and "{" in line:
                reason = "curly_bracket"
                break
            if self.filter_policy and any(p in lower for p in POLICY_SUBSTRINGS):
                removed += 1
                continue
            sentences += count_sentences(line)
            kept.append(line)

        if reason is None:
            if not kept:
                reason = "no_lines_left"
            elif sentences < self.min_sentences:
                reason = "too_few_sentences"
        if self.annotate:
            # The counts cover the lines read before a document-level rule stopped the scan.
            self.record(doc, lines_removed=removed, lines_kept=len(kept), sentences=sentences)
            if self._lists:
                pattern = self.bad_words_pattern(doc)
                bad = None if pattern is None else len(pattern.findall("\n".join(kept).lower()))
                self.record(doc, bad_words=bad)
                if reason is None and bad:
                    reason = "bad_words"
        elif reason is None:
            text = "\n".join(kept)  # stripped lines, blank lines gone, as in C4
            pattern = self.bad_words_pattern(doc)
            if pattern is not None and pattern.search(text.lower()):
                return "bad_words"
            doc.text = text
        return reason
