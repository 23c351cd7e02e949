"""Training and validation batches from token shards, each a pure function of (seed, step).

A batch is not drawn from a generator that has to be saved and restored: micro-batch k of step s
comes from `default_rng([seed, 0, s, k])`, where k = rank · grad_accum + micro-step. So a
resumed run draws exactly the batches the uninterrupted one would have, with nothing but the
step number in the checkpoint; and 2 ranks × 1 micro-step read the same data as 1 rank × 2.
Validation batch i comes from `default_rng([seed, 1, i, rank])`: the same windows at every
evaluation, so successive validation losses are comparable.

Windows start anywhere in the token stream (`PackedSequences` with stride 1, nanoGPT's
sampling). On a mixture (`tokenizer.mixture`), which source a window comes from is decided by
its row number in the whole run, g = (step · micro-batches per step + k) · batch_size + row,
through `SourceSchedule`: a low-discrepancy sequence, so that after any n rows every source has
its share of them within a few rows, and the rows of a step are the same however they are
split between ranks and micro-steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from corpusforge.errors import TrainError
from corpusforge.tokenizer.mixture import Mixture, is_mixture, read_mixture
from corpusforge.tokenizer.shards import TokenShards
from corpusforge.train.dataset import PackedSequences

TRAIN_STREAM, VAL_STREAM = 0, 1
GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: Weyl's sequence in fixed point


class SourceSchedule:
    """Which source row g of a run reads: u_g = frac(offset + g / φ) against the cumulative shares.

    The golden-ratio Weyl sequence is equidistributed with discrepancy O(log n / n): the rows
    of every source among the first n are within a few rows of share · n, for every n. Integer
    arithmetic modulo 2**64 keeps it exact at any row number."""

    def __init__(self, shares: list[float], seed: int, stream: int) -> None:
        self.bounds = np.cumsum(shares[:-1]) / sum(shares)
        self.offset = np.random.default_rng([seed, 2, stream]).integers(0, 2**64, dtype=np.uint64)

    def sources(self, rows: np.ndarray) -> np.ndarray:
        u = (rows.astype(np.uint64) * GOLDEN + self.offset) >> np.uint64(11)  # 53 bits: exact in a float
        return np.searchsorted(self.bounds, u.astype(np.float64) / 2.0**53, side="right")

    def counts(self, first: int, stop: int, chunk: int = 1 << 20) -> np.ndarray:
        """Rows per source among rows [first, stop)."""
        total = np.zeros(len(self.bounds) + 1, dtype=np.int64)
        for a in range(first, stop, chunk):
            total += np.bincount(self.sources(np.arange(a, min(stop, a + chunk))), minlength=len(total))
        return total


class Batches:
    """Windows of seq_len + 1 tokens (across document boundaries, EOS between documents) from a
    tokenize folder or a tokenized mixture; `micro_batches` (world size × grad_accum) numbers
    the rows of a step for the mixture's schedule."""

    def __init__(
        self,
        folder: str | Path,
        split: str,
        seq_len: int,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
        micro_batches: int = 1,
    ) -> None:
        self.mixture: Mixture | None = read_mixture(folder) if is_mixture(folder) else None
        if self.mixture is None:
            self.names, shares, folders = [Path(folder).name], [1.0], [Path(folder)]
        else:
            # a small source may have no document in val/: validation is over the sources that have one
            usable = [s for s in self.mixture.sources if split == "train" or (s.folder / split).is_dir()]
            if not usable:
                raise TrainError(f"{folder}: no source of the mixture has a {split}/ split")
            self.names, shares, folders = (
                [s.name for s in usable],
                [s.share for s in usable],
                [s.folder for s in usable],
            )
        self.shares = [s / sum(shares) for s in shares]
        self.sequences = [PackedSequences(TokenShards(f, split), seq_len, stride=1) for f in folders]
        self.schedule = SourceSchedule(self.shares, seed, TRAIN_STREAM if split == "train" else VAL_STREAM)
        self.seq_len, self.batch_size, self.seed, self.micro_batches = seq_len, batch_size, seed, micro_batches
        self.device = torch.device(device)

    @property
    def num_tokens(self) -> int:
        return sum(s.shards.num_tokens for s in self.sequences)

    def train_batch(self, step: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Micro-batch `index` (rank · grad_accum + micro-step) of optimizer step `step`."""
        return self._draw([self.seed, TRAIN_STREAM, step, index], (step * self.micro_batches + index) * self.batch_size)

    def val_batch(self, i: int, rank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        return self._draw([self.seed, VAL_STREAM, i, rank], i * self.batch_size)

    def rows_per_source(self, stop: int, start: int = 0) -> np.ndarray:
        """Training rows each source gives optimizer steps [start, stop) (all ranks together)."""
        rows = self.micro_batches * self.batch_size
        return self.schedule.counts(start * rows, stop * rows)

    def _draw(self, key: list[int], first_row: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(key)
        u = rng.random(self.batch_size)
        source = self.schedule.sources(np.arange(first_row, first_row + self.batch_size))
        windows = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        for s in np.unique(source):
            rows = source == s
            n = len(self.sequences[s])
            windows[rows] = self.sequences[s].windows(np.minimum((u[rows] * n).astype(np.int64), n - 1))
        x, y = (torch.from_numpy(np.ascontiguousarray(w)) for w in (windows[:, :-1], windows[:, 1:]))
        if self.device.type == "cuda":  # pinned memory lets the copy overlap the previous step's kernels
            return x.pin_memory().to(self.device, non_blocking=True), y.pin_memory().to(self.device, non_blocking=True)
        return x, y

    def unigram_entropy(self, vocab_size: int, max_tokens: int = 100_000_000) -> float:
        """`unigram_entropy` of the training distribution: each source's frequencies weighted by its share."""
        p = sum(
            share * _frequencies(s.shards, vocab_size, max_tokens // len(self.sequences))
            for share, s in zip(self.shares, self.sequences)
        )
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())


def _frequencies(shards: TokenShards, vocab_size: int, max_tokens: int) -> np.ndarray:
    counts = np.zeros(vocab_size, dtype=np.int64)
    left = max_tokens
    for tokens in shards.tokens:
        chunk = tokens[:left]
        counts += np.bincount(chunk, minlength=vocab_size)[:vocab_size]
        left -= len(chunk)
        if left <= 0:
            break
    return counts / counts.sum()


def unigram_entropy(shards: TokenShards, vocab_size: int, max_tokens: int = 100_000_000) -> float:
    """Entropy (nats) of the token frequencies in the first max_tokens tokens: the loss of the
    best model that ignores context, the bar a trained model's validation loss must clear."""
    p = _frequencies(shards, vocab_size, max_tokens)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())
