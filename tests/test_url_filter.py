"""url_filter: UT1 categories, domain lists, URL words and allow-lists, on the real UT1 lists
in ../shared/data/blocklists and on small lists written here for the edge cases."""

from __future__ import annotations

import json
import logging
import pickle
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import SHARED, WARC_DIR

from corpusforge.document import Document
from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.errors import ConfigError
from corpusforge.stages import STAGES
from corpusforge.stages.filters.url_filter import UrlFilter
from corpusforge.stages.readers.warc_reader import WarcReader

UT1 = SHARED / "blocklists" / "ut1"
LDNOOBW = SHARED / "blocklists" / "ldnoobw"


@pytest.fixture(scope="module")
def ut1() -> Path:
    if not (UT1 / "gambling" / "domains").is_file():
        pytest.skip(f"real UT1 lists not found at {UT1} (clone with ../shared beside the repo)")
    return UT1


def lines(path: Path) -> list[str]:
    return [s for s in (line.strip() for line in path.read_text().splitlines()) if s and not s.startswith("#")]


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def stage(**keys) -> UrlFilter:
    s = UrlFilter(**keys)
    s.check()
    return s


def verdict(s: UrlFilter, url: str | None) -> str | None:
    return s.filter(Document("d", "text", url))


# --- the real UT1 lists -------------------------------------------------------------------


def test_real_ut1_domains_match_themselves_and_their_subdomains_only(ut1):
    s = stage(blocklists=[str(ut1 / "gambling"), str(ut1 / "dating")])
    gambling, dating = lines(ut1 / "gambling" / "domains"), lines(ut1 / "dating" / "domains")
    assert len(gambling) == 32_247 and len(dating) == 6_504  # the data README's counts
    assert s.malformed == {}
    listed, gambling_set = set(gambling) | set(dating), set(gambling)
    for domain in gambling[::97] + gambling[-3:]:
        for url in (f"http://{domain}", f"https://www.{domain}/page", f"https://a.b.{domain.upper()}:443/x?y"):
            assert verdict(s, url) == "domain:gambling", url
    for domain in dating[::31]:
        expected = "domain:gambling" if domain in gambling_set else "domain:dating"  # first list wins
        assert verdict(s, f"https://m.{domain}/") == expected
    for domain in gambling[::211]:
        for host in (f"not{domain}", f"{domain}.example.org"):
            labels = host.split(".")
            if not any(".".join(labels[i:]) in listed for i in range(len(labels))):
                assert verdict(s, f"http://{host}/") is None, host


def unmirrored(text: str) -> str:
    return re.sub(r"^(www|web|ftp)[0-9]*\.", "", text.lower()).split("#")[0]


def naive_url_match(entries: list[str], url: str) -> bool:  # entries: unmirrored, no trailing slash
    """The UT1 urls rule read literally: the URL without scheme, mirror prefix and fragment
    starts with an entry (without its trailing slash) followed by nothing, a `/` or a `?`."""
    key = unmirrored(url.split("://", 1)[1])
    return any(key.rstrip("/") == e or key.startswith(e + "/") or key.startswith(e + "?") for e in entries)


def test_real_ut1_urls_match_at_path_boundaries_like_the_literal_rule(ut1):
    s = stage(blocklists=[str(ut1 / "adult" / "urls")])  # one UT1 file: its folder names the category
    entries = lines(ut1 / "adult" / "urls")
    assert len(entries) == 1_090
    urls = []
    for entry in entries[::7]:
        bare = entry.rstrip("/")
        urls += [f"https://{entry}", f"http://www.{bare}/deeper/page.html", f"http://{bare}?q=1", f"http://{bare}x"]
        urls.append(f"http://other.{bare}")  # a subdomain of a urls entry's host is another site
    hits, plain = 0, [unmirrored(e).rstrip("/") for e in entries]
    for url in urls:
        expected = "url:adult" if naive_url_match(plain, url) else None
        assert verdict(s, url) == expected, url
        hits += expected is not None
    assert hits >= 3 * len(entries[::7])  # the first three forms of every entry match


