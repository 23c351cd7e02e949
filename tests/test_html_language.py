"""Language ID before extraction (`html_language`), on running text read without a parse."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SHARED, write_warc

from corpusforge.document import Document
from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.errors import ConfigError
from corpusforge.stages.filters.html_language import HtmlLanguageFilter
from corpusforge.stages.html import running_text
from corpusforge.stages.readers.warc_reader import WarcReader
from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor

UDHR = SHARED / "text" / "udhr2.zip"
READABILITY = SHARED / "warc" / "readability-130.warc.gz"


def ctx(tmp_path: Path) -> StageContext:
    return StageContext(0, "test", tmp_path, StageStats("test"))


def pages(path: Path, tmp_path: Path) -> list[Document]:
    if not path.is_file():
        pytest.skip(f"real WARC data not found at {path} (clone with ../shared beside the repo)")
    return list(WarcReader().read(str(path), ctx(tmp_path)))


def udhr(code: str) -> list[str]:
    if not UDHR.is_file():
        pytest.skip(f"real text data not found at {UDHR} (clone with ../shared beside the repo)")
    with zipfile.ZipFile(UDHR) as z:
        return [ln.strip() for ln in z.read(f"udhr2/{code}.txt").decode().splitlines() if ln.strip()]


def english_chrome(paragraphs: list[str]) -> str:
    """An article in a site's English menus, sign-in and footer: the hard case for a prefilter."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<html><head><title>Library</title><script>var menu = 'Home News About';</script>"
        "<style>.nav { color: red }</style></head><body><nav><a>Home</a> <a>News</a> <a>About us</a> "
        "<a>Contact</a> <a>Sign in</a> <a>Subscribe to our newsletter</a></nav>"
        f"<article>{body}</article><footer>Copyright 2024. All rights reserved. Privacy policy. "
        "Terms of use.</footer></body></html>"
    )


def test_running_text_is_the_prose_a_reader_sees() -> None:
    prose = "This sentence is long enough to count as prose on a page."
    page = (
        "<html><head><title>A short title</title><style>p {x}</style><script>alert('a script that is long')</script>"
        f"</head><body><nav><a>Home</a> <a>A link whose text is long enough to count</a></nav><p>{prose}\n\n"
        f"  {prose}</p><!-- a comment that is long enough to count --><noscript>{prose}</noscript>"
        f"<template><p>{prose}</p></template><div>short<script>x()</script></div><footer>{prose}</footer>"
        f"<div>{prose}<a href='#'>{prose}</a> and a tail that is long enough too</div></body></html>"
    )
    assert running_text(page, 1000) == f"{prose} {prose} {prose} and a tail that is long enough too"
    assert running_text(page, 20) == prose[:20]
    entities = "<p>Caf&eacute; &amp; bar, &lt;open&gt; every day of the week</p>"
    assert running_text(entities, 1000) == "Café & bar, <open> every day of the week"


def test_the_article_region_is_read_when_it_holds_the_prose() -> None:
    chrome = "An English headline about the news of the day, long enough to count"
    body = " ".join(udhr("deu")[:8])
    page = f"<body><h1>{chrome}</h1><p>{chrome}</p><main><article><p>{body}</p></article></main><p>{chrome}</p>"
    assert running_text(page, 10_000) == body  # the site's headline and teaser stay outside
    teaser = f"<body><p>{chrome}</p><article><p>{chrome[:40]}</p></article><p>{body}</p></body>"
    assert running_text(teaser, 10_000) == f"{chrome} {chrome[:40]} {body}"  # a stub: the whole page
    # an <article> never closed, or a custom <main-menu>, is no region
    assert running_text(f"<p>{chrome}</p><article><p>{body}</p>", 10_000) == f"{chrome} {body}"
    assert running_text(f"<main-menu><p>{body}</p></main-menu><p>{chrome}</p>", 10_000) == f"{body} {chrome}"


