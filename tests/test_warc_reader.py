"""The WARC reader on real crawls and on broken input: everything counted, nothing crashes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from conftest import write_warc

from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.stages.readers.warc_reader import WarcReader, decode_html
from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor


def read_all(path: Path, reader: WarcReader | None = None):
    ctx = StageContext(task=0, source=str(path), work_dir=path.parent, stats=StageStats("warc_reader"))
    docs = list((reader or WarcReader()).read(str(path), ctx))
    return docs, ctx.stats.dropped


def test_real_crawl_keeps_html_responses_only(warc_dir):
    docs, dropped = read_all(warc_dir / "cc-sample-0000.warc.gz")
    assert len(docs) == 22  # the data README: 22 HTML responses
    assert dropped["warc_reader:not_response"] > 0  # warcinfo, request, metadata records
    for d in docs:
        assert d.text.lstrip()[:1] == "<" and d.url.startswith("http")
        assert d.metadata["warc_record_id"].startswith("<urn:uuid:") and d.id in d.metadata["warc_record_id"]
        assert d.metadata["content_type"] == "text/html" and d.metadata["warc_date"]
    assert len({d.id for d in docs}) == len(docs)


def test_truncated_file_keeps_what_came_before(warc_dir, tmp_path):
    raw = (warc_dir / "cc-sample-0001.warc.gz").read_bytes()
    full, _ = read_all(warc_dir / "cc-sample-0001.warc.gz")
    cut = tmp_path / "truncated.warc.gz"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    docs, dropped = read_all(cut)
    assert 0 < len(docs) < len(full)
    assert [d.id for d in docs] == [d.id for d in full[: len(docs)]]
    assert dropped["warc_reader:truncated_record"] + dropped["warc_reader:corrupt_file"] == 1


def test_garbage_bytes_in_the_middle_skip_to_the_next_gzip_member(warc_dir, tmp_path):
    raw = (warc_dir / "cc-sample-0001.warc.gz").read_bytes()
    full, _ = read_all(warc_dir / "cc-sample-0001.warc.gz")
    bad = tmp_path / "garbage.warc.gz"
    bad.write_bytes(raw[: len(raw) // 2] + b"\x00garbage\xff" * 500 + raw[len(raw) // 2 :])
    docs, dropped = read_all(bad)
    assert dropped["warc_reader:corrupt_gzip_member"] >= 1
    # only the damaged record is lost: those after it are read again
    assert len(full) - 1 <= len(docs) < len(full)
    assert full[-1].id == docs[-1].id
    assert {d.id for d in docs} <= {d.id for d in full}


def test_not_a_warc_at_all(tmp_path):
    bad = tmp_path / "notes.warc.gz"
    bad.write_bytes(gzip.compress(b"this is not a WARC file\n" * 100))
    docs, dropped = read_all(bad)
    assert docs == [] and dict(dropped) == {"warc_reader:not_a_warc_file": 1}  # one bad file, not 100 records


def test_non_html_empty_and_error_records_are_counted(tmp_path, article_pages):
    url, ctype, html = article_pages[0]
    path = tmp_path / "mixed.warc"
    write_warc(path, [(url, html, ctype)], gzip=False)  # plain (uncompressed) WARC works too
    write_warc(tmp_path / "pdf.warc.gz", [("http://x.org/a.pdf", b"%PDF-1.4 ...")], content_type="application/pdf")
    write_warc(tmp_path / "empty.warc.gz", [("http://x.org/empty", b"   ")])
    write_warc(tmp_path / "404.warc.gz", [("http://x.org/404", html)], status="404 Not Found")
    write_warc(tmp_path / "meta.warc.gz", [], extra=[("metadata", "http://x.org/", b"fetchTimeMs: 12")])
    assert len(read_all(path)[0]) == 1
    assert read_all(tmp_path / "pdf.warc.gz")[1] == {"warc_reader:content_type": 1}
    assert read_all(tmp_path / "empty.warc.gz")[1] == {"warc_reader:empty": 1}
    assert read_all(tmp_path / "404.warc.gz")[1] == {"warc_reader:http_status_4xx": 1}
    assert read_all(tmp_path / "meta.warc.gz")[1] == {"warc_reader:not_response": 1}


def test_huge_page_is_skipped_by_the_extractor(tmp_path, article_pages):
    url, ctype, html = article_pages[0]
    huge = html + b"<p>" + b"filler text " * (20 * 1024 * 1024 // 12) + b"</p>"
    path = write_warc(tmp_path / "huge.warc.gz", [(url + "?huge", huge, ctype), (url, html, ctype)])
    docs, _ = read_all(path)
    assert docs[0].metadata["content_length"] > 20_000_000
    ctx = StageContext(0, str(path), tmp_path, StageStats("trafilatura"))
    out = list(TrafilaturaExtractor().run(docs, ctx))
    assert [d.url for d in out] == [url]
    assert ctx.stats.dropped == {"trafilatura:html_too_large": 1}


@pytest.mark.parametrize(
    "payload, content_type, expected_text, expected_codec",
    [
        ("<p>Grüße</p>".encode("latin-1"), "text/html; charset=ISO-8859-1", "Grüße", "cp1252"),
        ('<meta charset="windows-1251"><p>Привет</p>'.encode("cp1251"), "text/html", "Привет", "cp1251"),
        ("<p>日本語のテキスト</p>".encode(), "text/html", "日本語", "utf-8"),
        # a header that lies: the bytes are UTF-8, the label says ASCII
        ("<p>naïve café</p>".encode(), "text/html; charset=us-ascii", "naïve café", "utf-8"),
        (
            "<p>Ελληνικά κείμενα είναι εδώ και εκεί, πολλά κείμενα</p>".encode("iso-8859-7"),
            "text/html",
            "Ελληνικά",
            None,
        ),
        # UTF-8 with two stray bytes: kept as UTF-8 (replacement characters), not re-guessed as
        # a single-byte codec that would garble every other accented letter
        (
            "<p>Grüße aus Köln, schöne Grüße</p>".encode() * 40 + b"\xff\xfe",
            "text/html; charset=utf-8",
            "Grüße aus Köln",
            "utf-8",
        ),
    ],
)
def test_charset_header_then_meta_then_detection(payload, content_type, expected_text, expected_codec):
    text, codec, _ = decode_html(payload, content_type)
    assert expected_text in text
    if expected_codec:
        assert codec == expected_codec
