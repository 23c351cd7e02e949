"""Bad input is counted, never fatal, never silently lost: every case of the reliability issue
on real text (the State of the Union addresses, the UDHR, the sample crawls) made bad by hand."""

from __future__ import annotations

import gzip
import json
import logging
import zipfile
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARED, sample_warcs, write_warc
from tokenizer_data import speeches

from corpusforge.cli import main
from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.errors import ConfigError
from corpusforge.stages.readers.jsonl_reader import JsonlReader
from corpusforge.stages.readers.warc_reader import WarcReader

UDHR = SHARED / "text" / "udhr2.zip"


def read(reader, path: Path) -> tuple[list, dict[str, int]]:
    ctx = StageContext(task=0, source=str(path), work_dir=path.parent, stats=StageStats(reader.name))
    docs = list(reader.read(str(path), ctx))
    return docs, dict(ctx.stats.dropped)


def lines_of_speech(n: int) -> list[str]:
    """n JSON lines of real text (paragraphs of the State of the Union addresses)."""
    paragraphs = [p for s in speeches() for p in s.split("\n\n") if len(p.split()) > 20]
    assert len(paragraphs) >= n
    return [
        json.dumps({"id": f"p{i}", "text": p, "url": f"https://example.org/{i}"}) for i, p in enumerate(paragraphs[:n])
    ]


def pipeline(inputs: list[Path], out: Path, reader: str | dict = "jsonl_reader") -> dict[str, dict]:
    run_pipeline(
        load_config(
            data={
                "input": [str(p) for p in inputs],
                "output": str(out),
                "workers": 1,
                "stages": [reader, "parquet_writer"],
            }
        ),
        quiet=True,
    )
    return {s["name"]: s for s in json.loads((out / "stats.json").read_text())["stages"]}


# --- JSONL ------------------------------------------------------------------------------------


def test_one_invalid_byte_loses_one_line(tmp_path: Path) -> None:
    lines = [line.encode() for line in lines_of_speech(40)]
    lines[17] = lines[17].replace(b" the ", b" th\xe9 ", 1)  # one latin-1 byte in a UTF-8 file
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    docs, dropped = read(JsonlReader(), path)
    assert dropped == {"jsonl_reader:bad_encoding": 1}
    assert [d.id for d in docs] == [f"p{i}" for i in range(40) if i != 17]


def test_truncated_gzip_keeps_every_complete_line(tmp_path: Path) -> None:
    lines = lines_of_speech(300)
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    complete = zlib.decompressobj(31).decompress(data[: len(data) * 2 // 3]).count(b"\n")  # what the bytes hold
    docs, dropped = read(JsonlReader(), path)
    assert complete > 100
    assert len(docs) == complete and [d.id for d in docs] == [f"p{i}" for i in range(complete)]
    assert dropped == {"jsonl_reader:truncated_file": 1}


@pytest.mark.parametrize("suffix", [".zst", ".bz2", ".xz"])
def test_other_codecs_read_and_cut(tmp_path: Path, suffix: str) -> None:
    import bz2
    import lzma

    import zstandard

    compress = {".zst": zstandard.ZstdCompressor().compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix]
    lines = lines_of_speech(300)
    half = ("\n".join(lines[:150]) + "\n").encode(), ("\n".join(lines[150:]) + "\n").encode()
    data = compress(half[0]) + compress(half[1])  # two streams back to back, as `cat a.zst b.zst` makes
    whole, cut = tmp_path / f"w.jsonl{suffix}", tmp_path / f"c.jsonl{suffix}"
    whole.write_bytes(data)
    cut.write_bytes(data[: len(data) - 200])
    assert [d.id for d in read(JsonlReader(), whole)[0]] == [f"p{i}" for i in range(300)]
    docs, dropped = read(JsonlReader(), cut)
    assert dropped == {"jsonl_reader:truncated_file": 1} and len(docs) >= 150


def test_bad_records_are_counted_and_the_run_completes(tmp_path: Path) -> None:
    good = lines_of_speech(30)
    bad = [
        '{"id": "s", "text": "a lone surrogate \\ud800 in the text"}',  # the Parquet writer cannot store it
        '{"id": "u", "text": "a number for a url", "url": 42}',
        '{"id": "t", "text": 12345}',
        '{"id": "n", "text": null}',
        '{"id": "k", "body": "no text key"}',
        "[1, 2, 3]",
        '{"id": "j", "text": "not json',
        '{"id": "m", "text": "metadata of the wrong type", "score": "high"}',
    ]
    path = tmp_path / "in" / "mixed.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(good[:15] + bad + good[15:]) + "\n")
    stats = pipeline([path], tmp_path / "out", {"jsonl_reader": {"metadata": {"score": "float"}}})
    assert stats["jsonl_reader"]["dropped"] == {
        "jsonl_reader:invalid_unicode": 1,
        "jsonl_reader:bad_url": 1,
        "jsonl_reader:bad_text": 1,
        "jsonl_reader:empty": 1,
        "jsonl_reader:no_text": 1,
        "jsonl_reader:bad_line": 2,
        "jsonl_reader:bad_metadata": 1,
    }
    table = pq.read_table(tmp_path / "out" / "data")
    assert table["id"].to_pylist() == [f"p{i}" for i in range(30)]


# --- Parquet ----------------------------------------------------------------------------------


def test_parquet_text_column_of_another_type_is_named_before_any_work(tmp_path: Path) -> None:
    bad = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"text": pa.array([1, 2, 3])}), bad)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"numbers\.parquet: column 'text' .* is int64, not a string column"):
        pipeline([bad], out, "parquet_reader")
    assert not out.exists(), "nothing is written before the inputs are checked"


