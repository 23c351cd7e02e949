"""One WARC file across many tasks: byte ranges cut at verified gzip members, and the same
documents, order, counts and dedup decisions whatever the split size."""

from __future__ import annotations

import gzip
import io
import json
import logging
import zlib
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, write_warc
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpusforge.cli import main
from corpusforge.engine.config import load_config
from corpusforge.engine.planner import input_tasks
from corpusforge.engine.runner import run_pipeline
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.errors import OutputMismatchError, TaskFailedError
from corpusforge.stages.readers.warc_reader import WarcReader, _record_start


@pytest.fixture(autouse=True)
def _quiet_damage_warnings(caplog):
    caplog.set_level(logging.ERROR, logger="corpusforge.stages.readers.warc_reader")


def member_starts(data: bytes) -> list[int]:
    """Every gzip member's offset, found the slow way: inflating the whole file."""
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        pos = len(data) - len(d.unused_data)
    return starts


def read_ranges(path: Path, split_bytes: int) -> tuple[list[tuple[str, str]], Counter, int]:
    """(id, text) of every document and the drop counts, reading `split` range by range."""
    reader = WarcReader(split_bytes=split_bytes)
    ranges = reader.split(str(path), path.stat().st_size)
    docs, dropped = [], Counter()
    for start, end in ranges:
        ctx = StageContext(0, str(path), path.parent, StageStats("warc_reader"))
        docs += [(d.id, d.text) for d in reader.read_range(str(path), ctx, start, end)]
        dropped.update(ctx.stats.dropped)
    return docs, dropped, len(ranges)


def response(url: str, payload: bytes, gz: bool = True) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gz)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http))
    return buf.getvalue()


def test_split_ranges_cover_the_file_and_only_gzipped_warcs_split():
    reader = WarcReader(split_bytes=100)
    assert reader.split("a.warc.gz", 250) == [(0, 100), (100, 200), (200, None)]
    assert reader.split("a.warc.gz", 100) == [(0, None)]  # not bigger than one range
    for name in ("a.warc", "a.arc.gz", "a.jsonl.gz"[:-3] + ".jsonl"):
        assert reader.split(name, 10_000) == [(0, None)]
    assert WarcReader(split_bytes=0).split("a.warc.gz", 10**9) == [(0, None)]
    assert WarcReader(split_bytes=None).split("a.warc.gz", 10**9) == [(0, None)]
    assert WarcReader().split("a.warc.gz", 10**9)[1] == (128 << 20, 256 << 20)  # the default, 128 MiB


def test_boundaries_are_the_first_member_start_at_or_after_the_target(warc_dir):
    path = warc_dir / "cc-sample-0001.warc.gz"
    data = path.read_bytes()
    starts = member_starts(data)
    with open(path, "rb") as f:
        for target in range(1, len(data) + 1, 997):
            want = next((s for s in starts if s >= target), None)
            assert _record_start(f, target) == want, target


def test_a_false_gzip_header_inside_a_member_is_passed_over(tmp_path):
    # a stored (uncompressed) member whose page holds the gzip magic bytes raw, then junk
    fake = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(256)) * 4
    page = b"<html><body><p>" + fake + b"</p></body></html>"
    first = response("http://a/0", b"<html><p>first page</p></html>")
    stored = gzip.compress(response("http://a/1", page, gz=False), compresslevel=0)
    last = response("http://a/2", b"<html><p>last page</p></html>")
    path = tmp_path / "magic.warc.gz"
    path.write_bytes(first + stored + last)
    fake_at = path.read_bytes().find(b"\x1f\x8b\x08", len(first) + 10)
    assert len(first) < fake_at < len(first) + len(stored), "the fake header is inside the stored member"
    with open(path, "rb") as f:
        assert _record_start(f, len(first) + 1) == len(first) + len(stored)
    whole = read_ranges(path, 0)
    assert len(whole[0]) == 3 and not whole[1]
    for split in (len(first) + 1, fake_at - 1, fake_at, 40, 7):
        assert read_ranges(path, split)[:2] == whole[:2], split