def test_real_ut1_expression_matches_like_the_regexes_themselves(ut1):
    s = stage(blocklists=[str(ut1 / "adult" / "very_restrictive_expression")])
    regexes = [re.compile(line) for line in lines(ut1 / "adult" / "very_restrictive_expression")]
    urls = [
        "http://x.com/sex-toys/",
        "https://www.example.org/PORN/",
        "https://hardcore-stuff.net/",
        "http://essex.com/",
        "https://sussex.ac.uk/about",
        "https://example.com/sextant",
        "https://example.com/teen_fashion",
        "https://middlesex.gov/tax",
    ] + sample_urls()
    dropped = 0
    for url in urls:
        target = url.split("://", 1)[1].lower()
        expected = "expression:adult" if any(r.search(target) for r in regexes) else None
        assert verdict(s, url) == expected, url
        dropped += expected is not None
    assert verdict(s, "http://x.com/sex-toys/") == "expression:adult"
    assert verdict(s, "http://essex.com/") is None and verdict(s, "https://middlesex.gov/tax") is None
    assert 0 < dropped < len(urls)


def sample_urls() -> list[str]:
    """The page URLs of the two small real crawls (37 pages), or none without the data."""
    if not WARC_DIR.is_dir():
        return []
    reader = WarcReader()
    ctx = StageContext(task=0, source="t", work_dir=Path("."), stats=StageStats("warc_reader"))
    paths = sorted(WARC_DIR.glob("cc-sample-*.warc.gz"))
    return [d.url for p in paths for d in reader.read(str(p), ctx)]


def test_real_ldnoobw_words_drop_urls_by_whole_words():
    if not (LDNOOBW / "en").is_file():
        pytest.skip(f"LDNOOBW lists not found at {LDNOOBW}")
    s = stage(url_words=[str(LDNOOBW / "en")])
    assert verdict(s, "https://example.com/sex-toys/") == "word"
    assert verdict(s, "https://example.com/videos/2-Girls-1-Cup") == "word"  # a phrase, word by word
    assert verdict(s, "https://www.essex.com/") is None
    assert verdict(s, "https://en.wikipedia.org/wiki/Scunthorpe") is None
    assert s.malformed == {str(LDNOOBW / "en"): 1}  # the middle-finger emoji has no letter or digit


# --- small lists for the edge cases -------------------------------------------------------


def test_subdomains_match_but_not_lookalikes(tmp_path):
    s = stage(blocklists=[write(tmp_path / "bad.txt", "x.com\n10.0.0.1\n")])
    for url in ("http://x.com", "https://www.x.com:8080/", "http://user:pw@a.b.X.COM./p", "x.com/bare"):
        assert verdict(s, url) == "domain:bad", url
    for url in ("http://notx.com/", "http://x.com.evil.org/", "http://x.co/", "http://ax.com", "https://com/"):
        assert verdict(s, url) is None, url
    assert verdict(s, "http://10.0.0.1:80/admin") == "domain:bad"
    assert verdict(s, "http://110.0.0.1/") is None and verdict(s, "http://0.0.1/") is None


def test_idn_hosts_match_in_either_spelling(tmp_path):
    s = stage(blocklists=[write(tmp_path / "idn.txt", "bücher.de\nxn--caf-dma.fr\n")])
    for url in ("http://xn--bcher-kva.de/", "http://BÜCHER.de/x", "http://shop.bücher.de", "https://café.fr/menu"):
        assert verdict(s, url) == "domain:idn", url
    assert verdict(s, "http://bucher.de/") is None


def test_urls_entries_and_mirror_prefixes(tmp_path):
    folder = tmp_path / "shops"
    write(folder / "urls", "x.com/a\nwww.y.org/path/\n")
    s = stage(blocklists=[str(folder)])
    for url in (
        "http://x.com/a",
        "http://www.x.com/a/b",
        "https://www2.x.com/a?b=1",
        "http://y.org/path",
        "http://y.org/path/z",
    ):
        assert verdict(s, url) == "url:shops", url
    for url in ("http://x.com/ab", "http://x.com/", "http://sub.x.com/a", "http://y.org/pathology", "http://x.com/b/a"):
        assert verdict(s, url) is None, url


def test_expressions_joined_or_searched_alone_match_as_written(tmp_path):
    folder = tmp_path / "games"
    write(folder / "expressions", "casino\n(?i)POKER\n(\\d)\\1{3}\n/[[:digit:]]{6}$\nBINGO\n")
    s = stage(blocklists=[str(folder)])
    s.setup()
    assert len(s._lists.expressions) == 3  # the backreference and the global flag alone, the rest joined
    for url in (
        "http://x.com/casino",
        "http://x.com/Poker",
        "http://x.com/p1111",
        "http://x.com/123456",
        "http://x.com/bingo",
    ):
        assert verdict(s, url) == "expression:games", url
    for url in ("http://x.com/p1212", "http://x.com/12345", "http://x.com/1234567", "http://x.com/bing"):
        assert verdict(s, url) is None, url