def test_corrupt_parquet_is_counted_and_named(tmp_path: Path, caplog) -> None:
    good = tmp_path / "a-good.parquet"
    pq.write_table(pa.table({"text": [json.loads(line)["text"] for line in lines_of_speech(20)]}), good)
    bad = tmp_path / "b-corrupt.parquet"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2] + b"PAR1")
    with caplog.at_level(logging.WARNING):
        stats = pipeline([good, bad], tmp_path / "out", "parquet_reader")
    assert stats["parquet_reader"]["dropped"] == {"parquet_reader:corrupt_file": 1}
    assert stats["parquet_writer"]["out"] == 20
    assert "b-corrupt.parquet" in caplog.text


# --- WARC -------------------------------------------------------------------------------------


def _udhr(code: str, chars: int = 1500) -> str:
    with zipfile.ZipFile(UDHR) as z:
        return z.read(f"udhr2/{code}.txt").decode("utf-8")[300 : 300 + chars]


def test_mislabelled_pages_decode_right_and_say_how(tmp_path: Path) -> None:
    """Real text in five encodings, each labelled wrongly (or not at all)."""
    if not UDHR.is_file():
        pytest.skip(f"{UDHR} not found (clone with ../shared beside the repo)")
    french, german = _udhr("fra").replace("'", "\u2019"), _udhr("deu")
    html = "<html><head><title>t</title></head><body><p>{}</p></body></html>".format
    utf8_stray = html(german).encode("utf-8").replace(b"Menschen", b"Mensch\x93en", 3)  # three stray cp1252 bytes
    cases = [  # (page, label, text expected in the page, charset_source)
        (html(french).encode("cp1252", "ignore"), "text/html; charset=utf-8", "naissance", "detected"),
        (html(german).encode("latin-1", "ignore"), "text/html; charset=utf-8", "Würde", "detected"),
        (html(_udhr("jpn", 600)).encode("shift_jis", "ignore"), "text/html; charset=utf-8", "人権", "detected"),
        (html(_udhr("cmn_hans", 600)).encode("gbk", "ignore"), "text/html", "人权", "detected"),
        (utf8_stray, "text/html; charset=iso-8859-1", "Würde", "utf8-replace"),
        (html(german).encode("utf-8"), "text/html; charset=iso-8859-1", "Würde", "utf8"),
        (html(german).encode("utf-8"), "text/html; charset=utf-8", "Würde", "header"),
    ]
    path = write_warc(
        tmp_path / "labels.warc.gz", [(f"http://x.org/{i}", page, label) for i, (page, label, _, _) in enumerate(cases)]
    )
    docs, dropped = read(WarcReader(), path)
    assert len(docs) == len(cases) and not dropped
    for doc, (_, label, expected, source) in zip(docs, cases):
        assert expected in doc.text, (label, doc.metadata["charset"], doc.text[:200])
        assert doc.metadata["charset_source"] == source, doc.metadata
        assert "‚Ä" not in doc.text and "Ã" not in doc.text  # no mojibake
    assert "naïve" in docs[0].text or "né" in docs[0].text  # cp1252, not cp1250's "naďve"


