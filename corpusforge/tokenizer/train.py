"""`corpusforge train-tokenizer RECIPE --input GLOB --output DIR`: a byte-level BPE from shards.

Both recipes use HF `tokenizers`' BPE trainer; a recipe chooses the pre-tokenizer: `gpt2`
(GPT-2's regex splits words first, so no piece crosses a word boundary) or `none` (merges may
cross spaces and punctuation: multi-word pieces such as "New York "). Text streams from the
shards into the trainer, which keeps only its own counts.

With `pre_tokenizer: none` alone, HF counts every text between two digits as one "word": its
memory grows with the text (~2 GB per 32 MB). `superword_transition` trains in SuperBPE's two
stages instead, each bounded:
1. ordinary BPE (GPT-2's regex, digits split) on all the text up to `transition x vocab_size`:
   HF keeps one count per distinct word, which grows far slower than the text (Heaps' law);
2. merges across spaces, learned from a sample of documents of at most `superword_sample_bytes`
   (the documents with the smallest hashes of their text: the same sample whatever the order
   of the shards), cut at sentence ends and digits and segmented by stage 1's merges. HF cannot
   continue training from existing merges, so each stage-1 token becomes one character (code
   point 0x10000 + id) and HF's own trainer, with no pre-tokenizer, learns merges of those
   characters; they are mapped back to byte strings and appended after stage 1's merges.
Merges are applied by rank, so stage 1's merges (all ranked first) segment a text as in
training before any stage-2 merge applies; a stage-2 merge whose piece is over max_piece_length
bytes, or is already a token, is dropped (with the merges built on it), so stage 2 learns a few
more than it needs. The artifact is an ordinary tokenizer.json: the same pre-tokenizer and
decoder as the one-stage recipe.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

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
from corpusforge.tokenizer.recipes import BYTE_ALPHABET, Recipe, load_recipe

TOKENIZER_FILES = (TOKENIZER_FILE, HF_CONFIG_FILE, SPECIAL_TOKENS_FILE, TRAINING_FILE)
# Stage 2's characters: one per stage-1 token, above the surrogates, so any id up to ~1M fits.
CHAR_BASE = 0x10000
# Stage 2 never merges across a sentence end: the whitespace after . ! ? starts the next "word".
SENTENCE_END = Regex(r"(?<=[.!?])\s")
ENCODE_BATCH = 4096


def pre_tokenizer(recipe: Recipe, use_regex: bool) -> pre_tokenizers.PreTokenizer:
    # add_prefix_space=False: a prefix would add a space the text did not have (not lossless).
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)
    if recipe.split_digits:
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    return byte_level


def build(
    recipe: Recipe, show_progress: bool = False, vocab_size: int | None = None
) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """An empty tokenizer and its trainer, as the recipe says (stage 1 of a two-stage recipe:
    GPT-2's regex, up to `vocab_size`)."""
    tokenizer = Tokenizer(models.BPE())
    one_stage = recipe.superword_transition is None
    tokenizer.pre_tokenizer = pre_tokenizer(recipe, use_regex=recipe.pre_tokenizer == "gpt2" or not one_stage)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size or recipe.vocab_size,
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
        show_progress = not quiet and sys.stderr.isatty()
        text = TextStream(files, max_bytes=max_bytes, text_key=text_key, quiet=quiet, desc=f"reading for {recipe.name}")
        started = time.perf_counter()
        stages = None
        if recipe.superword_transition is None:
            tokenizer, trainer = build(recipe, show_progress)
            tokenizer.train_from_iterator(text, trainer)
        else:
            tokenizer, stages = train_two_stages(recipe, text, show_progress)
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
        } | ({"stages": stages} if stages else {})
        save_tokenizer(tokenizer, out, recipe.eos, training)
        return training