def test_allow_list_beats_every_rule(tmp_path):
    folder = tmp_path / "hosting"
    write(folder / "domains", "blogspot.com\n")
    write(folder / "expressions", "casino\n")
    s = stage(
        blocklists=[str(folder)],
        url_words=[write(tmp_path / "words.txt", "sex\n")],
        allow=[write(tmp_path / "allow.txt", "good.blogspot.com\nwiki.org\n")],
    )
    for url in (
        "http://good.blogspot.com/sex",
        "http://www.good.blogspot.com/casino",
        "https://en.wiki.org/sex-casino",
    ):
        assert verdict(s, url) is None, url
    assert verdict(s, "http://bad.blogspot.com/") == "domain:hosting"
    assert verdict(s, "http://other.com/casino-royale") == "expression:hosting"
    assert verdict(s, "http://other.com/sex") == "word"


def test_url_words_are_whole_tokens_of_host_and_path(tmp_path):
    s = stage(url_words=[write(tmp_path / "w.txt", "# banned\n\nsex\n2 girls 1 cup\nCasino  # inline comment\n")])
    dropped = [
        "http://x.com/sex-toys/",
        "http://sex.example.com/",
        "http://x.com/2_girls-1.cup",
        "http://x.com/%73ex/",
        "http://x.com/CASINO",
    ]
    kept = [
        "http://essex.com/",
        "http://x.com/sexy",
        "http://x.com/2-girls",
        "http://x.com/search?q=sex",
        "http://x.com/#sex",
    ]
    assert [verdict(s, u) for u in dropped] == ["word"] * len(dropped)
    assert [verdict(s, u) for u in kept] == [None] * len(kept)


def test_malformed_lines_are_counted_and_warned_once_per_file(tmp_path, caplog):
    domains = write(tmp_path / "mixed.txt", "good.com\nbad domain.com\nhttp://x.com/\nex!ample.com\nok.org  # fine\n")
    folder = tmp_path / "cat"
    write(folder / "very_restrictive_expression", "([unclosed\nporn\n.*\n")
    with caplog.at_level(logging.WARNING):
        s = stage(blocklists=[domains, str(folder)])
    assert s.malformed == {domains: 3, str(folder / "very_restrictive_expression"): 2}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "mixed.txt: skipped 3 malformed line(s) (line 2, 3, 4; line 2 reads 'bad domain.com')" in warnings[0]
    assert "skipped 2 malformed line(s) (line 1, 3;" in warnings[1]
    assert verdict(s, "http://ok.org/") == "domain:mixed" and verdict(s, "http://good.com/") == "domain:mixed"
    assert verdict(s, "http://x.com/porn") == "expression:cat" and verdict(s, "http://x.com/") is None
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        worker = pickle.loads(pickle.dumps(s))
        worker.setup()  # a worker's copy reloads the lists quietly: the driver warned already
    assert not caplog.records and worker.malformed == s.malformed


def test_documents_without_a_usable_url_are_kept_and_not_counted(tmp_path):
    s = UrlFilter(blocklists=[write(tmp_path / "b.txt", "x.com\n")])
    ctx = StageContext(task=0, source="t", work_dir=tmp_path, stats=StageStats("url_filter"))
    docs = [
        Document(str(i), "t", url) for i, url in enumerate([None, "", "http://[::1", "http://", "not a url", "x.com"])
    ]
    kept = list(s.run(docs, ctx))
    assert [d.url for d in kept] == [None, "", "http://[::1", "http://", "not a url"]
    assert ctx.stats.dropped == {"url_filter:domain:b": 1}


def test_annotate_mode_keeps_everything_and_writes_the_reason(tmp_path):
    s = UrlFilter(blocklists=[write(tmp_path / "b.txt", "x.com\n")], mode="annotate")
    assert "url_filter_reason" in s.columns()
    ctx = StageContext(task=0, source="t", work_dir=tmp_path, stats=StageStats("url_filter"))
    kept = list(s.run([Document("a", "t", "http://www.x.com/"), Document("b", "t", "http://y.com/")], ctx))
    assert [d.metadata["url_filter_reason"] for d in kept] == ["domain:b", None]
    assert not ctx.stats.dropped


