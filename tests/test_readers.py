"""Already-extracted corpora: our own Parquet shards and JSON Lines go through the pipeline."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq

from corpusforge.config import load_config
from corpusforge.runner import run_pipeline


def test_parquet_shards_read_back_unchanged(split_articles, tmp_path):
    first = tmp_path / "extracted"
    run_pipeline(load_config(data={
        "input": [str(p) for p in split_articles(20, 2)], "output": str(first), "workers": 1,
        "stages": ["warc_reader", "trafilatura", "parquet_writer"]}), quiet=True)
    second = tmp_path / "again"
    run_pipeline(load_config(data={
        "input": str(first / "data" / "*.parquet"), "output": str(second), "workers": 1,
        "stages": ["parquet_reader", "parquet_writer"]}), quiet=True)
    a, b = pq.read_table(first / "data"), pq.read_table(second / "data")
    assert a.schema == b.schema
    assert a.to_pylist() == b.to_pylist()


def test_jsonl_with_metadata_types_and_bad_lines(tmp_path):
    path = tmp_path / "docs.jsonl.gz"
    rows = [
        {"id": "a", "text": "first document", "url": "http://a", "score": 0.5, "source": "x"},
        {"text": "no id here", "score": 1},
        {"id": "c", "text": ""},
    ]
    lines = [json.dumps(r) for r in rows] + ["{not json"]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    out = tmp_path / "out"
    stats = run_pipeline(load_config(data={
        "input": str(path), "output": str(out), "workers": 1,
        "stages": [{"jsonl_reader": {"metadata": {"score": "float", "source": "string"}}}, "parquet_writer"]}),
        quiet=True)
    table = pq.read_table(out / "data")
    assert table.to_pylist() == [
        {"id": "a", "text": "first document", "url": "http://a", "score": 0.5, "source": "x"},
        {"id": "docs.jsonl.gz/1", "text": "no id here", "url": None, "score": 1.0, "source": None},
    ]
    assert dict(stats[0].dropped) == {"jsonl_reader:empty": 1, "jsonl_reader:bad_line": 1}
