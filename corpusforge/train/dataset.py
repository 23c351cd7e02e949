"""PyTorch datasets over the token shards of `corpusforge tokenize`.

A split's shards, read back to back in file order, are one token stream with EOS between
documents (a shard ends with an EOS, so no window ever joins two documents without one).

- `PackedSequences` (map-style): item i is the window of seq_len + 1 tokens starting at
  i · stride, so x = item[:-1] and y = item[1:]. With the default stride of seq_len,
  consecutive items share one token and every token but the first is predicted exactly once
  (GPT-NeoX's and Megatron's packed samples); with stride 1 every start is an item, which is
  what the trainer samples from (nanoGPT's random windows), see `data.Batches`.
- `StreamingSequences` (iterable): the packed sequences in a seeded shuffled order, each DDP
  rank (and each DataLoader worker within it) reading its own disjoint share; `set_epoch`
  reshuffles, as `DistributedSampler` does.

Both memory-map the shards: nothing is read until an item is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from corpusforge.errors import TokenizerError
from corpusforge.tokenizer.shards import TokenShards

READ_AHEAD = 64  # windows read per numpy call when streaming


class PackedSequences(Dataset):
    """Windows of seq_len + 1 tokens over one split's token stream (int64 tensors)."""

    def __init__(
        self, data: str | Path | TokenShards, seq_len: int, split: str = "train", stride: int | None = None
    ) -> None:
        self.shards = data if isinstance(data, TokenShards) else TokenShards(data, split)
        self.seq_len, self.stride = seq_len, stride or seq_len
        if seq_len < 1 or self.stride < 1:
            raise ValueError(f"seq_len and stride must be positive, got {seq_len} and {self.stride}")
        self._starts = np.cumsum([0] + [len(t) for t in self.shards.tokens])  # shard s begins at _starts[s]
        tokens = int(self._starts[-1])
        if tokens < seq_len + 1:
            raise TokenizerError(
                f"{self.shards.folder}: {tokens:,} tokens, fewer than one window of seq_len + 1 = {seq_len + 1}"
            )
        self._len = (tokens - seq_len - 1) // self.stride + 1

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> torch.Tensor:
        if not -self._len <= i < self._len:
            raise IndexError(i)
        return torch.from_numpy(self.windows(np.array([i % self._len]))[0])

    def windows(self, items: np.ndarray) -> np.ndarray:
        """The windows of `items` (valid indices) as one (len(items), seq_len + 1) int64 array."""
        out = np.empty((len(items), self.seq_len + 1), dtype=np.int64)
        for row, start in enumerate(np.asarray(items, dtype=np.int64) * self.stride):
            self._read(int(start), out[row])
        return out

    def _read(self, start: int, out: np.ndarray) -> None:
        """Tokens [start, start + len(out)) of the stream, across shard ends where a window spans them."""
        s, filled = int(np.searchsorted(self._starts, start, side="right")) - 1, 0
        while filled < len(out):
            tokens = self.shards.tokens[s]
            begin = start + filled - int(self._starts[s])
            piece = tokens[begin : begin + len(out) - filled]
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
            s += 1


class StreamingSequences(IterableDataset):
    """`PackedSequences` in a seeded order, split between DDP ranks and DataLoader workers.

    Rank r of world_size reads items order[r::world_size] of the epoch's permutation (seeded by
    (seed, epoch)), and a DataLoader worker w of n reads every n-th of those: the ranks' items
    are disjoint and together are every item once. `drop_last` trims the permutation to a
    multiple of world_size, so every rank yields the same number of items (DDP needs equal
    steps). rank and world_size default to torch.distributed's when a process group is up.
    """

    def __init__(
        self,
        data: str | Path | TokenShards,
        seq_len: int,
        split: str = "train",
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> None:
        self.sequences = PackedSequences(data, seq_len, split)
        dist = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.world_size = world_size if world_size is not None else (torch.distributed.get_world_size() if dist else 1)
        self.rank = rank if rank is not None else (torch.distributed.get_rank() if dist else 0)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, world_size = {self.world_size}), got {self.rank}")
        self.seed, self.shuffle, self.drop_last, self.epoch = seed, shuffle, drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        """Call before each epoch's loop for a new order (the same seed and epoch: the same order)."""
        self.epoch = epoch

    def items(self) -> np.ndarray:
        """This rank's item indices for the current epoch, in reading order."""
        n = len(self.sequences)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else np.arange(n)
        if self.drop_last:
            order = order[: n - n % self.world_size]
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self.items())

    def __iter__(self) -> Iterator[torch.Tensor]:
        items = self.items()
        worker = get_worker_info()
        if worker is not None:
            items = items[worker.id :: worker.num_workers]
        for i in range(0, len(items), READ_AHEAD):
            yield from torch.from_numpy(self.sequences.windows(items[i : i + READ_AHEAD]))
