"""The lists `url_filter` reads, and how a URL is looked up in them.

Every list is read once into sets and dicts, so that judging a URL costs a few lookups
whatever the lists' size: a host is looked up suffix by suffix (`a.b.x.com`, `b.x.com`,
`x.com`, `com`), a UT1 `urls` entry by the URL's prefixes at each `/` or `?`, URL words by
set intersection; a list's expressions are joined into one regex.

Hosts are compared normalised: lowercase, no userinfo, port or trailing dot, IDN labels in
punycode (Python's `idna` codec, IDNA 2003: list entries and URLs go through the same
mapping, so `bücher.de` and `xn--bcher-kva.de` are the same host either way).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

Kind = Literal["domain", "url", "expression", "word", "allow"]
# A UT1 category folder's files → what they hold (UT1 ships `very_restrictive_expression`;
# squidGuard configs name theirs `expressions`).
UT1_FILES: dict[str, Kind] = {
    "domains": "domain",
    "urls": "url",
    "expressions": "expression",
    "very_restrictive_expression": "expression",
}

_HOST = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")  # lenient: real lists hold `_` and odd hyphens
_MIRROR = re.compile(r"(?:www|web|ftp)[0-9]*\.")  # the prefixes squidGuard strips before a urls lookup
_NOT_ALNUM = re.compile(r"[\W_]+")
_INLINE_COMMENT = re.compile(r"\s+#.*$")
# What breaks when regexes are joined by `|`: numbered backreferences (the groups renumber), named
# groups (a name used twice), global flags (allowed only at the start). Such a line is searched alone.
_SEPARATE = re.compile(r"\\[1-9]|\(\?P|\(\?[aiLmsux]+\)")
# POSIX bracket classes (squidGuard's regex(7)) that Python's re would read as a nested set.
_POSIX = {
    "[:alnum:]": "a-z0-9",
    "[:alpha:]": "a-z",
    "[:digit:]": "0-9",
    "[:lower:]": "a-z",
    "[:upper:]": "a-z",  # URLs are matched lowercased
    "[:xdigit:]": "0-9a-f",
    "[:space:]": r"\s",
    "[:punct:]": r"!-/:-@\[-`{-~",
}
_EXAMPLES = 3  # line numbers quoted per file in the malformed-lines warning


def normalize_host(text: str) -> str | None:
    """A host as compared: lowercase ASCII (IDN labels in punycode), no trailing dot, no
    brackets around an IPv6 address; None for text that is not a host name or IP address."""
    host = text.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) <= 253 and _HOST.fullmatch(host):
        return host
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            return None
    return None


def _is_ip(host: str) -> bool:
    # No top-level domain ends in a digit, so only an address can; and only an address has a colon.
    if ":" in host:
        return True
    if not host[-1].isdigit():
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SplitUrl:
    """A URL's parts as the rules see them: `host` normalised, `path` and `query` lowercased."""

    host: str
    path: str
    query: str

    @property
    def rest(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


def split_url(url: str) -> SplitUrl | None:
    """The URL's host, path and query (fragment, scheme, userinfo and port dropped); a URL
    without a scheme (`example.com/page`) is read as one; None when there is no usable host."""
    text = url.strip().lower()
    if "://" not in text:
        text = "//" + text
    try:
        parts = urlsplit(text)
        raw_host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    host = normalize_host(raw_host) if raw_host else None
    return SplitUrl(host, parts.path, parts.query) if host else None


def suffix_in(table: dict[str, str] | set[str], host: str) -> str | None:
    """The longest suffix of `host` on label boundaries (the host itself first) that is in
    `table`: one lookup per label, never a scan. An IP address matches only itself."""
    if _is_ip(host):
        return host if host in table else None
    start = 0
    while True:
        if (suffix := host[start:]) in table:
            return suffix
        start = host.find(".", start) + 1
        if not start:
            return None


def _unmirrored(host: str) -> str:
    m = _MIRROR.match(host)
    return host[m.end() :] if m and "." in host[m.end() :] else host


@dataclass
class UrlLists:
    """Every list of a url_filter stage, loaded; `match` judges one URL."""

    domains: dict[str, str] = field(default_factory=dict)  # domain → category
    urls: dict[str, str] = field(default_factory=dict)  # "host/path" → category
    url_hosts: set[str] = field(default_factory=set)  # the hosts of `urls`, a quick reject
    expressions: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)  # (category, regex)
    words: set[str] = field(default_factory=set)
    phrases: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # first word → multi-word entries
    allow: set[str] = field(default_factory=set)
    malformed: dict[str, int] = field(default_factory=dict)  # file → lines skipped

    def match(self, url: SplitUrl) -> str | None:
        """The reason to drop the URL (`domain:<category>`, `url:<category>`,
        `expression:<category>`, `word`), or None; an allowed host is never dropped."""
        host = url.host
        if self.allow and suffix_in(self.allow, host):
            return None
        if self.domains and (hit := suffix_in(self.domains, host)):
            return f"domain:{self.domains[hit]}"
        if self.url_hosts and (category := self._url(host, url.rest)):
            return f"url:{category}"
        if self.expressions:
            text = host + url.rest
            for category, regex in self.expressions:
                if regex.search(text):
                    return f"expression:{category}"
        if (self.words or self.phrases) and self._has_word(url_tokens(url)):
            return "word"
        return None

    def _url(self, host: str, rest: str) -> str | None:
        host = _unmirrored(host)
        if host not in self.url_hosts:
            return None
        # The entry matches the URL's beginning up to a path boundary: each prefix ending
        # before a `/` or `?`, then the whole URL.
        for i, ch in enumerate(rest):
            if ch in "/?" and (category := self.urls.get(host + rest[:i])):
                return category
        return self.urls.get((host + rest).rstrip("/"))

    def _has_word(self, tokens: list[str]) -> bool:
        if not self.words.isdisjoint(tokens):
            return True
        for i, token in enumerate(tokens):
            for phrase in self.phrases.get(token, ()):
                if tuple(tokens[i : i + len(phrase)]) == phrase:
                    return True
        return False


