"""The pipeline end to end on real crawls: outputs, stats, resume, determinism, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, sample_warcs, write_warc

from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline
from corpusforge.errors import ConfigError, OutputMismatchError


def extract_config(inputs, output, workers=2, **trafilatura) -> dict:
    return {
        "input": [str(p) for p in inputs],
        "output": str(output),
        "workers": workers,
        "stages": [
            "warc_reader",
            {"trafilatura": {"favor_precision": True, **trafilatura}},
            {"parquet_writer": {"max_rows": 25}},
        ],
    }


def run(data: dict, **kw):
    return run_pipeline(load_config(data=data), quiet=True, **kw)


def shard_digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").glob("*.parquet"))}


def test_real_crawls_and_articles(warc_dir, tmp_path):
    inputs = sample_warcs()
    out = tmp_path / "out"
    run(extract_config(inputs, out))

    stats = json.loads((out / "stats.json").read_text())
    by_name = {s["name"]: s for s in stats["stages"]}
    assert list(by_name) == ["warc_reader", "trafilatura", "parquet_writer"]
    reader = by_name["warc_reader"]
    assert reader["out"] == 22 + 15 + 181  # the HTML responses of the three files (data README)
    assert reader["in"] == reader["out"] + sum(reader["dropped"].values())
    extract = by_name["trafilatura"]
    assert extract["in"] == reader["out"] and extract["out"] >= 0.95 * extract["in"]
    assert extract["in"] == extract["out"] + sum(extract["dropped"].values())
    assert extract["bytes_out"] < extract["bytes_in"] / 5  # text is far smaller than HTML
    assert by_name["parquet_writer"]["out"] == extract["out"]

    shards = sorted((out / "data").glob("*.parquet"))
    assert len(shards) >= 3 and all(p.name.startswith("part-") for p in shards)
    schemas = {pq.read_schema(p) for p in shards}
    assert len(schemas) == 1, "every shard of a run has the same schema"
    table = pq.read_table(out / "data")
    assert table.num_rows == extract["out"]
    assert table.column_names[:3] == ["id", "text", "url"]
    for col in ("warc_record_id", "warc_date", "content_type", "charset"):
        assert col in table.column_names and table[col].null_count == 0
    ids = table["id"].to_pylist()
    assert len(set(ids)) == len(ids)
    assert all(t.strip() for t in table["text"].to_pylist())


def test_output_is_read_by_duckdb_polars_and_hf_datasets(warc_dir, tmp_path, split_articles):
    out = tmp_path / "out"
    run(extract_config(split_articles(30, 2), out))
    n = pq.read_table(out / "data").num_rows
    glob = str(out / "data" / "*.parquet")

    duckdb = pytest.importorskip("duckdb")
    assert duckdb.sql(f"select count(*) from '{glob}'").fetchall()[0][0] == n
    polars = pytest.importorskip("polars")
    assert polars.scan_parquet(glob).select(polars.len()).collect().item() == n
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files=glob, split="train", cache_dir=str(tmp_path / "hf"))
    assert len(ds) == n and {"id", "text", "url", "warc_date"} <= set(ds.column_names)


def test_fineweb_columns_typed_and_token_count(split_articles, tmp_path):
    """A FineWeb/datatrove user's query runs unchanged: a timestamp warc_date, dump, file_path,
    and token_count from the tokenizer the writer names."""
    from tokenizer_data import trained
    from tokenizers import Tokenizer

    tok = trained("bpe-50k", 400)
    data = extract_config(split_articles(12, 2), tmp_path / "out")
    data["stages"][-1] = {"parquet_writer": {"tokenizer": str(tok)}}
    run(data)
    glob = str(tmp_path / "out" / "data" / "*.parquet")
    table = pq.read_table(tmp_path / "out" / "data")
    assert str(table.schema.field("warc_date").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("token_count").type) == "int64"
    reference = Tokenizer.from_file(str(tok / "tokenizer.json"))
    reference.encode_special_tokens = True  # a literal <|endoftext|> in a page is text, not EOS
    for text, count in zip(table["text"].to_pylist(), table["token_count"].to_pylist()):
        assert count == len(reference.encode(text, add_special_tokens=False).ids) > 0
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(
        f"select file_path, count(*), sum(token_count) from '{glob}' "
        f"where warc_date >= TIMESTAMP '2000-01-01' and dump is null group by file_path order by file_path"
    ).fetchall()
    assert [r[0] for r in rows] == sorted({str(p) for p in data["input"]})
    assert sum(r[1] for r in rows) == table.num_rows and sum(r[2] for r in rows) == sum(
        table["token_count"].to_pylist()
    )

    data["stages"][-1] = {"parquet_writer": {"tokenizer": str(tmp_path / "no-tokenizer")}}
    with pytest.raises(ConfigError, match=r"parquet_writer.*tokenizer: no tokenizer at .*no-tokenizer"):
        load_config(data=data)


def test_same_shards_with_one_or_two_workers(split_articles, tmp_path):
    inputs = split_articles(40, 4)
    run(extract_config(inputs, tmp_path / "w1", workers=1))
    run(extract_config(inputs, tmp_path / "w2", workers=2))
    one, two = shard_digests(tmp_path / "w1"), shard_digests(tmp_path / "w2")
    assert one and one == two


def test_changed_config_is_refused_then_overwritten(split_articles, tmp_path):
    inputs = split_articles(6, 1)
    out = tmp_path / "out"
    run(extract_config(inputs, out))
    with pytest.raises(OutputMismatchError, match="different config.*--overwrite"):
        run(extract_config(inputs, out, include_tables=False))
    run(extract_config(inputs, out, include_tables=False), overwrite=True)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["stages"][1]["trafilatura"]["include_tables"] is False


def test_rerun_of_a_finished_run_does_no_work(split_articles, tmp_path):
    inputs = split_articles(6, 2)
    out = tmp_path / "out"
    run(extract_config(inputs, out))
    before = {p: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")}
    stats = run(extract_config(inputs, out))
    assert {p: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")} == before
    assert stats[0].docs_out == 6  # counts come back from the completion markers


def _cli(config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "corpusforge", "run", str(config), "--quiet", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _markers(out: Path) -> list[Path]:
    return list((out / "work" / "markers").rglob("task-*.json"))


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"run ended before the kill: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.fixture
def kill_setup(split_articles, tmp_path):
    inputs = split_articles(48, 8)
    reference = tmp_path / "reference"
    run(extract_config(inputs, reference))
    config = tmp_path / "run.yaml"
    return inputs, reference, config


def test_killed_run_resumes_to_the_same_shards(kill_setup, tmp_path):
    inputs, reference, config = kill_setup
    out = tmp_path / "killed"
    config.write_text(yaml.safe_dump(extract_config(inputs, out, workers=1)))
    proc = _cli(config)
    _wait_for(lambda: len(_markers(out)) >= 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(_markers(out))
    assert 2 <= finished < len(inputs), "the kill must land part-way"

    proc = _cli(config)
    assert proc.wait() == 0, proc.communicate()
    assert shard_digests(out) == shard_digests(reference)
    assert not list(out.rglob(".*.tmp")), "no temporary files are left behind"
    stats = json.loads((out / "stats.json").read_text())
    ref_stats = json.loads((reference / "stats.json").read_text())
    assert [(s["name"], s["in"], s["out"]) for s in stats["stages"]] == [
        (s["name"], s["in"], s["out"]) for s in ref_stats["stages"]
    ]


def test_killed_worker_fails_clearly_and_resumes(kill_setup, tmp_path):
    inputs, reference, config = kill_setup
    out = tmp_path / "worker-killed"
    config.write_text(yaml.safe_dump(extract_config(inputs, out, workers=2)))
    proc = _cli(config)
    _wait_for(lambda: len(_markers(out)) >= 1, proc)
    forkservers = [c for c in _children(proc.pid) if b"forkserver" in Path(f"/proc/{c}/cmdline").read_bytes()]
    workers = [w for f in forkservers for w in _children(f)]
    assert workers, "no worker process found"
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "a worker process died" in err and "run the same command again to resume" in err
    assert len(_markers(out)) < len(inputs)

    proc = _cli(config)
    assert proc.wait() == 0, proc.communicate()
    assert shard_digests(out) == shard_digests(reference)


def test_bad_input_is_counted_and_skipped(warc_dir, tmp_path, article_pages):
    url, ctype, html = article_pages[0]
    raw = (warc_dir / "cc-sample-0001.warc.gz").read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-truncated.warc.gz").write_bytes(raw[: len(raw) * 2 // 3])
    (folder / "b-garbage.warc.gz").write_bytes(raw[: len(raw) // 2] + b"\x00garbage\xff" * 500 + raw[len(raw) // 2 :])
    write_warc(
        folder / "c-mixed.warc.gz",
        [
            (url, html, ctype),
            ("http://x.org/a.pdf", b"%PDF-1.4 binary", "application/pdf"),
            ("http://x.org/empty", b""),
            ("http://x.org/nothing", b"<html><body><script>var x=1;</script></body></html>"),
            ("http://x.org/huge", b"<html><body><p>" + b"word " * (4 * 1024 * 1024) + b"</p></body></html>"),
        ],
    )
    out = tmp_path / "out"
    run(extract_config(sorted(folder.glob("*.warc.gz")), out))
    stats = {s["name"]: s for s in json.loads((out / "stats.json").read_text())["stages"]}
    dropped = stats["warc_reader"]["dropped"] | stats["trafilatura"]["dropped"]
    for reason in (
        "warc_reader:truncated_record",
        "warc_reader:corrupt_gzip_member",
        "warc_reader:content_type",
        "warc_reader:empty",
        "trafilatura:html_too_large",
        "trafilatura:no_text",
    ):
        assert dropped.get(reason, 0) >= 1, reason
    assert stats["parquet_writer"]["out"] > 10
    urls = set(pq.read_table(out / "data")["url"].to_pylist())
    assert url in urls and "http://x.org/huge" not in urls


def test_quiet_prints_nothing_and_library_chatter_goes_to_the_logs(tmp_path, article_pages):
    """trafilatura's "discarding data" and warcio's "Replacing spaces" lines go to
    OUTPUT/logs/<phase>/task-*.log, not the terminal: `--quiet` prints nothing at all."""
    pages = [(url, html) for url, _, html in article_pages[:4]]
    pages += [("http://example.com/empty page", b"<html><body><div> </div><p></p></body></html>")]  # no text; a space
    warcs = [write_warc(tmp_path / f"in-{i}.warc.gz", pages[i::2]) for i in range(2)]
    config = tmp_path / "c.yaml"
    out = tmp_path / "out"
    stages = ["warc_reader", {"trafilatura": {"favor_precision": True}}, "parquet_writer"]
    config.write_text(yaml.safe_dump({"input": [str(w) for w in warcs], "output": str(out), "stages": stages}))
    cmd = [sys.executable, "-m", "corpusforge", "run", str(config), "--workers", "2", "--quiet", "--no-report"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""
    logs = "".join(p.read_text() for p in sorted((out / "logs").rglob("*.log")))
    assert "discarding data" in logs and "Replacing spaces in invalid WARC-Target-URI" in logs
    stats = {s["name"]: s for s in json.loads((out / "stats.json").read_text())["stages"]}
    assert stats["trafilatura"]["dropped"] == {"trafilatura:no_text": 1}  # the discarded page, counted


def test_a_list_edited_in_place_is_a_changed_config_not_a_resume(split_articles, tmp_path):
    inputs = split_articles(6, 1)
    words = tmp_path / "url-words.txt"
    words.write_text("zzzznotinanyurl\n")
    data = extract_config(inputs, tmp_path / "out", workers=1)
    data["stages"].insert(1, {"url_filter": {"url_words": [str(words)]}})
    run(data)
    saved = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert saved["files"] == {str(words): hashlib.sha256(words.read_bytes()).hexdigest()}
    run(data)  # same content: a finished run, nothing to do
    words.write_text("zzzznotinanyurl\nnews\n")
    with pytest.raises(OutputMismatchError, match=r"changed: files, hash"):
        run(data)