def _lying_warc(tmp_path: Path, gzipped: bool, victim: int, delta: int) -> Path:
    """A WARC of six real pages whose response `victim` claims `delta` more bytes than it has."""
    pages = [
        f"<html><body><p>page {i}: {json.loads(line)['text']}</p></body></html>".encode()
        for i, line in enumerate(lines_of_speech(6))
    ]
    clean = write_warc(tmp_path / "clean.warc", [(f"http://x.org/{i}", p) for i, p in enumerate(pages)], gzip=False)
    records = [b"WARC/1." + r for r in clean.read_bytes().split(b"WARC/1.")[1:]]
    target = f"WARC-Target-URI: http://x.org/{victim}\r\n".encode()
    for i, rec in enumerate(records):
        if target in rec:
            head, rest = rec.split(b"Content-Length: ", 1)
            length, rest = rest.split(b"\r\n", 1)
            records[i] = head + b"Content-Length: " + str(int(length) + delta).encode() + b"\r\n" + rest
    path = tmp_path / ("lying.warc.gz" if gzipped else "lying.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if gzipped else b"".join(records))
    return path


def test_content_length_too_long_in_a_plain_warc_loses_one_record(tmp_path: Path) -> None:
    docs, dropped = read(WarcReader(), _lying_warc(tmp_path, gzipped=False, victim=2, delta=500))
    assert [d.url for d in docs] == [f"http://x.org/{i}" for i in (0, 1, 3, 4, 5)]
    assert dropped == {"warc_reader:length_mismatch": 1}


@pytest.mark.parametrize("gzipped", [False, True])
def test_content_length_too_short_is_flagged_not_kept_cut(tmp_path: Path, gzipped: bool) -> None:
    docs, dropped = read(WarcReader(), _lying_warc(tmp_path, gzipped=gzipped, victim=3, delta=-300))
    assert [d.url for d in docs] == [f"http://x.org/{i}" for i in (0, 1, 2, 4, 5)]
    assert dropped == {"warc_reader:length_mismatch": 1}
    assert all(d.text.endswith("</html>") for d in docs), "no document is cut short"


def test_corrupt_member_is_counted_once_at_its_offset(tmp_path: Path, caplog) -> None:
    raw = sample_warcs()[0].read_bytes()
    starts, pos = [], 0
    while pos < len(raw):  # the gzip members' offsets
        starts.append(pos)
        d = zlib.decompressobj(31)
        d.decompress(raw[pos:])
        pos = len(raw) - len(d.unused_data)
    clean_docs, clean_dropped = read(WarcReader(), sample_warcs()[0])
    garbage = starts[5]
    path = tmp_path / "garbage.warc.gz"
    path.write_bytes(raw[:garbage] + b"\x00GARBAGE\xff" * 40 + raw[garbage:])  # between two members
    with caplog.at_level(logging.WARNING):
        docs, dropped = read(WarcReader(), path)
    assert [d.id for d in docs] == [d.id for d in clean_docs]
    assert dropped == clean_dropped | {"warc_reader:corrupt_gzip_member": 1}
    assert f"unreadable from offset {garbage} " in caplog.text

    inside = bytearray(raw)  # garbage inside a member: its record is counted once, as damaged
    inside[starts[5] + 30 : starts[5] + 70] = b"\x00garbage" * 5
    path.write_bytes(bytes(inside))
    docs, dropped = read(WarcReader(), path)
    assert [d.id for d in docs] == [d.id for d in clean_docs]  # member 5 is not a page
    assert sum(dropped.values()) == sum(clean_dropped.values())
    damage = {k: v for k, v in dropped.items() if k not in clean_dropped}
    assert sum(damage.values()) == 1 and set(damage) <= {
        "warc_reader:corrupt_gzip_member",
        "warc_reader:length_mismatch",
    }, dropped


def test_a_text_file_is_one_bad_file_and_an_empty_one_is_recorded(tmp_path: Path) -> None:
    notes = tmp_path / "in" / "a-notes.warc"
    notes.parent.mkdir()
    notes.write_text("\n".join(speeches()[0].splitlines()[:50]))
    empty = tmp_path / "in" / "b-empty.warc.gz"
    empty.write_bytes(b"")
    stats = pipeline([notes, empty, sample_warcs()[1]], tmp_path / "out", "warc_reader")
    dropped = stats["warc_reader"]["dropped"]
    assert dropped["warc_reader:not_a_warc_file"] == 1 and dropped["warc_reader:empty_file"] == 1
    assert "warc_reader:no_http_headers" not in dropped
    assert stats["warc_reader"]["out"] == 15  # the real crawl's pages are all there


# --- files corpusforge reads back -------------------------------------------------------------


def test_poisoned_saved_config_is_an_error_naming_it(tmp_path: Path, capsys) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines_of_speech(5)) + "\n")
    config = tmp_path / "run.yaml"
    out = tmp_path / "out"
    config.write_text(
        json.dumps({"input": str(path), "output": str(out), "workers": 1, "stages": ["jsonl_reader", "parquet_writer"]})
    )
    assert main(["run", str(config), "--quiet", "--no-report"]) == 0
    (out / "config.yaml").write_text("hash: !!python/object/apply:os.system ['echo pwned']\nstages: []\n")
    assert main(["run", str(config), "--quiet", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert f"error: {out / 'config.yaml'}: not a config corpusforge wrote" in err and "Traceback" not in err
