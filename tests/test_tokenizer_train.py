"""train-tokenizer and tokenizer-stats on text extracted from the real crawls (small vocabularies)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tokenizer_data import ROOT, extracted_shards, extracted_texts, speeches, trained, write_parquet
from tokenizers import Tokenizer

from corpusforge.cli import main
from corpusforge.errors import RecipeError, TokenizerError, VocabularyTooLargeError
from corpusforge.tokenizer.artifact import load_tokenizer
from corpusforge.tokenizer.recipes import load_recipe, parse_recipe
from corpusforge.tokenizer.stats import format_stats, tokenizer_stats
from corpusforge.tokenizer.train import train_tokenizer

BPE_VOCAB, MULTIWORD_VOCAB = 2000, 3000

# Text a tokenizer must survive byte for byte: control tokens spelled out, SentencePiece's
# meta space, emoji sequences, CJK, RTL, CR LF, tabs, NUL, zero-width, combining marks, digits.
EDGE_TEXTS = [
    "a literal <|endoftext|> inside a page, and <unk> and <0x41>",
    "▁ a literal meta space ▁▁ (SentencePiece would decode it as a space)",
    "emoji 🤖 👩‍👩‍👧 flags 🇫🇷, Tokyo 東京, Hebrew שלום, Greek αβγ",
    "tabs\tand\r\nWindows\r\nline endings\n\n\n",
    "   leading and trailing spaces   ",
    "nul \x00 del \x7f zero\u200bwidth, e\u0301 combining, ｆｕｌｌ width",
    "digits 1234567890 3.14159 2024-01-01 ٣٤٥",
]


@pytest.fixture(scope="module")
def bpe() -> Path:
    return trained("bpe-50k", BPE_VOCAB)


@pytest.fixture(scope="module")
def multiword() -> Path:
    return trained("multiword-256k", MULTIWORD_VOCAB)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Every extracted document, some held-out speeches and the edge cases."""
    return extracted_texts() + list(speeches("state_union")[:8]) + EDGE_TEXTS


def test_shipped_recipes() -> None:
    bpe, mw = load_recipe("bpe-50k"), load_recipe(ROOT / "tokenizers" / "multiword-256k.yaml")
    assert (bpe.vocab_size, bpe.eos, bpe.pre_tokenizer, bpe.split_digits) == (50257, "<|endoftext|>", "gpt2", False)
    assert (mw.vocab_size, mw.pre_tokenizer, mw.split_digits, mw.max_piece_length) == (256000, "none", True, 24)
    # The recipe folder holds recipes only: it must never shadow the HF `tokenizers` package.
    assert not list((ROOT / "tokenizers").glob("*.py"))
    import tokenizers

    assert "site-packages" in tokenizers.__file__


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "x", "vocab_size": 1000, "pre_tokenizer": "bert"}, "pre_tokenizer: expected one of gpt2, none"),
        ({"name": "x", "vocab_size": 1000, "splt_digits": True}, "unknown key(s) ['splt_digits']"),
        ({"name": "x", "vocab_size": 100}, "vocab_size: expected an integer >= 258"),
        ({"vocab_size": 1000}, "missing required key 'name'"),
        (
            {"name": "x", "vocab_size": 1000, "max_piece_length": 1},
            "max_piece_length: expected null or an integer >= 2",
        ),
    ],
)
def test_recipe_errors_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=re.escape(message)):
        parse_recipe(data, "r.yaml")


def test_unknown_recipe_lists_the_shipped_ones() -> None:
    with pytest.raises(RecipeError, match="bpe-50k, multiword-256k"):
        load_recipe("bpe-32k")


