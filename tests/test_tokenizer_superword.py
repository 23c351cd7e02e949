"""multiword-256k's two stages (SuperBPE) on real extracted text: memory bounded by the sample."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tokenizer_data import extracted_shards, speeches

from corpusforge.errors import RecipeError
from corpusforge.tokenizer.artifact import load_tokenizer
from corpusforge.tokenizer.recipes import load_recipe, parse_recipe
from corpusforge.tokenizer.train import DocumentSample, train_tokenizer

VOCAB, TEXT, SAMPLE = 3000, 500_000, 150_000  # bytes: stage 1 reads TEXT, stage 2 learns from SAMPLE


def recipe(**keys):
    return parse_recipe(load_recipe("multiword-256k").to_dict() | {"vocab_size": VOCAB} | keys, "test recipe")


@pytest.fixture(scope="module")
def two_stage(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("superword") / "t"
    info = train_tokenizer(
        recipe(superword_sample_bytes=SAMPLE), [str(extracted_shards())], out, max_bytes=TEXT, quiet=True
    )
    return out, info


def pieces(folder: Path) -> list[str]:
    tok = load_tokenizer(folder).tokenizer
    return [tok.decode([i]) for i in range(tok.get_vocab_size())]


def test_shipped_recipe_is_two_stage() -> None:
    mw = load_recipe("multiword-256k")
    assert mw.superword_transition is not None and 0 < mw.superword_transition < 1
    assert mw.superword_sample_bytes <= 64_000_000  # the bound the README's memory figure is for


def test_sample_is_bounded_order_free_and_uniform() -> None:
    texts = list(speeches("state_union")) + list(speeches("inaugural"))
    total = sum(len(t.encode("utf-8")) for t in texts)
    a, b = DocumentSample(total // 4), DocumentSample(total // 4)
    for t in texts:
        a.offer(t)
    for t in reversed(texts):
        b.offer(t)
    kept = a.texts()
    assert a.bytes == sum(len(t.encode("utf-8")) for t in kept) <= total // 4
    assert kept == b.texts()  # the same sample whatever the input order
    assert a.bytes > total // 4 - max(len(t.encode("utf-8")) for t in texts)  # full, up to one document
    assert 0 < len(kept) < len(texts)
    # a document over the whole budget is never kept
    small = DocumentSample(100)
    small.offer("x" * 101)
    assert small.texts() == [] and small.bytes == 0


def test_two_stages_reach_the_vocabulary_with_pieces_across_spaces(two_stage: tuple[Path, dict]) -> None:
    folder, info = two_stage
    stages = info["stages"]
    assert info["vocab_size"] == VOCAB == load_tokenizer(folder).vocab_size
    assert stages["stage1_vocab"] == stages["transition"] == round(VOCAB * 0.4)
    assert stages["stage1_vocab"] + stages["stage2_kept"] == VOCAB
    # the sample respects its bound, and is much less than the text read by stage 1
    assert SAMPLE // 2 < stages["sample_bytes"] <= SAMPLE < TEXT <= info["text_bytes"]
    got = pieces(folder)
    spanning = [p for p in got if re.search(r"\S\s+\S", p)]
    assert len(spanning) > 200, spanning[:10]
    assert max(len(p.encode("utf-8")) for p in got if p != "<|endoftext|>") <= 24
    assert not [p for p in got if re.search(r"\d.|.\d", p, re.DOTALL)]  # digits stay split
    # stage 1 alone never crosses a space: every spanning piece is one of stage 2's
    assert not [p for p in got[: stages["stage1_vocab"]] if re.search(r"\S\s+\S", p)]
    # no sentence end inside a piece: stage 2's words are cut there
    assert not [p for p in spanning if re.search(r"[.!?]\s\S", p)]


def test_same_input_same_tokenizer_json(tmp_path: Path) -> None:
    files = sorted(str(p) for p in extracted_shards().glob("*.parquet"))
    r = recipe(superword_sample_bytes=SAMPLE)
    # all of the text, in two orders of the shards: stage 1's counts and the sample ignore order
    a = train_tokenizer(r, files, tmp_path / "a", quiet=True)
    b = train_tokenizer(r, files[::-1], tmp_path / "b", quiet=True)
    assert a["stages"] == b["stages"] | {k: a["stages"][k] for k in ("stage1_seconds", "stage2_seconds")}
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()


def test_two_stage_tokenizer_is_lossless_on_held_out_text(two_stage: tuple[Path, dict]) -> None:
    tok = load_tokenizer(two_stage[0]).tokenizer
    held = list(speeches("inaugural")[-10:]) + ["a literal <|endoftext|> and 1234 digits. Next sentence!\r\n"]
    ids = [e.ids for e in tok.encode_batch(held, add_special_tokens=False)]
    assert tok.decode_batch(ids, skip_special_tokens=False) == held
    assert all(0 not in i for i in ids)


def test_transition_needs_no_pre_tokenizer() -> None:
    data = load_recipe("bpe-50k").to_dict() | {"superword_transition": 0.5}
    with pytest.raises(RecipeError, match="superword_transition: needs pre_tokenizer: none"):
        parse_recipe(data, "r.yaml")
    with pytest.raises(RecipeError, match="superword_transition"):
        recipe(superword_transition=1.5)


def test_training_json_records_the_stages(two_stage: tuple[Path, dict]) -> None:
    folder, info = two_stage
    on_disk = json.loads((folder / "training.json").read_text())
    assert on_disk["stages"] == info["stages"] and on_disk["recipe"]["superword_sample_bytes"] == SAMPLE