class DocumentSample:
    """The longest run of documents, in the order of their text hashes, whose total is at most
    `max_bytes` of UTF-8 (documents over `max_bytes` alone are left out): a uniform sample that
    depends only on the documents, not on their order, and never holds more than `max_bytes`
    (plus the one document being considered)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._heap: list[tuple[int, str, int]] = []  # (-hash, text, size): the largest hash on top
        # Every document hashed at or above `cut` is out: the run stopped before it.
        self._cut = 1 << 64

    def offer(self, text: str) -> None:
        data = text.encode("utf-8")
        size = len(data)
        if size > self.max_bytes:
            return
        h = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
        if h >= self._cut:
            return
        if self.bytes + size > self.max_bytes and (not self._heap or h > -self._heap[0][0]):
            self._cut = h  # after every kept document, and it does not fit: the run ends here
            return
        heapq.heappush(self._heap, (-h, text, size))
        self.bytes += size
        while self.bytes > self.max_bytes:
            key, _, dropped = heapq.heappop(self._heap)
            self.bytes -= dropped
            self._cut = -key

    @property
    def documents(self) -> int:
        return len(self._heap)

    def texts(self) -> list[str]:
        """In hash order: the sample's order does not depend on the input's."""
        return [t for _, t, _ in sorted(self._heap, reverse=True)]

    def passing(self, texts: Iterable[str]) -> Iterator[str]:
        """Yield `texts` unchanged, offering each to the sample on the way."""
        for t in texts:
            self.offer(t)
            yield t


def train_two_stages(recipe: Recipe, text: TextStream, show_progress: bool) -> tuple[Tokenizer, dict[str, Any]]:
    """SuperBPE's two stages (see the module docstring); returns the tokenizer and what each did."""
    assert recipe.superword_transition is not None
    transition = max(
        BYTE_ALPHABET + len(recipe.all_special_tokens) + 1, round(recipe.vocab_size * recipe.superword_transition)
    )
    started = time.perf_counter()
    stage1, trainer = build(recipe, show_progress, vocab_size=transition)
    sample = DocumentSample(recipe.superword_sample_bytes)
    stage1.train_from_iterator(sample.passing(text), trainer)
    model = json.loads(stage1.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    merges: list[tuple[str, str]] = [
        tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]
    ]
    stats: dict[str, Any] = {
        "transition": transition,
        "stage1_vocab": len(vocab),
        "stage1_seconds": round(time.perf_counter() - started, 2),
        "sample_documents": sample.documents,
        "sample_bytes": sample.bytes,
    }
    started = time.perf_counter()
    wanted = recipe.vocab_size - len(vocab)
    if wanted > 0:
        texts = sample.texts()
        del sample
        new = superword_merges(recipe, stage1, vocab, texts, wanted, stats, show_progress)
        for a, b in new:
            vocab[a + b] = len(vocab)
        merges += new
    stats["stage2_seconds"] = round(time.perf_counter() - started, 2)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizer(recipe, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(recipe.all_special_tokens)
    return tokenizer, stats


def superword_merges(
    recipe: Recipe,
    stage1: Tokenizer,
    vocab: dict[str, int],
    texts: list[str],
    wanted: int,
    stats: dict[str, Any],
    show_progress: bool,
) -> list[tuple[str, str]]:
    """Up to `wanted` merges across spaces, learned on `texts` segmented by stage 1's merges."""
    # Stage 2's words: sentences, cut at digits (each digit stays its own token), as byte-level text.
    split = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(SENTENCE_END, behavior="merged_with_next"), pre_tokenizers.Digits(individual_digits=True)]
    )
    stage1.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    stage1.encode_special_tokens = True  # a literal "<|endoftext|>" in a page is text, never EOS
    words: list[str] = []
    for start in range(0, len(texts), ENCODE_BATCH):
        pieces = [p for t in texts[start : start + ENCODE_BATCH] for p, _ in split.pre_tokenize_str(t)]
        for enc in stage1.encode_batch_fast(pieces, add_special_tokens=False):
            if len(enc.ids) > 1:  # one token: no pair to count
                words.append((np.asarray(enc.ids, dtype="<u4") + CHAR_BASE).tobytes().decode("utf-32-le"))
        texts[start : start + ENCODE_BATCH] = [""] * len(texts[start : start + ENCODE_BATCH])
    stats["stage2_words"] = len(words)
    alphabet = len({c for w in words for c in w})
    # Some merges will be dropped (too long in bytes, or a token already): ask for a margin more.
    trainer = trainers.BpeTrainer(
        vocab_size=alphabet + wanted + wanted // 10 + 100,
        min_frequency=recipe.min_frequency,
        max_token_length=recipe.max_piece_length,  # in stage-1 tokens, each >= 1 byte: a loose bound
        show_progress=show_progress,
    )
    stage2 = Tokenizer(models.BPE())
    stage2.train_from_iterator(words, trainer, length=len(words))
    del words
    learned = json.loads(stage2.to_str())["model"]["merges"]
    del stage2
    pieces_of = {chr(CHAR_BASE + i): piece for piece, i in vocab.items()}

    def piece(chars: str) -> str:
        return "".join(pieces_of[c] for c in chars)

    kept_chars = set(pieces_of)
    known = set(vocab)
    out: list[tuple[str, str]] = []
    limit = recipe.max_piece_length
    for merge in learned:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        if a not in kept_chars or b not in kept_chars:
            continue  # built on a dropped merge
        left, right = piece(a), piece(b)
        joined = left + right  # byte-level: one character per byte
        if (limit is not None and len(joined) > limit) or joined in known:
            continue
        kept_chars.add(a + b)
        known.add(joined)
        out.append((left, right))
        if len(out) == wanted:
            break
    stats |= {"stage2_learned": len(learned), "stage2_kept": len(out)}
    return out


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