def test_both_recipes_train_on_extracted_text(bpe: Path, multiword: Path) -> None:
    for folder, recipe, size in ((bpe, "bpe-50k", BPE_VOCAB), (multiword, "multiword-256k", MULTIWORD_VOCAB)):
        loaded = load_tokenizer(folder)
        info = json.loads((folder / "training.json").read_text())
        assert loaded.vocab_size == size == info["vocab_size"]
        assert (loaded.eos, loaded.eos_id, loaded.name) == ("<|endoftext|>", 0, recipe)
        assert info["documents"] == 218 and info["text_bytes"] > 900_000 and info["sha256"] == loaded.sha256
        assert info["recipe"]["vocab_size"] == size and info["inputs"] == sorted(info["inputs"])


def test_round_trip_is_lossless_on_every_document(bpe: Path, multiword: Path, texts: list[str]) -> None:
    for folder in (bpe, multiword):
        tok = load_tokenizer(folder).tokenizer
        ids = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        decoded = tok.decode_batch(ids, skip_special_tokens=False)
        bad = [i for i, (a, b) in enumerate(zip(texts, decoded)) if a != b]
        assert not bad, f"{folder.name}: {len(bad)} documents differ, first {texts[bad[0]][:80]!r}"
        # A literal "<|endoftext|>" in a page is text, never the EOS id.
        assert all(0 not in i for i in ids)


def test_tokenizer_json_loads_and_encodes_identically(multiword: Path, bpe: Path, texts: list[str]) -> None:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    assert any("<|endoftext|>" in t for t in texts)  # the literal EOS is text by every route
    for folder in (multiword, bpe):
        ours = load_tokenizer(folder).tokenizer
        hf = Tokenizer.from_file(str(folder / "tokenizer.json"))
        fast = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
        auto = AutoTokenizer.from_pretrained(str(folder))  # reads tokenizer_config.json: EOS, split_special_tokens
        expected = [e.ids for e in ours.encode_batch(texts, add_special_tokens=False)]
        assert [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)] == expected
        assert fast(texts, add_special_tokens=False)["input_ids"] == expected
        assert auto(texts, add_special_tokens=False)["input_ids"] == expected
        assert auto.eos_token == "<|endoftext|>" and auto.eos_token_id == 0
        assert [auto.decode(e) for e in expected[:20]] == texts[:20]


def test_multiword_pieces_span_words_and_bpe_pieces_do_not(bpe: Path, multiword: Path) -> None:
    mw = load_tokenizer(multiword).tokenizer
    pieces = [mw.decode([i]) for i in range(mw.get_vocab_size())]
    spanning = [p for p in pieces if re.search(r"\S\s+\S", p)]
    assert len(spanning) > 100, spanning[:10]  # e.g. "of the ", "New York"
    assert not [p for p in pieces if re.search(r"\d.|.\d", p, re.DOTALL)]  # digits are split
    assert max(len(p.encode("utf-8")) for p in pieces if p != "<|endoftext|>") <= 24  # max_piece_length
    gpt2 = load_tokenizer(bpe).tokenizer
    assert not [p for i in range(gpt2.get_vocab_size()) if re.search(r"\S\s+\S", p := gpt2.decode([i]))]


def test_vocabulary_too_large_says_which_size_fits(tmp_path: Path) -> None:
    shards = [str(extracted_shards())]
    with pytest.raises(VocabularyTooLargeError) as err:
        train_tokenizer("bpe-50k", shards, tmp_path / "t", quiet=True)
    supported = err.value.supported
    assert 5_000 < supported < 50_257 and err.value.requested == 50_257
    assert f"Use --vocab-size {supported}" in str(err.value) and "MB" in str(err.value)
    assert not (tmp_path / "t" / "tokenizer.json").exists()
    # The size it names works, and gives the same merges as the longer run would have.
    info = train_tokenizer("bpe-50k", shards, tmp_path / "t", vocab_size=supported, quiet=True)
    assert info["vocab_size"] == supported


