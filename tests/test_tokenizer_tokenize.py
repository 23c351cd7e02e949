"""corpusforge tokenize: token shards decode back to the documents; dtype; determinism; resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tokenizer_data import ROOT, extracted_shards, extracted_texts, trained, write_parquet
from tokenizers import Tokenizer

from corpusforge.cli import main
from corpusforge.errors import OutputMismatchError, TokenizerError
from corpusforge.tokenizer.shards import TokenShards, choose_dtype
from corpusforge.tokenizer.tokenize import tokenize

EOS = 0


@pytest.fixture(scope="module")
def tok_dir() -> Path:
    return trained("multiword-256k", 2000)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    """The extracted shards plus one with an empty and a null text (skipped, counted), a blank one
    (kept: it is text) and one spelling out the EOS token."""
    extra = write_parquet(
        tmp_path_factory.mktemp("extra") / "zz-extra.parquet",
        ["", "a page that spells <|endoftext|> out", None, "short", "   "],
        ids=["e0", "e1", "e2", "e3", "e4"],
    )
    return sorted(str(p) for p in extracted_shards().glob("*.parquet")) + [str(extra)]


def input_docs(inputs: list[str]) -> list[str]:
    return [t for p in inputs for t in pq.read_table(p, columns=["text"]).column("text").to_pylist() if t]


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.parent.name in ("train", "val")
    }


def test_token_files_decode_back_to_the_documents(tok_dir: Path, inputs: list[str], tmp_path: Path) -> None:
    summary = tokenize(tok_dir, inputs, tmp_path / "out", workers=2, val_fraction=0.1, seed=3, quiet=True)
    tok = Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json"))  # the copy beside the shards
    decoded = []
    for split in ("train", "val"):
        for header_path in sorted((tmp_path / "out" / split).glob("part-*.json")):
            header = json.loads(header_path.read_text())
            assert header["dtype"] == "uint16" and header["eos_id"] == EOS
            # Plain numpy.memmap, as DESIGN.md promises.
            tokens = np.memmap(header_path.with_suffix(".bin"), dtype="<u2", mode="r")
            ends = np.memmap(header_path.with_suffix(".idx"), dtype="<u8", mode="r")
            assert len(tokens) == header["tokens"] == ends[-1] and len(ends) == header["documents"]
            # EOS after every document and nowhere else: the stream splits exactly at the ends.
            assert np.array_equal(np.flatnonzero(tokens == EOS) + 1, ends)
            starts = np.concatenate([np.zeros(1, np.uint64), ends[:-1]]).astype(np.int64)
            decoded += tok.decode_batch(
                [tokens[s : e - 1].tolist() for s, e in zip(starts, ends.astype(np.int64))], skip_special_tokens=False
            )
    expected = input_docs(inputs)
    assert sorted(decoded) == sorted(expected)
    assert summary["empty"] == 2 and summary["rows"] == len(expected) + 2 and summary["encoded_to_nothing"] == 0
    assert summary["train"]["documents"] + summary["val"]["documents"] == len(expected)
    assert 0.03 < summary["val"]["documents"] / len(expected) < 0.2
    assert summary["train"]["bytes_per_token"] > 2

    # The package's loader reads the same documents, and draws shifted training windows.
    shards = {s: TokenShards(tmp_path / "out", s) for s in ("train", "val")}
    assert sorted(tok.decode_batch([d.tolist() for s in shards.values() for d in s])) == sorted(expected)
    assert shards["train"].num_tokens == summary["train"]["tokens"]
    x, y = shards["train"].sample_batch(np.random.default_rng(0), batch_size=8, block_size=128)
    assert x.shape == y.shape == (8, 128) and np.array_equal(x[:, 1:], y[:, :-1])


def test_split_is_by_document_and_shuffle_by_seed(tok_dir: Path, inputs: list[str], tmp_path: Path) -> None:
    a = tokenize(tok_dir, inputs, tmp_path / "a", workers=1, val_fraction=0.2, seed=1, quiet=True)
    b = tokenize(tok_dir, inputs, tmp_path / "b", workers=2, val_fraction=0.2, seed=1, quiet=True)
    c = tokenize(tok_dir, inputs, tmp_path / "c", workers=2, val_fraction=0.2, seed=2, quiet=True)
    assert a["tasks_run"] == 4
    # Deterministic whatever the worker count; another seed reorders and re-splits.
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")
    assert files_of(tmp_path / "a") != files_of(tmp_path / "c")
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))

    def docs(folder: Path, split: str) -> set[str]:
        return set(tok.decode_batch([d.tolist() for d in TokenShards(folder, split)], skip_special_tokens=False))

    for folder in (tmp_path / "a", tmp_path / "c"):
        assert not docs(folder, "train") & docs(folder, "val")
        assert docs(folder, "train") | docs(folder, "val") == set(input_docs(inputs))
    assert docs(tmp_path / "a", "val") != docs(tmp_path / "c", "val")
    # Documents are shuffled within a shard: not in input order.
    first = [t for t in pq.read_table(inputs[0], columns=["text"]).column("text").to_pylist() if t]
    train0 = TokenShards(tmp_path / "a", "train")
    order = tok.decode_batch([train0.document(i).tolist() for i in range(10)], skip_special_tokens=False)
    assert order != [t for t in first if t in set(order)][:10]
    assert b["val"] == a["val"] and c["val"] != a["val"]


def test_dtype_follows_the_vocabulary(tok_dir: Path, tmp_path: Path) -> None:
    assert choose_dtype(50_257) == "uint16" and choose_dtype(65_536) == "uint16"
    assert choose_dtype(65_537) == "uint32" and choose_dtype(256_000) == "uint32"
    assert choose_dtype(1000, "uint32") == "uint32"
    with pytest.raises(TokenizerError, match="--dtype uint16 holds ids below 65,536"):
        choose_dtype(256_000, "uint16")

    # A vocabulary past 65,536 (the small tokenizer plus 64,000 added tokens) → uint32 files.
    big = tmp_path / "big"
    big.mkdir()
    t = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    t.add_tokens([f"<extra_{i}>" for i in range(64_000)])
    t.save(str(big / "tokenizer.json"))
    shutil.copy(tok_dir / "tokenizer_config.json", big)
    texts = extracted_texts()[:20]
    src = write_parquet(tmp_path / "in.parquet", texts)
    summary = tokenize(big, [str(src)], tmp_path / "out32", workers=1, quiet=True)
    header = json.loads((tmp_path / "out32" / "train" / "part-00000.json").read_text())
    assert summary["dtype"] == header["dtype"] == "uint32"
    tokens = np.memmap(tmp_path / "out32" / "train" / "part-00000.bin", dtype="<u4", mode="r")
    assert len(tokens) * 4 == (tmp_path / "out32" / "train" / "part-00000.bin").stat().st_size == header["tokens"] * 4
    with pytest.raises(TokenizerError, match="use --dtype uint32"):
        tokenize(big, [str(src)], tmp_path / "out16", dtype="uint16", quiet=True)


def test_changed_settings_need_overwrite(tok_dir: Path, tmp_path: Path, capsys) -> None:
    src = str(write_parquet(tmp_path / "in.parquet", extracted_texts()[:10]))
    args = ["tokenize", "--tokenizer", str(tok_dir), "--input", src, "--output", str(tmp_path / "o"), "--workers", "1"]
    assert main(args) == 0
    assert "tokenized with multiword-256k" in capsys.readouterr().out
    again = tokenize(tok_dir, [src], tmp_path / "o", workers=1, quiet=True)
    assert again["tasks_run"] == 0  # everything was done: nothing reruns
    with pytest.raises(OutputMismatchError, match="changed: seed"):
        tokenize(tok_dir, [src], tmp_path / "o", seed=5, quiet=True)
    assert main(args + ["--seed", "5"]) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(args + ["--seed", "5", "--overwrite", "--quiet"]) == 0


def test_resume_after_kill_gives_identical_files(tok_dir: Path, tmp_path: Path) -> None:
    # Four ~1 MB shards so the run lasts a few seconds; kill it once the first task is done.
    texts = extracted_texts()
    inputs = [
        str(write_parquet(tmp_path / "in" / f"s{k}.parquet", texts, ids=[f"{k}/{i}" for i in range(len(texts))]))
        for k in range(4)
    ]
    reference = tmp_path / "reference"
    tokenize(tok_dir, inputs, reference, workers=1, val_fraction=0.05, quiet=True)

    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "corpusforge",
        "tokenize",
        "--tokenizer",
        str(tok_dir),
        "--input",
        *inputs,
        "--output",
        str(out),
        "--workers",
        "1",
        "--val-fraction",
        "0.05",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_marker, deadline = out / "work" / "task-00000.json", time.monotonic() + 60
    while not first_marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in (out / "work").glob("task-*.json"))
    assert done and len(done) < 4, f"the kill came too late to test resuming: {done}"

    summary = tokenize(tok_dir, inputs, out, workers=1, val_fraction=0.05, quiet=True)
    assert summary["tasks_run"] == 4 - len(done)
    assert files_of(out) == files_of(reference)
    assert not list(out.rglob("*.tmp"))
