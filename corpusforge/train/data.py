"""Training and validation batches from token shards, each a pure function of (seed, step).

A batch is not drawn from a generator that has to be saved and restored: micro-batch k of step s
comes from `default_rng([seed, 0, s, k])`, where k = rank · grad_accum + micro-step. So a
resumed run draws exactly the batches the uninterrupted one would have, with nothing but the
step number in the checkpoint; and 2 ranks × 1 micro-step read the same data as 1 rank × 2.
Validation batch i comes from `default_rng([seed, 1, i, rank])`: the same windows at every
evaluation, so successive validation losses are comparable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from corpusforge.tokenizer.shards import TokenShards

TRAIN_STREAM, VAL_STREAM = 0, 1


class Batches:
    """Packed windows of seq_len + 1 tokens (across document boundaries, EOS between documents)."""

    def __init__(
        self,
        folder: str | Path,
        split: str,
        seq_len: int,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.shards = TokenShards(folder, split)
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.device = torch.device(device)

    def train_batch(self, step: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Micro-batch `index` (rank · grad_accum + micro-step) of optimizer step `step`."""
        return self._draw([self.seed, TRAIN_STREAM, step, index])

    def val_batch(self, i: int, rank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        return self._draw([self.seed, VAL_STREAM, i, rank])

    def _draw(self, key: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.shards.sample_batch(np.random.default_rng(key), self.batch_size, self.seq_len)
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        if self.device.type == "cuda":  # pinned memory lets the copy overlap the previous step's kernels
            return x.pin_memory().to(self.device, non_blocking=True), y.pin_memory().to(self.device, non_blocking=True)
        return x, y


def unigram_entropy(shards: TokenShards, vocab_size: int, max_tokens: int = 100_000_000) -> float:
    """Entropy (nats) of the token frequencies in the first max_tokens tokens: the loss of the
    best model that ignores context, the bar a trained model's validation loss must clear."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    left = max_tokens
    for tokens in shards.tokens:
        chunk = tokens[:left]
        counts += np.bincount(chunk, minlength=vocab_size)[:vocab_size]
        left -= len(chunk)
        if left <= 0:
            break
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