def url_tokens(url: SplitUrl) -> list[str]:
    """The URL's host and path words: split on every non-alphanumeric character, the path
    percent-decoded and IDN labels back in Unicode (the query is not read)."""
    host = url.host
    if "xn--" in host:
        try:
            host = host.encode("ascii").decode("idna")
        except UnicodeError:
            pass
    return [t for t in _NOT_ALNUM.split(f"{host} {unquote(url.path)}") if t]


# --- reading the files ------------------------------------------------------------------


@dataclass(frozen=True)
class ListFile:
    """One file to read: what it holds, and the category its matches are counted under."""

    kind: Kind
    path: Path
    category: str = ""


def _lines(path: Path, inline_comments: bool) -> Iterator[tuple[int, str]]:
    """(line number, text) of the file's entries: blank lines and `#` lines skipped."""
    with path.open(encoding="utf-8", errors="replace", newline=None) as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if inline_comments and "#" in text:
                text = _INLINE_COMMENT.sub("", text)
            yield number, text


def _domain(text: str) -> str | None:
    host = text.lower().rstrip(".")
    if host.startswith("*."):  # the wildcard some lists write: subdomains match anyway
        host = host[2:]
    if len(host) <= 253 and _HOST.fullmatch(host):  # nearly every line: skip the slower checks
        return host
    if "/" in host or "\ufffd" in host or any(ch.isspace() for ch in host):
        return None
    return normalize_host(host)


def _url_entry(text: str) -> str | None:
    if "\ufffd" in text or any(ch.isspace() for ch in text):
        return None
    url = split_url(text)
    return (_unmirrored(url.host) + url.rest).rstrip("/") if url else None


def _expression(text: str) -> re.Pattern[str] | None:
    for posix, python in _POSIX.items():
        text = text.replace(posix, python)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "possible nested set": POSIX ERE habits
            # URLs are matched lowercased: only a pattern with capitals needs IGNORECASE,
            # which makes Python's re ~2.5x slower.
            regex = re.compile(text, 0 if text == text.lower() else re.IGNORECASE)
    except (re.error, RecursionError, OverflowError):
        return None
    # A regex that matches the empty string would drop every URL: surely a mistake.
    return None if regex.search("") else regex


def _word(text: str) -> tuple[str, ...] | None:
    tokens = tuple(t for t in _NOT_ALNUM.split(text.lower()) if t)
    return tokens if tokens and "\ufffd" not in text else None


def load_lists(files: Iterable[ListFile], warn: bool = True) -> UrlLists:
    """Read every file into one `UrlLists`. A malformed line (a domain with a space or an
    illegal character, a regex that does not compile, a word line with no letter or digit)
    is skipped and counted; with `warn`, one warning per file gives the count and the first
    line numbers. Raises OSError if a file cannot be read."""
    lists = UrlLists()
    for lf in files:
        bad: list[tuple[int, str]] = []
        joinable: list[re.Pattern[str]] = []
        for number, text in _lines(lf.path, inline_comments=lf.kind != "expression"):
            if lf.kind in ("domain", "allow"):
                if (domain := _domain(text)) is None:
                    bad.append((number, text))
                elif lf.kind == "allow":
                    lists.allow.add(domain)
                else:
                    lists.domains.setdefault(domain, lf.category)
            elif lf.kind == "url":
                if (entry := _url_entry(text)) is None:
                    bad.append((number, text))
                else:
                    lists.urls.setdefault(entry, lf.category)
                    lists.url_hosts.add(entry.split("/", 1)[0].split("?", 1)[0])
            elif lf.kind == "expression":
                if (regex := _expression(text)) is None:
                    bad.append((number, text))
                elif _SEPARATE.search(regex.pattern):
                    lists.expressions.append((lf.category, regex))
                else:
                    joinable.append(regex)
            elif (tokens := _word(text)) is None:
                bad.append((number, text))
            elif len(tokens) == 1:
                lists.words.add(tokens[0])
            else:
                lists.phrases.setdefault(tokens[0], []).append(tokens)
        if joinable:
            # One search per file instead of one per line; each line compiled alone above.
            joined = "|".join(f"(?:{r.pattern})" for r in joinable)
            lists.expressions.append((lf.category, re.compile(joined, max(r.flags & re.IGNORECASE for r in joinable))))
        if bad:
            lists.malformed[str(lf.path)] = len(bad)
            if warn:
                first = ", ".join(str(n) for n, _ in bad[:_EXAMPLES])
                log.warning(
                    "url_filter: %s: skipped %d malformed line(s) (line %s; line %d reads %r)",
                    lf.path,
                    len(bad),
                    first + (", ..." if len(bad) > _EXAMPLES else ""),
                    bad[0][0],
                    bad[0][1][:200],
                )
    return lists