def test_the_stage_pickles_without_its_lists(ut1):
    s = stage(blocklists=[str(ut1 / "gambling")])
    blob = pickle.dumps(s)
    assert len(blob) < 2_000  # the 32k domains stay behind
    copy = pickle.loads(blob)
    assert copy._lists is None
    assert verdict(copy, "https://www.0-casino.info/") == "domain:gambling"  # loaded on first use


# --- config errors ------------------------------------------------------------------------


def pipeline(tmp_path: Path, inputs: list[str], **keys) -> dict:
    return {
        "input": inputs,
        "output": str(tmp_path / "out"),
        "stages": ["warc_reader", {"url_filter": keys}, "trafilatura", "parquet_writer"],
    }


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"blocklists": ["{tmp}/missing/nope.txt"]}, "blocklists[0]: {tmp}/missing/nope.txt is not a file or folder"),
        ({"blocklists": ["{tmp}/empty"]}, "blocklists[0]: the folder {tmp}/empty holds none of UT1's list files"),
        ({"url_words": ["{tmp}/empty"]}, "url_words[0]: {tmp}/empty is not a file"),
        ({"blocklists": ["{tmp}/ok.txt"], "allow": ["{tmp}/allow.txt"]}, "allow[0]: {tmp}/allow.txt is not a file"),
        ({}, "give blocklists or url_words"),
        ({"blocklists": [{"path": "{tmp}/ok.txt", "category": "a b"}]}, "blocklists[0].category must be a short name"),
        ({"blocklists": [{"file": "{tmp}/ok.txt"}]}, "blocklists[0]: unknown key(s) ['file']"),
        ({"blocklists": "{tmp}/ok.txt"}, "url_filter.blocklists: expected"),
    ],
)
def test_config_errors_name_the_key_and_the_file(tmp_path, keys, message):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "ok.txt", "x.com\n")
    keys = json.loads(json.dumps(keys).replace("{tmp}", str(tmp_path)))
    data = pipeline(tmp_path, [write(tmp_path / "in.warc.gz", "")], **keys)
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert str(err.value).startswith("stages[1].url_filter")
    assert message.replace("{tmp}", str(tmp_path)) in str(err.value)


# --- end to end ---------------------------------------------------------------------------


def test_pipeline_counts_each_reason_in_stats(warc_dir, ut1, tmp_path):
    inputs = sorted(warc_dir.glob("cc-sample-*.warc.gz"))
    if len(inputs) < 2:
        pytest.skip(f"the cc-sample crawls are not in {warc_dir}")
    urls = sample_urls()
    lists = tmp_path / "lists"
    write(lists / "news" / "urls", "commoncrawl.org/blog\n")
    data = pipeline(
        tmp_path,
        [str(p) for p in inputs],
        blocklists=[str(ut1 / "gambling"), write(lists / "hosting.txt", "github.io\n"), str(lists / "news")],
        url_words=[write(lists / "words.txt", "faq\n")],
        allow=[write(lists / "allow.txt", "talaugust.github.io\n")],
    )
    data["workers"] = 1  # inline; a worker's pickled copy is tested above (2 workers cost ~2 s more)
    stats = run_pipeline(load_config(data=data), quiet=True)
    by_name = {s.name: s for s in stats}
    assert STAGES["url_filter"] is UrlFilter and "url_filter" in by_name

    gambling = set(lines(ut1 / "gambling" / "domains"))
    expected: dict[str, int] = {}
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname
        labels = host.split(".")
        if host == "talaugust.github.io":
            continue
        if any(".".join(labels[i:]) in gambling for i in range(len(labels))):
            reason = "url_filter:domain:gambling"
        elif host.endswith(".github.io"):
            reason = "url_filter:domain:hosting"
        elif (host + parts.path).startswith("commoncrawl.org/blog/"):
            reason = "url_filter:url:news"
        elif "faq" in re.split(r"[\W_]+", host + " " + parts.path):
            reason = "url_filter:word"
        else:
            continue
        expected[reason] = expected.get(reason, 0) + 1
    assert {"url_filter:domain:hosting", "url_filter:url:news", "url_filter:word"} <= set(expected)
    url_stats = by_name["url_filter"]
    assert dict(url_stats.dropped) == expected
    assert url_stats.docs_in == len(urls) and url_stats.docs_out == len(urls) - sum(expected.values())
    assert by_name["trafilatura"].docs_in == url_stats.docs_out
    saved = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert next(s for s in saved["stages"] if s["name"] == "url_filter")["dropped"] == expected
