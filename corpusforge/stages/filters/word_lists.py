"""Word lists (C4's bad words): read a list file, compile it to one regex.

A list is a text file with one entry a line: a word or a phrase, matched case-insensitively
(entries and text are lowercased). Blank lines and lines starting with `#` are skipped; an
entry made only of punctuation (`-`, `...`) would match nearly every page between two
blanks, so it is counted as malformed and skipped. The runs of blanks inside a phrase match
any run of whitespace in the text (a double space or a line break does not hide it).

C4 (TensorFlow Datasets' `c4_utils.get_badwords_filter_fn`) matches an entry only where it
is flanked by non-word characters or the ends of the text, `(?:\\W|^)(...)(?:\\W|$)`, except
for languages written without spaces (ja, th, zh), where any occurrence counts. Here the
flanks are look-arounds, `(?<!\\w)` and `(?!\\w)`, which accept exactly the same texts and
also let adjacent matches be counted. The alternation is factored into a trie (entries that
share a prefix share one branch): it matches what the flat alternation sorted longest first
matches (at each position the longest entry that fits), but Python's `re` has far fewer
branches to try at each position: with the 403-entry English list, 35-110 MB/s of lowercased
text instead of 6-10 MB/s (NLTK corpora), and the `c4` stage on extracted pages runs at
2,700 docs/s instead of 1,000 (4,500 without a list).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from corpusforge.io.paths import is_file, open_text

# Languages written without spaces between words: word boundaries mean nothing there.
NO_SPACE_LANGUAGES = frozenset({"ja", "th", "zh"})
# Entries of the LDNOOBW lists that mC4 allowed because, matched as substrings, each drops
# more than 10 % of its language's pages ("sm" is inside "small", 性 inside most Chinese text).
SUBSTRING_ALLOWLIST = {"ja": frozenset({"sm", "グロ", "女の子"}), "zh": frozenset({"性"})}
_END = ""  # the trie key that marks the end of an entry
_BLANKS = r"\s+"


def base_language(label: str) -> str:
    """`zh` for `zh-Hant` or `zh_Hant` (C4 drops the suffix of a language label)."""
    return re.split(r"[-_]", label, maxsplit=1)[0]


def read_word_list(path: str) -> tuple[list[str], int]:
    """(entries lowercased, blanks collapsed, duplicates dropped, in file order; the number of
    malformed lines skipped). Raises OSError or UnicodeDecodeError for an unreadable file."""
    if not is_file(path):
        raise FileNotFoundError(f"file not found: {path}")
    entries: dict[str, None] = {}
    malformed = 0
    with open_text(path, encoding="utf-8-sig") as lines:
        for line in lines:
            entry = " ".join(line.lower().split())
            if not entry or entry.startswith("#"):
                continue
            if all(ch == " " or unicodedata.category(ch).startswith("P") for ch in entry):
                malformed += 1
                continue
            entries[entry] = None
    return list(entries), malformed


def compile_word_list(entries: list[str], language: str | None = None) -> re.Pattern[str]:
    """One regex that finds any entry in lowercased text: on word boundaries, or anywhere for
    a language written without spaces (whose `SUBSTRING_ALLOWLIST` entries are left out)."""
    base = base_language(language) if language else ""
    substring = base in NO_SPACE_LANGUAGES
    allowed = SUBSTRING_ALLOWLIST.get(base, frozenset()) if substring else frozenset()
    kept = [e for e in entries if e not in allowed]
    if not kept:
        raise ValueError("the list has no entries")
    trie: dict[str, Any] = {}
    for entry in kept:
        node = trie
        for piece in re.split(r"( )", entry):
            for token in [_BLANKS] if piece == " " else map(re.escape, piece):
                node = node.setdefault(token, {})
        node[_END] = {}
    body = _pattern(trie)
    return re.compile(body if substring else rf"(?<!\w)(?:{body})(?!\w)")


def _pattern(node: dict[str, Any]) -> str:
    """The regex of a trie node: its branches (distinct first tokens, so at most one applies),
    optional where an entry ends here; `?` is greedy, so the longer entry is tried first."""
    branches = []
    for token, child in sorted((t, c) for t, c in node.items() if t != _END):
        text = token
        while len(child) == 1 and _END not in child:  # a chain without branches: no recursion
            ((step, child),) = child.items()
            text += step
        branches.append(text + _pattern(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if _END in node else body
