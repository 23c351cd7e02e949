"""The WARC reader on real crawls and on broken input: everything counted, nothing crashes."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zlib
from pathlib import Path

import pytest
from conftest import write_warc
from warcio.warcwriter import WARCWriter

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
        # wget writes upper-case UUIDs, Common Crawl lower-case ones: ids are in one case
        assert d.metadata["warc_record_id"].startswith("<urn:uuid:") and d.id in d.metadata["warc_record_id"].lower()
        assert d.id == d.id.lower()
        assert d.metadata["content_type"] == "text/html"
        assert d.metadata["warc_date"].tzinfo is not None and d.metadata["warc_date"].year >= 2020
        assert d.metadata["file_path"] == str(warc_dir / "cc-sample-0000.warc.gz")
        assert d.metadata["dump"] is None  # a wget crawl belongs to no Common Crawl dump
    assert len({d.id for d in docs}) == len(docs)


def test_dump_from_warcinfo_or_path_the_same_in_every_split_range(warc_dir, tmp_path):
    """`dump` comes from the warcinfo record's isPartOf (what Common Crawl writes), else from a
    CC-MAIN-YYYY-WW in the path; a task reading a later byte range finds it too."""
    src = warc_dir / "articles-181.warc.gz"
    raw = src.read_bytes()
    members, pos = [], 0
    while pos < len(raw):  # the file's gzip members: the first is the warcinfo record
        d = zlib.decompressobj(31)
        d.decompress(raw[pos:])
        end = len(raw) - len(d.unused_data)
        members.append(raw[pos:end])
        pos = end
    info = io.BytesIO()
    WARCWriter(info, gzip=True).write_record(
        WARCWriter(io.BytesIO()).create_warcinfo_record(
            "CC-MAIN-20240220-00000.warc.gz", {"software": "test", "isPartOf": "CC-MAIN-2024-10"}
        )
    )
    with_info = tmp_path / "cc.warc.gz"
    with_info.write_bytes(info.getvalue() + b"".join(members[1:]))
    whole, _ = read_all(with_info)
    assert whole and {d.metadata["dump"] for d in whole} == {"CC-MAIN-2024-10"}
    reader = WarcReader(split_bytes=len(raw) // 3)
    ranges = reader.split(str(with_info), with_info.stat().st_size)
    assert len(ranges) == 3
    ctx = StageContext(task=0, source=str(with_info), work_dir=tmp_path, stats=StageStats("warc_reader"))
    parts = [list(reader.read_range(str(with_info), ctx, a, b)) for a, b in ranges]
    assert all(parts) and [d.id for p in parts for d in p] == [d.id for d in whole]
    assert {d.metadata["dump"] for p in parts[1:] for d in p} == {"CC-MAIN-2024-10"}
    by_path = tmp_path / "crawl-data" / "CC-MAIN-2023-50" / "segments" / "x.warc.gz"
    by_path.parent.mkdir(parents=True)
    by_path.write_bytes(raw)  # articles-181's own warcinfo names no dump
    docs, _ = read_all(by_path)
    assert {d.metadata["dump"] for d in docs} == {"CC-MAIN-2023-50"}
    assert {d.metadata["file_path"] for d in docs} == {str(by_path)}


def test_unreadable_warc_date_is_a_null_not_a_failed_task(tmp_path):
    from corpusforge.stages.readers.warc_reader import _timestamp

    assert _timestamp("2024-02-20T21:10:55Z") == dt.datetime(2024, 2, 20, 21, 10, 55, tzinfo=dt.UTC)
    assert _timestamp("2024-02-20T21:10:55.123456Z").microsecond == 123456  # WARC 1.1 allows fractions
    assert _timestamp("last tuesday") is None and _timestamp(None) is None


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