def test_odd_markup_neither_hides_prose_nor_slows_the_scan() -> None:
    prose = "This sentence is long enough to count as prose on a page."
    # a link never closed leaves out nothing; <abbr>, <article> and <aside> are not <a>
    assert running_text(f"<p><a name=top>{prose}</p><article>{prose}</article>", 1000) == f"{prose} {prose}"
    assert running_text(f"<a href=x>link <abbr>x</abbr> {prose}</a><p>{prose}</p>", 1000) == prose
    assert running_text(f"<aside>{prose}</aside><p>{prose}</p>", 1000) == prose
    # ten thousand unclosed links and comments: one forward scan, not one scan per tag
    junk = "<a href=x>" * 10_000 + "<!-- " + f"<p>{prose}</p>"
    assert running_text(junk, 1000) == ""  # the comment never ends: all of it is comment
    assert running_text("<a href=x>" * 10_000 + f"<p>{prose}</p>", 1000) == prose


def test_a_foreign_article_in_english_chrome_is_skipped_and_english_kept(tmp_path: Path) -> None:
    stage = HtmlLanguageFilter(languages=["en"])
    docs = [Document(code, english_chrome(udhr(code)[:12])) for code in ("deu", "fra", "rus", "jpn", "eng")]
    c = ctx(tmp_path)
    kept = [d.id for d in stage.run(docs, c)]
    assert kept == ["eng"]
    assert c.stats.dropped == {"html_language:not_wanted_language": 4}


def test_no_english_page_of_the_readability_set_is_skipped(tmp_path: Path) -> None:
    """The 130 real pages: every page the post-extraction `language` stage keeps as English at
    0.65 is also kept by the prefilter at its default, and the prefilter does skip some."""
    from corpusforge.stages.filters.language import LanguageFilter

    docs = pages(READABILITY, tmp_path)
    prefilter = HtmlLanguageFilter(languages=["en"])
    passed = {d.id for d in prefilter.run(list(docs), ctx(tmp_path))}
    extracted = list(TrafilaturaExtractor(favor_precision=True).run(pages(READABILITY, tmp_path), ctx(tmp_path)))
    english = {d.id for d in LanguageFilter(languages=["en"]).run(extracted, ctx(tmp_path))}
    assert english and english <= passed
    assert len(passed) < len(docs)  # some pages are surely not English


def test_pages_without_running_text_are_kept(tmp_path: Path) -> None:
    stage = HtmlLanguageFilter(languages=["en"])
    docs = [
        Document("text", "no markup at all, only words"),
        Document("empty", "<html><body> </body></html>"),
        Document("links", "<nav><a href=/>Startseite und alle Nachrichten des Tages</a></nav>"),
    ]
    c = ctx(tmp_path)
    assert [d.id for d in stage.run(docs, c)] == ["text", "empty", "links"]
    assert c.stats.dropped == {}


def test_in_a_pipeline_annotate_writes_the_score(tmp_path: Path) -> None:
    german, english = english_chrome(udhr("deu")[:12]), english_chrome(udhr("eng")[:12])
    warc = write_warc(
        tmp_path / "in.warc.gz", [("https://a.example/de", german.encode()), ("https://a.example/en", english.encode())]
    )
    for mode in ("drop", "annotate"):
        out = tmp_path / mode
        config = {
            "input": [str(warc)],
            "output": str(out),
            "stages": [
                "warc_reader",
                {"html_language": {"languages": ["en"], "mode": mode}},
                "trafilatura",
                "parquet_writer",
            ],
        }
        run_pipeline(load_config(data=config), quiet=True)
        table = pq.read_table(out / "data").to_pylist()
        stats = {s["name"]: s for s in json.loads((out / "stats.json").read_text())["stages"]}
        if mode == "drop":
            assert [r["url"] for r in table] == ["https://a.example/en"]
            assert stats["html_language"]["dropped"] == {"html_language:not_wanted_language": 1}
        else:
            scores = {r["url"]: r["html_language_score"] for r in table}
            assert scores["https://a.example/de"] < 0.01 < 0.5 < scores["https://a.example/en"]
            reasons = {r["url"]: r["html_language_reason"] for r in table}
            assert reasons == {"https://a.example/de": "not_wanted_language", "https://a.example/en": None}


@pytest.mark.parametrize("keys", [{}, {"languages": []}, {"languages": ["en"], "min_score": 2}])
def test_bad_keys_are_config_errors(tmp_path: Path, keys: dict) -> None:
    (tmp_path / "x.warc.gz").write_bytes(b"")
    config = {
        "input": [str(tmp_path / "x.warc.gz")],
        "output": str(tmp_path / "o"),
        "stages": ["warc_reader", {"html_language": keys}, "parquet_writer"],
    }
    with pytest.raises(ConfigError, match="html_language"):
        load_config(data=config)
