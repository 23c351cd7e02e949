"""`corpusforge train-tokenizer RECIPE --input GLOB --output DIR`: a byte-level BPE from shards.

Both recipes use HF `tokenizers`' BPE trainer; a recipe only chooses the pre-tokenizer: `gpt2`
(GPT-2's regex splits words first, so no piece crosses a word boundary) or `none` (merges may
cross spaces and punctuation: multi-word pieces such as "New York "). Text streams from the
shards into the trainer, which keeps only its own counts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from corpusforge.engine.stats import peak_rss_mb
from corpusforge.errors import TokenizerError, VocabularyTooLargeError
from corpusforge.io.run_folder import RunFolder
from corpusforge.tokenizer.artifact import (
    HF_CONFIG_FILE,
    SPECIAL_TOKENS_FILE,
    TOKENIZER_FILE,
    TRAINING_FILE,
    save_tokenizer,
)
from corpusforge.tokenizer.corpus import TextStream, resolve_shards
from corpusforge.tokenizer.recipes import Recipe, load_recipe

TOKENIZER_FILES = (TOKENIZER_FILE, HF_CONFIG_FILE, SPECIAL_TOKENS_FILE, TRAINING_FILE)


def build(recipe: Recipe, show_progress: bool = False) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """An empty tokenizer and its trainer, as the recipe says."""
    tokenizer = Tokenizer(models.BPE())
    # add_prefix_space=False: a prefix would add a space the text did not have (not lossless).
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=recipe.pre_tokenizer == "gpt2")
    if recipe.split_digits:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=recipe.vocab_size,
        min_frequency=recipe.min_frequency,
        special_tokens=recipe.all_special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: nothing is unknown
        max_token_length=recipe.max_piece_length,
        show_progress=show_progress,  # HF draws its merge bar only on a terminal
    )
    return tokenizer, trainer


def train_tokenizer(
    recipe: str | Path | Recipe,
    inputs: list[str],
    output: str | Path,
    vocab_size: int | None = None,
    max_bytes: int | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    fit_vocab: bool = False,
    text_key: str = "text",
) -> dict[str, Any]:
    """Train, check the vocabulary was reached, save; returns what training.json records.
    With `fit_vocab`, a text too small for vocab_size keeps the vocabulary it reached (the
    same merges a retrain at that size would make) instead of raising."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    recipe = recipe.with_vocab_size(vocab_size)
    if max_bytes is not None and max_bytes < 1:
        raise TokenizerError(f"--max-bytes must be positive, got {max_bytes}")
    files = resolve_shards(inputs)
    out = Path(output)
    with RunFolder(
        out, "tokenizer", TOKENIZER_FILES, inputs=files, legacy=lambda f: (f / TOKENIZER_FILE).is_file()
    ) as folder:
        folder.start(overwrite, "a tokenizer (token shards made with it record its hash and would no longer match)")
        tokenizer, trainer = build(recipe, show_progress=not quiet and sys.stderr.isatty())
        text = TextStream(files, max_bytes=max_bytes, text_key=text_key, quiet=quiet, desc=f"reading for {recipe.name}")
        started = time.perf_counter()
        tokenizer.train_from_iterator(text, trainer)
        seconds = time.perf_counter() - started
        if text.docs == 0:
            raise TokenizerError(f"no text in {len(files)} input file(s): every document is empty")

        reached = tokenizer.get_vocab_size(with_added_tokens=True)
        if reached < recipe.vocab_size and fit_vocab:
            recipe = recipe.with_vocab_size(reached)
        elif reached < recipe.vocab_size:
            raise VocabularyTooLargeError(
                too_large_message(recipe, reached, text, max_bytes), requested=recipe.vocab_size, supported=reached
            )

        training = {
            "recipe": recipe.to_dict(),
            "inputs": files,
            "text_key": text_key,
            "max_bytes": max_bytes,
            "documents": text.docs,
            "text_bytes": text.bytes,
            "truncated_by_max_bytes": text.truncated,
            "vocab_size": reached,
            "eos_id": tokenizer.token_to_id(recipe.eos),
            "seconds": round(seconds, 2),
            "peak_rss_mb": peak_rss_mb(),
        }
        save_tokenizer(tokenizer, out, recipe.eos, training)
        return training


def too_large_message(recipe: Recipe, reached: int, text: TextStream, max_bytes: int | None) -> str:
    """Say which size fits this text and roughly how much text the requested size needs."""
    mb = text.bytes / 1e6
    msg = (
        f"vocab_size {recipe.vocab_size:,} is too large for this text: {mb:,.1f} MB ({text.docs:,} documents) "
        f"gives only {reached:,} tokens before no pair of pieces occurs {recipe.min_frequency}+ times "
        f"(min_frequency). Use --vocab-size {reached} (training is greedy: the same merges), "
    )
    if text.truncated:
        return msg + f"or raise --max-bytes (it stopped reading at {max_bytes:,} bytes)"
    # Frequent pieces grow more slowly than the text, so linear scaling is a lower bound.
    needed = mb * recipe.vocab_size / reached
    return msg + f"or train on more text: at least ~{needed:,.{1 if needed < 10 else 0}f} MB, likely several times that"