def test_max_bytes_samples_the_first_bytes(tmp_path: Path, capsys) -> None:
    shards = str(extracted_shards())
    info = train_tokenizer("multiword-256k", [shards], tmp_path / "a", vocab_size=600, max_bytes=200_000, quiet=True)
    assert 200_000 <= info["text_bytes"] < 300_000 and info["truncated_by_max_bytes"]
    # Too large for the sample: the error points at --max-bytes, through the CLI, without a traceback.
    code = main(
        [
            "train-tokenizer",
            "bpe-50k",
            "--input",
            shards,
            "--output",
            str(tmp_path / "b"),
            "--max-bytes",
            "50K",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "raise --max-bytes" in err and "Traceback" not in err


def test_existing_tokenizer_needs_overwrite(tmp_path: Path, capsys) -> None:
    shards = str(extracted_shards())
    args = [
        "train-tokenizer",
        "bpe-50k",
        "--input",
        shards,
        "--output",
        str(tmp_path / "t"),
        "--vocab-size",
        "500",
        "--max-bytes",
        "100K",
        "--quiet",
    ]
    assert main(args) == 0 and "500 tokens" in capsys.readouterr().out
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_no_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no file matches"):
        train_tokenizer("bpe-50k", [str(tmp_path / "*.parquet")], tmp_path / "t", quiet=True)
    write_parquet(tmp_path / "empty.parquet", ["", None])
    with pytest.raises(TokenizerError, match="every document is empty"):
        train_tokenizer("bpe-50k", [str(tmp_path / "empty.parquet")], tmp_path / "t", vocab_size=300, quiet=True)


def test_tokenizer_stats_side_by_side(bpe: Path, multiword: Path, tmp_path: Path, capsys) -> None:
    held_out = write_parquet(tmp_path / "held.parquet", list(speeches("inaugural")[-30:]))
    result = tokenizer_stats([bpe, multiword], [str(held_out)], quiet=True)
    rows = {r["recipe"]: r for r in result["tokenizers"]}
    assert [r["name"] for r in result["tokenizers"]] == [bpe.name, multiword.name]  # labelled by folder
    assert result["documents"] == 30
    gpt2, mw = rows["bpe-50k"], rows["multiword-256k"]
    assert gpt2["round_trip_failures"] == mw["round_trip_failures"] == 0
    assert gpt2["spanning_share"] == 0 and mw["spanning_share"] > 0.05
    assert mw["bytes_per_token"] > gpt2["bytes_per_token"] > 3
    assert 0 < gpt2["vocab_used"] <= BPE_VOCAB and gpt2["held_out"] and mw["held_out"]

    assert main(["tokenizer-stats", str(bpe), str(multiword), "--input", str(held_out), "--quiet"]) == 0
    out = capsys.readouterr().out
    for label in ("bytes per token", "tokens per word", "vocabulary used", "tokens spanning a space", "round trip"):
        assert label in out
    assert "not held-out" not in out
    # two tokenizers of one recipe get the columns of their folders, not the recipe's name twice
    small = trained("bpe-50k", 300)
    table = format_stats(tokenizer_stats([bpe, small], [str(held_out)], quiet=True))
    assert f"{bpe.name}" in table and f"{small.name}" in table and bpe.name != small.name
    # Stats on the training shards say so.
    assert "not held-out text" in format_stats(tokenizer_stats([bpe], [str(extracted_shards())], quiet=True))


def test_merge_progress_shows_on_a_terminal(tmp_path):
    """HF draws its bar only on a terminal: run train-tokenizer on a pseudo-terminal."""
    import os
    import pty
    import subprocess
    import sys

    main_fd, term_fd = pty.openpty()
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    args = ["train-tokenizer", "bpe-50k", "--input", str(extracted_shards()), "--vocab-size", "600"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "corpusforge", *args, "--output", str(tmp_path / "tok")],
        stdout=term_fd,
        stderr=term_fd,
        env=env,
    )
    os.close(term_fd)
    seen = b""
    while True:
        try:
            chunk = os.read(main_fd, 1 << 16)
        except OSError:  # the terminal closed: the process exited
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait() == 0, seen.decode(errors="replace")
    assert re.search(rb"Compute merges[^\n\r]*\d+\s*/\s*600", seen), seen[-2000:]
