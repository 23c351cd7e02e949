"""Already-extracted corpora: our own Parquet shards and JSON Lines go through the pipeline."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq

from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline


def test_parquet_shards_read_back_unchanged(split_articles, tmp_path):
    first = tmp_path / "extracted"
    run_pipeline(
        load_config(
            data={
                "input": [str(p) for p in split_articles(20, 2)],
                "output": str(first),
                "workers": 1,
                "stages": ["warc_reader", "trafilatura", "parquet_writer"],
            }
        ),
        quiet=True,
    )
    second = tmp_path / "again"
    run_pipeline(
        load_config(
            data={
                "input": str(first / "data" / "*.parquet"),
                "output": str(second),
                "workers": 1,
                "stages": ["parquet_reader", "parquet_writer"],
            }
        ),
        quiet=True,
    )
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
    stats = run_pipeline(
        load_config(
            data={
                "input": str(path),
                "output": str(out),
                "workers": 1,
                "stages": [{"jsonl_reader": {"metadata": {"score": "float", "source": "string"}}}, "parquet_writer"],
            }
        ),
        quiet=True,
    )
    table = pq.read_table(out / "data")
    assert table.to_pylist() == [
        {"id": "a", "text": "first document", "url": "http://a", "score": 0.5, "source": "x"},
        {"id": "docs.jsonl.gz/1", "text": "no id here", "url": None, "score": 1.0, "source": None},
    ]
    assert dict(stats[0].dropped) == {"jsonl_reader:empty": 1, "jsonl_reader:bad_line": 1}


def test_parquet_row_groups_capped_by_bytes(tmp_path):
    texts = ["a" * 1000] * 7 + ["b" * 10_000] + ["c" * 1000] * 2
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))

    def run(out):
        run_pipeline(
            load_config(
                data={
                    "input": str(path),
                    "output": str(out),
                    "workers": 1,
                    "stages": ["jsonl_reader", {"parquet_writer": {"row_group_bytes": 2500, "row_group_rows": 5}}],
                }
            ),
            quiet=True,
        )
        return sorted((out / "data").glob("*.parquet"))

    first, again = run(tmp_path / "a"), run(tmp_path / "b")
    assert len(first) == 1
    meta = pq.ParquetFile(first[0]).metadata
    # a group closes at 2,500 characters (3 small texts), the huge text closes its own group
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [3, 3, 2, 2]
    assert pq.read_table(first[0])["text"].to_pylist() == texts
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again], "deterministic"
