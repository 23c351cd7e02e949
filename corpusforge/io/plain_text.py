"""Plain-text documents: a text file is one document, and a .zip archive holds one per member.

The archives in ../shared/data/text (the NLTK corpora) name their texts `x.txt`, or, in the
Brown corpus, `ca01` with no extension and every word tagged with its part of speech
(`The/at jury/nn`). A member is a document when it ends in `.txt` or has no extension, unless
its name is all capitals (README, CONTENTS: the archive's own documentation); a tagged text
loses its tags, so it reads as the prose it is.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

_TAGGED_WORD = re.compile(r"(\S+)/[^\s/]+")


def untag(text: str) -> str:
    """`The/at jury/nn said/vbd` → `The jury said`, for a text whose words nearly all carry a
    tag (others are returned as they are: a URL or a date has slashes too)."""
    words = text.split()
    if not words or sum("/" in w for w in words) < 0.9 * len(words):
        return text
    return _TAGGED_WORD.sub(r"\1", text)


def is_text_member(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    return bool(base) and ext in ("", "txt") and not stem.isupper()


def zip_documents(path: str | Path) -> Iterator[tuple[str, str]]:
    """(`archive.zip/member`, text) of each text member, in name order."""
    p = Path(path)
    with zipfile.ZipFile(p) as z:
        for name in sorted(n for n in z.namelist() if not n.endswith("/") and is_text_member(n)):
            yield f"{p.name}/{name}", untag(z.read(name).decode("utf-8", "replace"))


def text_file_document(path: str | Path) -> tuple[str, str]:
    p = Path(path)
    return p.name, untag(p.read_text(encoding="utf-8", errors="replace"))
