"""Safe shards: every reader (TokenShards, export-tokens, train) refuses a shard whose dtype or
tokenizer is not what its header, its folder or the caller says, before reading a token."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tokenizer_data import extracted_texts, trained, write_parquet

from corpusforge.errors import TokenizerError
from corpusforge.tokenizer.export import export_tokens
from corpusforge.tokenizer.shards import TokenShards
from corpusforge.tokenizer.tokenize import tokenize


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("safe")
    src = write_parquet(tmp / "in.parquet", extracted_texts()[:40])
    tokenize(trained("multiword-256k", 2000), [str(src)], tmp / "t", workers=1, val_fraction=0.2, quiet=True)
    return tmp / "t"


@pytest.fixture
def tokens(clean: Path, tmp_path: Path) -> Path:
    """A fresh copy to damage."""
    return Path(shutil.copytree(clean, tmp_path / "t"))


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def readers(folder: Path, tmp_path: Path):
    """Each reader of token shards, as a call that must refuse the folder."""
    from corpusforge.train.config import load_train_config
    from corpusforge.train.trainer import train

    config = {"data": str(folder), "out_dir": str(tmp_path / "run"), "max_steps": 1, "device": "cpu"}
    config |= {"seq_len": 16, "batch_size": 2, "eval_interval": 0, "model": {"n_layer": 1, "n_head": 1, "d_model": 8}}
    return {
        "TokenShards": lambda: TokenShards(folder, "train"),
        "export-tokens": lambda: export_tokens(folder, "megatron", tmp_path / "export"),
        "train": lambda: train(load_train_config(data=config), quiet=True),
    }


def test_a_clean_folder_reads(clean: Path) -> None:
    shards = TokenShards(
        clean, "train", tokenizer_sha256=json.loads((clean / "tokenize.json").read_text())["tokenizer_sha256"]
    )
    assert shards.num_documents > 10 and shards.dtype.name == "uint16"


def test_uint16_file_under_a_uint32_header_is_refused_by_every_reader(tokens: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    for header in (tokens / "train").glob("part-*.json"):
        edit_json(header, dtype="uint32")
    edit_json(tokens / "tokenize.json", dtype="uint32")  # the folder agrees: only the file sizes tell
    for name, read in readers(tokens, tmp_path).items():
        with pytest.raises(
            TokenizerError, match=r"part-00000.bin: .* it was written as uint16, but the header says uint32"
        ):
            read()
        assert not (tmp_path / "export").exists(), name  # refused before any output


def test_a_cut_file_is_refused(tokens: Path) -> None:
    bin_path = tokens / "train" / "part-00000.bin"
    bin_path.write_bytes(bin_path.read_bytes()[:-1])
    with pytest.raises(TokenizerError, match="not a multiple of uint16's 2 bytes"):
        TokenShards(tokens, "train")
    bin_path.write_bytes(bin_path.read_bytes()[:-3])
    with pytest.raises(TokenizerError, match="truncated"):
        TokenShards(tokens, "train")


def test_header_disagreeing_with_its_folder_is_refused(tokens: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    for header in (tokens / "train").glob("part-*.json"):
        edit_json(header, tokenizer_sha256="0" * 64)  # shards of another tokenizer copied in
    for read in readers(tokens, tmp_path).values():
        with pytest.raises(TokenizerError, match="tokenizer_sha256 '0000.*differs from .*tokenize.json"):
            read()


def test_the_expected_tokenizer_is_checked(clean: Path) -> None:
    with pytest.raises(TokenizerError, match="not the expected abcdef012345"):
        TokenShards(clean, "val", tokenizer_sha256="abcdef012345" + "0" * 52)


def test_a_vocabulary_past_the_dtype_is_refused(tokens: Path) -> None:
    edit_json(tokens / "tokenize.json", vocab_size=70_000)
    with pytest.raises(TokenizerError, match="70,000 tokens do not fit the shards' uint16"):
        TokenShards(tokens, "train")


def test_an_unreadable_header_is_named(tokens: Path) -> None:
    (tokens / "train" / "part-00000.json").write_text('{"format": "corpusforge.tok')
    with pytest.raises(TokenizerError, match="part-00000.json: not a JSON file corpusforge wrote"):
        TokenShards(tokens, "train")
