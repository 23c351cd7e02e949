"""export-tokens: Megatron-LM and nanoGPT files read back, by readers written here from each
format's spec (not with the writer's code), equal the source shards token for token."""

from __future__ import annotations

import json
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from tokenizer_data import extracted_shards, extracted_texts, trained, write_parquet
from tokenizers import Tokenizer

from corpusforge.cli import main
from corpusforge.errors import CorpusforgeError, TokenizerError
from corpusforge.io.run_folder import FolderError
from corpusforge.tokenizer.export import export_tokens
from corpusforge.tokenizer.tokenize import tokenize

# Megatron-LM's DType enum (megatron/core/datasets/indexed_dataset.py), code → numpy dtype.
MEGATRON_CODES = {1: "u1", 2: "i1", 3: "<i2", 4: "<i4", 5: "<i8", 6: "<f8", 7: "<f4", 8: "<u2"}


def read_megatron(prefix: Path) -> tuple[np.dtype, list[np.ndarray], np.ndarray]:
    """(dtype, sequences, document index) as Megatron's _IndexReader and _MMapBinReader read them."""
    idx = prefix.with_name(prefix.name + ".idx").read_bytes()
    data = prefix.with_name(prefix.name + ".bin").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack_from("<Q", idx, 9)
    (code,) = struct.unpack_from("<B", idx, 17)
    sequences, doc_entries = struct.unpack_from("<QQ", idx, 18)
    assert version == 1
    dtype = np.dtype(MEGATRON_CODES[code])
    offset = 34
    lengths = np.frombuffer(idx, "<i4", sequences, offset)
    offset += lengths.nbytes
    pointers = np.frombuffer(idx, "<i8", sequences, offset)
    offset += pointers.nbytes
    doc_index = np.frombuffer(idx, "<i8", doc_entries, offset)
    assert offset + doc_index.nbytes == len(idx)  # nothing after the document index (no modes)
    assert len(lengths) == doc_index[-1]  # IndexedDataset's own consistency check
    seqs = [np.frombuffer(data, dtype, int(n), int(p)) for n, p in zip(lengths, pointers)]
    assert sum(s.nbytes for s in seqs) == len(data)
    return dtype, seqs, doc_index


def source_documents(folder: Path, split: str) -> list[np.ndarray]:
    """Every document of the split with its EOS, straight from the .bin/.idx files and headers."""
    docs = []
    for header_path in sorted((folder / split).glob("part-*.json")):
        header = json.loads(header_path.read_text())
        tokens = np.fromfile(header_path.with_suffix(".bin"), dtype={"uint16": "<u2", "uint32": "<u4"}[header["dtype"]])
        ends = np.fromfile(header_path.with_suffix(".idx"), dtype="<u8").astype(np.int64)
        docs += np.split(tokens, ends[:-1])
    return docs


@pytest.fixture(scope="module")
def tok_dir() -> Path:
    return trained("multiword-256k", 2000)


