"""OUTPUT/README.md is a Hugging Face dataset card: `datasets.load_dataset(OUTPUT)` reads the
corpus of a real run (with rejected/*.jsonl beside it), the card and the Parquet footers say what
made it, and a README.md that is not corpusforge's is never written over."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from corpusforge import __version__
from corpusforge.engine.card import MARK
from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline


def run(inputs: list[Path], output: Path, workers: int = 1, overwrite: bool = False, quiet: bool = True) -> None:
    config = {
        "input": [str(p) for p in inputs],
        "output": str(output),
        "rejected": 2,
        "stages": [
            "warc_reader",
            "trafilatura",
            {"gopher_quality": {"min_words": 120}},
            {"parquet_writer": {"max_rows": 8}},
        ],
    }
    run_pipeline(load_config(data=config, workers=workers), overwrite=overwrite, quiet=quiet)


@pytest.fixture(scope="module")
def warcs(tmp_path_factory, article_pages) -> list[Path]:
    from conftest import write_warc

    folder = tmp_path_factory.mktemp("warcs")
    pages = [(url, payload, ctype) for url, ctype, payload in article_pages[:36]]
    return [write_warc(folder / f"a-{i}.warc.gz", pages[i::2]) for i in range(2)]


@pytest.fixture(scope="module")
def output(warcs: list[Path], tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    run(warcs, out)
    return out


def corpus_rows(output: Path) -> list[dict]:
    return [row for p in sorted((output / "data").glob("*.parquet")) for row in pq.read_table(p).to_pylist()]


def test_load_dataset_reads_the_corpus(output: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    assert list((output / "rejected").glob("*.jsonl"))  # what made load_dataset fail before the card
    assert len(list((output / "data").glob("*.parquet"))) > 1
    corpus = datasets.load_dataset(str(output), split="train", cache_dir=str(tmp_path / "cache"))
    rows = corpus_rows(output)
    assert len(corpus) == len(rows) > 10
    assert sorted(corpus["id"]) == sorted(r["id"] for r in rows)
    assert {r["id"]: r["text"] for r in corpus} == {r["id"]: r["text"] for r in rows}


def test_the_card_says_how_the_corpus_was_made(output: Path) -> None:
    text = (output / "README.md").read_text()
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}
    ]
    saved = yaml.safe_load((output / "config.yaml").read_text())
    stats = yaml.safe_load((output / "stats.json").read_text())
    kept = stats["stages"][-1]["out"]
    assert MARK in text and f"`{saved['hash']}`" in text and f"corpusforge {__version__}" in text
    assert f"{kept:,} documents" in text
    assert "`min_words: 120`" in text  # the thresholds, as configured
    assert "`gopher_quality:min_words`" in text or "gopher_quality:" in text  # drop reasons counted
    for shard in (output / "data").glob("*.parquet"):
        meta = pq.read_schema(shard).metadata
        assert meta[b"corpusforge.config_hash"] == saved["hash"].encode()
        assert meta[b"corpusforge.version"] == __version__.encode()


def test_shards_and_card_stay_byte_identical(warcs: list[Path], output: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    run(warcs, again, workers=2)
    names = sorted(p.name for p in (output / "data").glob("*.parquet"))
    assert names == sorted(p.name for p in (again / "data").glob("*.parquet"))
    for name in names:
        assert (output / "data" / name).read_bytes() == (again / "data" / name).read_bytes()
    assert (output / "README.md").read_bytes() == (again / "README.md").read_bytes()


def test_a_readme_of_yours_is_never_written_over(warcs: list[Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    run(warcs[:1], out)
    (out / "README.md").write_text("# my own notes\n")
    run(warcs[:1], out, overwrite=True, quiet=False)
    assert (out / "README.md").read_text() == "# my own notes\n"
    assert "was not written by corpusforge: left as it is" in capsys.readouterr().err
    (out / "README.md").unlink()
    run(warcs[:1], out)  # already complete: the missing card is written, nothing is rerun
    assert MARK in (out / "README.md").read_text()