@pytest.mark.parametrize("name", ["cc-sample-0000.warc.gz", "cc-sample-0001.warc.gz", "readability-130.warc.gz"])
def test_every_split_size_reads_the_same_documents(warc_dir, name):
    whole = read_ranges(warc_dir / name, 0)
    assert whole[2] == 1 and whole[0]
    for split in (200_000, 50_000, 7_000):
        docs, dropped, ranges = read_ranges(warc_dir / name, split)
        assert ranges > 1 and (docs, dropped) == whole[:2], split


def test_a_damaged_member_at_a_boundary_is_counted_once(warc_dir, tmp_path):
    raw = (warc_dir / "cc-sample-0001.warc.gz").read_bytes()
    starts = member_starts(raw)
    m = len(starts) // 2
    damaged = bytearray(raw)
    for k in range(8):  # the middle of member m: its header and first bytes still inflate
        damaged[(starts[m] + starts[m + 1]) // 2 + k] ^= 0xFF
    garbage = raw[: starts[m + 3]] + b"\x00garbage\x1f\x8b\x08\xff" * 300 + raw[starts[m + 3] :]
    for label, data, at in (("flipped", bytes(damaged), starts[m]), ("garbage", garbage, starts[m + 3])):
        path = tmp_path / f"{label}.warc.gz"
        path.write_bytes(data)
        docs, dropped, _ = read_ranges(path, 0)
        assert sum(dropped[r] for r in dropped if "corrupt" in r) >= 1, label
        # boundaries right before, at and just after the damage's start, and inside it
        for split in (at - 1, at, at + 1, at + 40, 5_000):
            assert read_ranges(path, split)[:2] == (docs, dropped), (label, split)


def test_a_record_start_inside_a_stored_record_stops_the_run_clearly(tmp_path):
    """A crawled .warc.gz stored raw inside a record: its members look like record starts.
    The task before such a split point sees its last record run past it, and says so."""
    inner = b"".join(response(f"http://inner/{i}", b"<html><p>inner %d</p></html>" % i) for i in range(3))
    before = b"".join(response(f"http://a/{i}", b"<html><p>page %d</p></html>" % i * 50) for i in range(5))
    path = tmp_path / "nested.warc.gz"
    path.write_bytes(before + gzip.compress(response("http://x/crawl.warc.gz", inner, gz=False), 0) + before)
    data = {
        "input": str(path),
        "output": str(tmp_path / "out"),
        "workers": 1,
        "stages": [{"warc_reader": {"split_bytes": len(before) + 5}}, "parquet_writer"],
    }
    with pytest.raises(TaskFailedError) as err:
        run_pipeline(load_config(data=data), quiet=True)
    message = str(err.value)
    assert f"task on {path} [bytes 0-{len(before) + 5}) failed" in message
    assert "lies inside a record" in message and "split_bytes: 0" in message
    data["output"] = str(tmp_path / "whole")
    data["stages"][0] = {"warc_reader": {"split_bytes": 0}}
    run_pipeline(load_config(data=data), quiet=True)  # read whole, the file is fine
    urls = pq.read_table(tmp_path / "whole" / "data")["url"].to_pylist()
    assert urls == [f"http://a/{i}" for i in range(5)] + ["http://x/crawl.warc.gz"] + [
        f"http://a/{i}" for i in range(5)
    ]


# --- the pipeline --------------------------------------------------------------------------


@pytest.fixture
def dup_inputs(warc_dir, tmp_path, article_pages) -> list[Path]:
    """A real crawl, and a WARC of 12 article pages, then the same pages again under other
    URLs (exact duplicates), then 4 with a word changed (near duplicates): the copies lie in
    later ranges than their originals."""
    pages = [(url, html, ctype) for url, ctype, html in article_pages[:12]]
    copies = [(url + "?copy", html, ctype) for url, html, ctype in pages]
    near = [(url + "?near", html.replace(b"the", b"a", 1), ctype) for url, html, ctype in pages[:4]]
    folder = tmp_path / "in"
    folder.mkdir()
    return [warc_dir / "cc-sample-0000.warc.gz", write_warc(folder / "dups.warc.gz", pages + copies + near)]


def dedup_config(inputs, out, split_bytes, workers=1) -> dict:
    return {
        "input": [str(p) for p in inputs],
        "output": str(out),
        "workers": workers,
        "rejected": 3,
        "stages": [
            {"warc_reader": {"split_bytes": split_bytes}},
            {"exact_dedup": {"partitions": 2}},
            {"minhash_dedup": {"partitions": 2, "threshold": 0.7, "mode": "annotate"}},
            {"parquet_writer": {"max_rows": 10}},
        ],
    }


def outputs(out: Path) -> dict:
    """What must not depend on the split: the rows in shard-name order, each stage's counts,
    the dedup summaries and the rejected samples."""
    shards = sorted((out / "data").glob("*.parquet"))
    stats = json.loads((out / "stats.json").read_text())
    return {
        "rows": pa.concat_tables([pq.read_table(p) for p in shards]).to_pylist(),
        "stats": [{k: v for k, v in s.items() if k != "seconds"} for s in stats["stages"]],
        "summaries": [(out / f).read_text() for f in ("exact_dedup.json", "minhash_dedup.json")],
        "rejected": {p.name: p.read_text() for p in sorted((out / "rejected").glob("*.jsonl"))},
    }


def test_the_same_corpus_whatever_the_split_size(dup_inputs, tmp_path):
    reference = None
    for split in (0, 500_000, 100_000, 30_000):
        out = tmp_path / f"out-{split}"
        run_pipeline(load_config(data=dedup_config(dup_inputs, out, split)), quiet=True)
        got = outputs(out)
        tasks = len(list((out / "work" / "markers" / "00-stream").glob("task-*.json")))
        if reference is None:
            reference, whole_tasks = got, tasks
            stats = {s["name"]: s for s in got["stats"]}
            assert stats["exact_dedup"]["dropped"] == {"exact_dedup:duplicate": 12}
            rows = got["rows"]
            assert [r["url"] for r in rows if r["dup_cluster"]][-4:] == [r["url"] for r in rows][-4:]
            continue
        assert tasks > whole_tasks, split
        assert got == reference, split


def test_two_workers_and_a_resume_mid_phase_give_the_same_corpus(dup_inputs, tmp_path):
    reference = tmp_path / "reference"
    run_pipeline(load_config(data=dedup_config(dup_inputs, reference, 0)), quiet=True)
    out = tmp_path / "out"
    config = load_config(data=dedup_config(dup_inputs, out, 60_000, workers=2))
    run_pipeline(config, quiet=True)
    # as if killed in the first phase: half its tasks' markers and every later phase gone
    work = out / "work"
    markers = sorted((work / "markers" / "00-stream").glob("task-*.json"))
    for m in markers[::2]:
        m.unlink()
    for later in work.joinpath("markers").iterdir():
        if later.name != "00-stream":
            for m in later.glob("*.json"):
                m.unlink()
    for f in (out / "data").glob("*.parquet"):
        f.unlink()
    (out / "stats.json").unlink()
    run_pipeline(config, quiet=True)
    assert outputs(out) == outputs(reference)


def test_a_resumed_run_whose_input_changed_size_is_refused(dup_inputs, tmp_path):
    out = tmp_path / "out"
    data = dedup_config(dup_inputs, out, 200_000)
    data["stages"][1:3] = []  # the reader and the writer are enough here
    run_pipeline(load_config(data=data), quiet=True)
    (out / "work" / "markers" / "00-stream" / "task-00001.json").unlink()
    grown = dup_inputs[1]
    grown.write_bytes(grown.read_bytes() + (dup_inputs[0]).read_bytes())  # more records: other ranges
    with pytest.raises(OutputMismatchError, match="the input files changed since the run started"):
        run_pipeline(load_config(data=data), quiet=True)


def test_tasks_are_ranges_in_file_order_and_the_phases_command_counts_them(dup_inputs, tmp_path, capsys):
    data = dedup_config(dup_inputs, tmp_path / "o", 250_000)
    tasks = input_tasks(load_config(data=data))
    small, big = (p.stat().st_size for p in dup_inputs)
    assert [t.path for t in tasks] == [str(dup_inputs[0])] + [str(dup_inputs[1])] * -(-big // 250_000)
    assert [t.label for t in tasks[:3]] == [
        str(dup_inputs[0]),  # not bigger than one range: the file, as before
        f"{dup_inputs[1]} [bytes 0-250000)",
        f"{dup_inputs[1]} [bytes 250000-500000)",
    ]
    assert tasks[-1].label.endswith(f"-{big})") and sum(t.size for t in tasks) == small + big
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    assert main(["phases", str(config)]) == 0
    assert f"2 input file(s), split into {len(tasks)} tasks" in capsys.readouterr().out


def test_progress_counts_input_bytes_with_a_rate(dup_inputs, tmp_path, capsys, monkeypatch):
    from corpusforge.engine import executor

    class ShownBar(executor.tqdm):  # pytest's stderr is no terminal, where bars hide
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **(kwargs | {"disable": False}))

    monkeypatch.setattr(executor, "tqdm", ShownBar)
    data = dedup_config(dup_inputs[1:], tmp_path / "o", 200_000)
    data["stages"][1:3] = []
    n = len(input_tasks(load_config(data=data)))
    run_pipeline(load_config(data=data))
    err = capsys.readouterr().err
    total = dup_inputs[1].stat().st_size
    shown = ShownBar.format_sizeof(total)
    last = [line for line in err.replace("\r", "\n").splitlines() if "phase 00-stream" in line][-1]
    assert "100%" in last and f"{shown}B/{shown}B" in last and "B/s" in last
    assert f"tasks={n}/{n}" in last and "docs=" in last


@pytest.mark.slow
def test_massivetext_on_the_real_crawls_whatever_the_split_size(warc_dir, tmp_path):
    """The whole MassiveText recipe (extraction, filters, both dedups, decontamination) on
    every shared WARC: the same corpus read whole and in ranges of 1 MB and 200 KB."""
    recipe = yaml.safe_load((ROOT / "pipelines" / "massivetext.yaml").read_text())
    for stage in recipe["stages"]:
        if isinstance(stage, dict) and "decontaminate" in stage:
            for test_set in stage["decontaminate"]["test_sets"]:
                test_set["path"] = str(ROOT / test_set["path"])
    reference = None
    for split in (0, 1_000_000, 200_000):
        out = tmp_path / f"out-{split}"
        data = recipe | {"input": str(warc_dir / "*.warc.gz"), "output": str(out), "workers": 2}
        data["stages"] = [{"warc_reader": {"split_bytes": split}}] + recipe["stages"][1:]
        run_pipeline(load_config(data=data), quiet=True)
        shards = sorted((out / "data").glob("*.parquet"))
        got = {
            "rows": pa.concat_tables([pq.read_table(p) for p in shards]).to_pylist(),
            "stats": [
                {k: v for k, v in s.items() if k != "seconds"}
                for s in json.loads((out / "stats.json").read_text())["stages"]
            ],
            "reports": [
                (out / f).read_text() for f in ("exact_dedup.json", "minhash_dedup.json", "contamination.json")
            ],
        }
        if reference is None:
            reference = got
            assert len(got["rows"]) > 100
        else:
            assert got == reference, split