@pytest.fixture(scope="module")
def tokens(tok_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tokens") / "t"
    tokenize(tok_dir, [str(extracted_shards())], out, workers=2, val_fraction=0.1, seed=1, quiet=True)
    return out


@pytest.fixture(scope="module")
def big_tokens(tok_dir: Path, tmp_path_factory) -> Path:
    """Token shards of a vocabulary past 65,536 (the small tokenizer plus 64,000 added tokens): uint32."""
    tmp = tmp_path_factory.mktemp("big")
    (tmp / "tok").mkdir()
    t = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    t.add_tokens([f"<extra_{i}>" for i in range(64_000)])
    t.save(str(tmp / "tok" / "tokenizer.json"))
    shutil.copy(tok_dir / "tokenizer_config.json", tmp / "tok")
    texts = extracted_texts()[:40] + [f"page {i} mentions <extra_63999> and <extra_7>" for i in range(10)]
    src = write_parquet(tmp / "in.parquet", texts)
    tokenize(tmp / "tok", [str(src)], tmp / "t", workers=1, val_fraction=0.2, quiet=True)
    return tmp / "t"


def test_megatron_export_reads_back_token_for_token(tokens: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "mega"
    assert main(["export-tokens", str(tokens), "--format", "megatron", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"--data-path {out / 'train'}" in printed and f"--valid-data-path {out / 'val'}" in printed
    settings = json.loads((tokens / "tokenize.json").read_text())
    for split in ("train", "val"):
        dtype, seqs, doc_index = read_megatron(out / split)
        expected = source_documents(tokens, split)
        assert dtype == np.dtype("<u2") and len(seqs) == len(expected) > 10
        assert all(np.array_equal(a, b) for a, b in zip(seqs, expected))
        assert all(s[-1] == settings["eos_id"] for s in seqs)  # EOS ends each document (--append-eod)
        assert np.array_equal(doc_index, np.arange(len(seqs) + 1))  # one sequence per document
    info = json.loads((out / "export.json").read_text())
    assert info["splits"]["train"]["tokens"] == sum(len(s) for s in source_documents(tokens, "train"))
    # the folder carries its tokenizer: an AutoTokenizer folder (Megatron's HuggingFaceTokenizer)
    from transformers import AutoTokenizer

    assert (out / "tokenizer.json").read_bytes() == (tokens / "tokenizer.json").read_bytes()
    auto = AutoTokenizer.from_pretrained(str(out))
    first = read_megatron(out / "train")[1][0]
    assert (
        auto.eos_token_id == settings["eos_id"]
        and auto(auto.decode(first[:-1]), add_special_tokens=False)["input_ids"] == first[:-1].tolist()
    )
    assert f"--tokenizer-model {out}" in printed


def test_megatron_export_of_uint32_shards_is_int32(big_tokens: Path, tmp_path: Path) -> None:
    export_tokens(big_tokens, "megatron", tmp_path / "m")
    dtype, seqs, _ = read_megatron(tmp_path / "m" / "train")
    expected = source_documents(big_tokens, "train")
    assert dtype == np.dtype("<i4")  # Megatron has no uint32: code 4
    assert max(int(s.max()) for s in expected) > 65_535  # the added tokens are really used
    assert len(seqs) == len(expected) and all(np.array_equal(a, b) for a, b in zip(seqs, expected))


def test_nanogpt_export_is_the_token_stream(tokens: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "nano"
    assert main(["export-tokens", str(tokens), "--format", "nanogpt", "--output", str(out)]) == 0
    assert "meta.pkl" in capsys.readouterr().out
    settings = json.loads((tokens / "tokenize.json").read_text())
    for split in ("train", "val"):
        stream = np.memmap(out / f"{split}.bin", dtype=np.uint16, mode="r")  # nanoGPT's train.py, verbatim
        docs = source_documents(tokens, split)
        assert np.array_equal(stream, np.concatenate(docs))
        assert int((stream == settings["eos_id"]).sum()) == len(docs)  # EOS between documents, nowhere else
    with open(out / "meta.pkl", "rb") as f:
        meta = pickle.load(f)
    assert meta["vocab_size"] == settings["vocab_size"] == 2000


def test_nanogpt_refuses_a_vocabulary_past_uint16(big_tokens: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "nano"
    assert main(["export-tokens", str(big_tokens), "--format", "nanogpt", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "66,000 tokens (uint32 shards)" in err and "uint16" in err and "--format megatron" in err
    assert not out.exists()  # refused before the folder is made


def test_nanogpt_takes_uint32_shards_of_a_small_vocabulary(tok_dir: Path, tmp_path: Path) -> None:
    src = write_parquet(tmp_path / "in.parquet", extracted_texts()[:30])
    tokenize(tok_dir, [str(src)], tmp_path / "t", workers=1, val_fraction=0.3, dtype="uint32", quiet=True)
    export_tokens(tmp_path / "t", "nanogpt", tmp_path / "n")
    for split in ("train", "val"):
        stream = np.fromfile(tmp_path / "n" / f"{split}.bin", dtype="<u2")
        assert np.array_equal(stream, np.concatenate(source_documents(tmp_path / "t", split)))


def test_nanogpt_needs_a_val_split(tok_dir: Path, tmp_path: Path) -> None:
    src = write_parquet(tmp_path / "in.parquet", extracted_texts()[:5])
    tokenize(tok_dir, [str(src)], tmp_path / "t", workers=1, quiet=True)
    with pytest.raises(TokenizerError, match="no val/ shards.*--val-fraction"):
        export_tokens(tmp_path / "t", "nanogpt", tmp_path / "n")
    export_tokens(tmp_path / "t", "megatron", tmp_path / "m")  # Megatron splits train itself
    assert (tmp_path / "m" / "train.idx").is_file() and not (tmp_path / "m" / "val.idx").exists()


def test_output_folder_rules(tokens: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(FolderError, match="not made by corpusforge"):
            export_tokens(tokens, "nanogpt", foreign, overwrite=overwrite)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    out = tmp_path / "out"
    export_tokens(tokens, "megatron", out)
    (out / "notes.txt").write_text("mine too")
    with pytest.raises(CorpusforgeError, match="already holds an export; pass --overwrite"):
        export_tokens(tokens, "megatron", out)
    before = (out / "train.bin").read_bytes()
    export_tokens(tokens, "megatron", out, overwrite=True)
    assert (out / "train.bin").read_bytes() == before  # deterministic
    assert (out / "notes.txt").read_text() == "mine too"  # --overwrite removes only what the export writes
    with pytest.raises(TokenizerError, match="not a `corpusforge tokenize` output folder"):
        export_tokens(tmp_path, "megatron", tmp_path / "x")


def test_an_unfinished_or_incomplete_tokenize_is_refused(tokens: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tokens, tmp_path / "t"))
    (copy / "tokenizer.json").write_text(
        (copy / "tokenizer.json").read_text().replace('"ignore_merges": false', '"ignore_merges": true')
    )
    with pytest.raises(TokenizerError, match="not the tokenizer these shards were made with"):
        export_tokens(copy, "megatron", tmp_path / "m")
    shutil.copy(tokens / "tokenizer.json", copy)
    next(iter(sorted((copy / "val").glob("part-*.json")))).unlink()  # a shard lost (or not written yet)
    with pytest.raises(TokenizerError, match=r"val: \d+ documents in the shards, but summary.json counts"):
        export_tokens(copy, "megatron", tmp_path / "m")
    (copy / "summary.json").unlink()  # what a killed tokenize leaves
    with pytest.raises(TokenizerError, match="has not finished.*run the same tokenize command again"):
        export_tokens(copy, "nanogpt", tmp_path / "n")
    assert not (tmp_path / "m").exists() and not (tmp_path / "n").exists()


def test_megatron_own_reader_agrees(tokens: Path, big_tokens: Path, tmp_path: Path) -> None:
    """Megatron-LM's IndexedDataset itself, where megatron-core is installed (it is not a dependency)."""
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    for src, name in ((tokens, "u16"), (big_tokens, "u32")):
        export_tokens(src, "megatron", tmp_path / name)
        dataset = indexed.IndexedDataset(str(tmp_path / name / "train"))
        expected = source_documents(src, "train")
        assert len(dataset) == len(expected) and len(dataset.document_indices) == len(expected) + 1
        assert all(np.array_equal(dataset[i], doc) for i, doc in enumerate(expected))
