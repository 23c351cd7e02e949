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


def test_datatrove_and_dolma_lines_keep_their_nested_metadata(tmp_path, caplog):
    """datatrove writes {"text", "id", "metadata": {...}}; Dolma adds top-level fields and
    `attributes` (span lists). Their nested fields become typed columns; the url is found there."""
    datatrove = [
        {
            "text": "a page",
            "id": "d0",
            "metadata": {"url": "http://a", "dump": "CC-MAIN-2024-10", "date": "2024-02-21"},
        },
        {
            "text": "another page",
            "id": "d1",
            "metadata": {"url": "http://b", "dump": "CC-MAIN-2024-10", "token_count": 3},
        },
    ]
    dolma = [
        {
            "id": "w0",
            "text": "from Dolma",
            "source": "c4",
            "metadata": {"url": "http://c", "token_count": 2.5},
            "attributes": {"paragraphs": [[0, 10, 1.0]]},
        }
    ]
    for name, rows in (("datatrove.jsonl", datatrove), ("dolma.jsonl", dolma)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    stages = [{"jsonl_reader": {"metadata": {"source": "string", "language": "string"}}}, "parquet_writer"]
    data = {"input": str(tmp_path / "*.jsonl"), "output": str(out), "workers": 1, "stages": stages}
    run_pipeline(load_config(data=data), quiet=True)
    table = pq.read_table(out / "data")
    assert table.schema.field("token_count").type == "double" and table.schema.field("dump").type == "string"
    rows = {r["id"]: r for r in table.to_pylist()}
    assert [rows[i]["url"] for i in ("d0", "d1", "w0")] == ["http://a", "http://b", "http://c"]
    assert rows["d0"]["dump"] == "CC-MAIN-2024-10" and rows["d0"]["date"] == "2024-02-21"
    assert rows["d1"]["token_count"] == 3.0 and rows["d0"]["token_count"] is None
    assert rows["w0"]["source"] == "c4" and json.loads(rows["w0"]["paragraphs"]) == [[0, 10, 1.0]]
    # `language` is in no document: a warning per file, with the count
    warnings = [r.getMessage() for r in caplog.records if "has the field 'language'" in r.getMessage()]
    assert len(warnings) == 2 and any("none of its 2 document(s)" in w for w in warnings)
