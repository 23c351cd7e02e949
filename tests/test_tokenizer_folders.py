"""Tokenizer folders transformers reads the same way by every route: tokenizer.json,
tokenizer_config.json and special_tokens_map.json (bos = eos = pad = EOS, id 0), the same ids
from tokenizers, PreTrainedTokenizerFast(tokenizer_file=...), AutoTokenizer and `corpusforge
tokenize`, a literal EOS in the text included (it is text, never the EOS id)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tokenizer_data import extracted_texts, trained, write_parquet
from tokenizers import Tokenizer

from corpusforge.tokenizer.artifact import load_tokenizer
from corpusforge.tokenizer.shards import TokenShards
from corpusforge.tokenizer.tokenize import tokenize

EOS = "<|endoftext|>"
TRICKY = [
    f"a page that spells {EOS} out",
    f"{EOS}",
    f"two{EOS}{EOS}glued, and <|endoftext| cut, and <|ENDOFTEXT|>",
    f"  {EOS}\n\nafter a blank line",
]


@pytest.fixture(scope="module", params=["bpe-50k", "multiword-256k"])
def folder(request) -> Path:
    return trained(request.param, 2000)


def test_the_folder_names_its_special_tokens(folder: Path) -> None:
    from transformers import AutoTokenizer

    assert json.loads((folder / "special_tokens_map.json").read_text()) == {
        "bos_token": EOS,
        "eos_token": EOS,
        "pad_token": EOS,
    }
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["eos_token"] == config["bos_token"] == config["pad_token"] == EOS
    auto = AutoTokenizer.from_pretrained(str(folder))
    assert (auto.eos_token_id, auto.bos_token_id, auto.pad_token_id) == (0, 0, 0)
    assert auto("some text").input_ids == auto("some text", add_special_tokens=False).input_ids  # nothing added
    assert auto.decode([0]) == EOS and auto.decode([5, 0], skip_special_tokens=True) == auto.decode([5])


def test_every_route_gives_the_same_ids(folder: Path) -> None:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    texts = TRICKY + extracted_texts()[:30]
    routes = {
        "corpusforge": lambda ts: [
            e.ids for e in load_tokenizer(folder).tokenizer.encode_batch(ts, add_special_tokens=False)
        ],
        "tokenizers": lambda ts: [
            e.ids
            for e in Tokenizer.from_file(str(folder / "tokenizer.json")).encode_batch(ts, add_special_tokens=False)
        ],
        "PreTrainedTokenizerFast": lambda ts: PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))(
            ts, add_special_tokens=False
        )["input_ids"],
        "AutoTokenizer": lambda ts: AutoTokenizer.from_pretrained(str(folder))(ts, add_special_tokens=False)[
            "input_ids"
        ],
    }
    ids = {name: encode(texts) for name, encode in routes.items()}
    for name, got in ids.items():
        assert got == ids["corpusforge"], name
    assert all(0 not in doc for doc in ids["corpusforge"])  # the literal EOS is split, never id 0
    auto = AutoTokenizer.from_pretrained(str(folder))
    assert [auto.decode(doc) for doc in ids["AutoTokenizer"]] == texts


def test_tokenize_agrees(folder: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    src = write_parquet(tmp_path / "in.parquet", TRICKY)
    tokenize(folder, [str(src)], tmp_path / "t", workers=1, quiet=True)
    shards = TokenShards(tmp_path / "t", "train")
    auto = AutoTokenizer.from_pretrained(str(folder))
    got = sorted(d.tolist() for d in shards)
    assert got == sorted(auto(TRICKY, add_special_tokens=False)["input_ids"])
    assert int(np.concatenate(shards.tokens).tolist().count(0)) == len(TRICKY)  # EOS only after each document
