"""URL blocklists: drop pages by their URL before extraction, MassiveText's content filtering
made reproducible with lists the user names (UT1 categories, domain lists, URL words)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from corpusforge.document import Document
from corpusforge.engine.stage import Filter
from corpusforge.schema import validate
from corpusforge.stages.filters.url_lists import UT1_FILES, ListFile, UrlLists, load_lists, split_url

_CATEGORY = re.compile(r"[A-Za-z0-9_.-]+")
_CATEGORY_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")  # replaced by _ in a category taken from a file name


@dataclass
class BlocklistEntry:
    """`{path: ..., category: ...}`: a blocklist counted under a name of the user's choosing."""

    path: str
    category: str | None = None


class UrlFilter(Filter):
    """Drop a document whose URL is on a blocklist. It reads only `doc.url`, so it goes right
    after the reader, before extraction spends anything on the page.

    Keys (files you name, never downloaded; paths relative to where you run):
    - `blocklists`: UT1 category folders (`adult/`, holding any of `domains`, `urls`,
      `expressions` or `very_restrictive_expression`; the category is the folder's name),
      one such UT1 file (its category: its folder's name), or plain domain lists (one domain
      a line; the category: the file's stem). `{path: ..., category: ...}` names the category.
    - `url_words`: word lists (RefinedWeb's URL words; LDNOOBW's lists fit): one word or
      phrase a line.
    - `allow`: domain lists whose domains (and their subdomains) are never dropped.

    Rules, in this order, the first that matches giving the reason:
    - `domain:<category>`: the host or a parent domain is listed (`a.b.x.com` and
      `www.x.com` match `x.com`; `notx.com` does not); an IP address matches only itself;
    - `url:<category>`: the URL without its scheme and a leading `www.`, `web.` or `ftp.`
      (with digits: `www2.`; squidGuard's rule) starts with a `urls` entry up to a path
      boundary (`x.com/a` matches `x.com/a`, `x.com/a/b`, `x.com/a?b`, not `x.com/ab`);
    - `expression:<category>`: a regex of the category (Python `re`, case-insensitive; the
      POSIX classes of UT1's ERE such as `[[:alpha:]]` translated) is found in the URL
      without its scheme, userinfo and port (`host/path?query`);
    - `word`: a listed word is one of the URL's words (host and percent-decoded path,
      lowercased, split on every non-alphanumeric character: `sex` drops `/sex-toys/` but
      not `essex.com`); a phrase matches as consecutive words.

    `#` lines and blank lines are skipped (and `  # comments` after a domain, URL or word). A
    malformed line (a domain with a space or an illegal character, a regex that does not
    compile or matches the empty string, a word line without a letter or digit) is counted and
    skipped; one warning per file, logged once per run when the config is read, gives the
    count and the first line numbers (the counts per file: `malformed`).

    A document without a URL, or with one that has no usable host, is kept and counted under
    no reason: the lists cannot judge it.

    `check()` (in the driver) reads every list once to find unreadable files and log the
    warnings, then lets the lists go; `setup()` loads them once per worker; they are never
    pickled with the stage. Cost: one dict lookup per label
    of the host, and one regex search per expression file; 40k domains load in well under a
    second (figures in bench/README.md).
    """

    name = "url_filter"

    def __init__(
        self,
        blocklists: list[str | dict[str, Any]] = [],  # noqa: B006 - YAML defaults; copied, never mutated
        url_words: list[str] = [],  # noqa: B006
        allow: list[str] = [],  # noqa: B006
        mode: Literal["drop", "annotate"] = "drop",
    ) -> None:
        super().__init__(mode=mode)
        self.blocklists: list[tuple[str, str | None]] = []
        for i, entry in enumerate(blocklists):
            if isinstance(entry, dict):
                keys = validate(BlocklistEntry, entry, f"blocklists[{i}]")
                if keys["category"] is not None and not _CATEGORY.fullmatch(keys["category"]):
                    raise ValueError(
                        f"blocklists[{i}].category must be a short name (letters, digits, _ . -), "
                        f"got {keys['category']!r}"
                    )
                self.blocklists.append((keys["path"], keys["category"]))
            else:
                self.blocklists.append((entry, None))
        if not self.blocklists and not url_words:
            raise ValueError("give blocklists or url_words: with neither, url_filter would keep every page")
        self.url_words = list(url_words)
        self.allow = list(allow)
        self._lists: UrlLists | None = None
        self._malformed: dict[str, int] = {}
        self._warned = False  # check() logged the malformed lines already: workers stay quiet

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_lists": None}

    # --- the lists ----------------------------------------------------------------------

    def list_files(self) -> list[ListFile]:
        """Every file to read, with its kind and category; raises ValueError naming the key
        and the path of a list that is not there."""
        files: list[ListFile] = []
        for i, (raw, category) in enumerate(self.blocklists):
            path = Path(os.path.expanduser(raw))
            if path.is_dir():
                found = [ListFile(kind, path / n, category or path.resolve().name) for n, kind in UT1_FILES.items()]
                found = [f for f in found if f.path.is_file()]
                if not found:
                    raise ValueError(
                        f"blocklists[{i}]: the folder {raw} holds none of UT1's list files ({', '.join(UT1_FILES)})"
                    )
                files += found
            elif path.is_file():
                if path.name in UT1_FILES:
                    files.append(ListFile(UT1_FILES[path.name], path, category or path.resolve().parent.name))
                else:
                    files.append(ListFile("domain", path, category or _CATEGORY_CHARS.sub("_", path.stem)))
            else:
                raise ValueError(f"blocklists[{i}]: {raw} is not a file or folder")
        for key, kind, paths in (("url_words", "word", self.url_words), ("allow", "allow", self.allow)):
            for i, raw in enumerate(paths):
                path = Path(os.path.expanduser(raw))
                if not path.is_file():
                    raise ValueError(f"{key}[{i}]: {raw} is not a file")
                files.append(ListFile(kind, path))
        return files

    def _load(self, warn: bool) -> UrlLists:
        files = self.list_files()
        try:
            return load_lists(files, warn=warn)
        except OSError as exc:
            raise ValueError(f"cannot read {exc.filename or 'a list file'}: {exc.strerror or exc}") from None

    def check(self) -> None:
        # Read every line now, so that an unreadable list fails before any work and the
        # malformed lines are reported once per run; the driver keeps only the counts.
        self._malformed = self._load(warn=True).malformed
        self._warned = True

    def depends_on(self) -> list[str]:
        return [str(f.path) for f in self.list_files()]

    def setup(self) -> None:
        if self._lists is None:
            self._lists = self._load(warn=not self._warned)
            self._malformed = self._lists.malformed

    @property
    def malformed(self) -> dict[str, int]:
        """Malformed lines skipped, per file (known after `check()` or `setup()`)."""
        return dict(self._malformed)

    # --- deciding -----------------------------------------------------------------------

    def filter(self, doc: Document) -> str | None:
        if not doc.url:
            return None
        url = split_url(doc.url)
        if url is None:
            return None
        if self._lists is None:
            self.setup()
        return self._lists.match(url)
