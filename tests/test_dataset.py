"""The PyTorch datasets over token shards: packed windows equal the shards' token stream;
streaming ranks are disjoint, cover every item and keep their order for a seed.

Token shards of the inaugural addresses (three Parquet shards → three token shards, so windows
cross shard ends) with a 512-token BPE.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizer_data import speeches, write_parquet
from torch.utils.data import DataLoader

from corpusforge.errors import TokenizerError
from corpusforge.tokenizer.shards import TokenShards
from corpusforge.train.dataset import PackedSequences, StreamingSequences

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    from corpusforge.tokenizer.tokenize import tokenize
    from corpusforge.tokenizer.train import train_tokenizer

    texts = list(speeches("inaugural"))
    work = tmp_path_factory.mktemp("dataset")
    for i in range(3):
        write_parquet(work / "pq" / f"part-{i}.parquet", texts[i::3])
    train_tokenizer("bpe-50k", [str(work / "pq")], work / "tok", vocab_size=512, quiet=True)
    tokenize(work / "tok", [str(work / "pq")], work / "tokens", workers=1, val_fraction=0.1, quiet=True)
    return work / "tokens"


def stream(folder: Path, split: str = "train") -> np.ndarray:
    """The split's shards back to back, read with plain numpy (the format's promise)."""
    shards = TokenShards(folder, split)
    assert len(shards.tokens) == 3
    return np.concatenate([np.asarray(t) for t in shards.tokens]).astype(np.int64)


def test_packed_sequences_are_the_token_stream(tokens: Path) -> None:
    data = stream(tokens)
    ds = PackedSequences(tokens, seq_len=64)
    assert len(ds) == (len(data) - 65) // 64 + 1
    items = torch.stack([ds[i] for i in range(len(ds))])
    assert items.dtype == torch.int64 and items.shape == (len(ds), 65)
    expected = np.stack([data[i * 64 : i * 64 + 65] for i in range(len(ds))])
    assert np.array_equal(items.numpy(), expected)  # windows crossing a shard's end included
    # every token but the first is a target exactly once: consecutive items share one token
    assert torch.equal(items[1:, 0], items[:-1, -1])
    assert torch.equal(ds[-1], ds[len(ds) - 1])
    with pytest.raises(IndexError):
        ds[len(ds)]
    # stride 1: every start (what the trainer samples), and the val split
    every = PackedSequences(tokens, seq_len=16, stride=1)
    assert len(every) == len(data) - 16
    assert np.array_equal(
        every.windows(np.array([0, 5, len(every) - 1])), [data[j : j + 17] for j in (0, 5, len(data) - 17)]
    )
    val = PackedSequences(tokens, seq_len=8, split="val")
    assert np.array_equal(val[3].numpy(), stream(tokens, "val")[24:33])
    with pytest.raises(TokenizerError, match="fewer than one window"):
        PackedSequences(tokens, seq_len=len(data))


def test_streaming_ranks_are_disjoint_and_cover_the_data(tokens: Path) -> None:
    packed = PackedSequences(tokens, seq_len=256)
    ranks = [StreamingSequences(tokens, 256, seed=7, rank=r, world_size=3) for r in range(3)]
    items = [r.items() for r in ranks]
    assert sorted(np.concatenate(items).tolist()) == list(range(len(packed)))  # together: every item once
    assert max(map(len, items)) - min(map(len, items)) <= 1
    for r, its in zip(ranks, items):  # what a rank yields is the packed sequences of its items, in order
        got = torch.stack(list(r))
        assert len(r) == len(got) and torch.equal(got, torch.from_numpy(packed.windows(its)))
    # DataLoader workers split a rank's items between them; together they yield the rank's items
    loader = DataLoader(ranks[1], batch_size=None, num_workers=2)
    assert sorted(map(tuple, (x.tolist() for x in loader))) == sorted(map(tuple, packed.windows(items[1]).tolist()))
    # drop_last: every rank the same number of items (DDP's equal steps)
    even = [len(StreamingSequences(tokens, 256, seed=7, rank=r, world_size=3, drop_last=True)) for r in range(3)]
    assert even == [len(packed) // 3] * 3


def test_streaming_order_is_a_function_of_the_seed(tokens: Path) -> None:
    a, b = (StreamingSequences(tokens, 32, seed=1, rank=0, world_size=2) for _ in range(2))
    first = next(iter(a))
    assert np.array_equal(a.items(), b.items()) and torch.equal(first, next(iter(b)))
    assert not np.array_equal(a.items(), StreamingSequences(tokens, 32, seed=2, rank=0, world_size=2).items())
    one, other = (StreamingSequences(tokens, 32, seed=1) for _ in range(2))
    one.set_epoch(1)  # another epoch, another order of the same items
    assert not np.array_equal(one.items(), other.items()) and sorted(one.items()) == sorted(other.items())
    in_order = StreamingSequences(tokens, 32, shuffle=False)
    assert in_order.items().tolist() == list(range(len(in_order)))
    with pytest.raises(ValueError, match="rank must be in"):
        StreamingSequences(tokens, 32, rank=2, world_size=2)


def test_readme_example(tokens: Path) -> None:
    """The five lines of README's "Training data: PyTorch datasets", on real shards."""
    ds = StreamingSequences(tokens, seq_len=128, seed=0, rank=0, world_size=1)
    for batch in DataLoader(ds, batch_size=8):
        x, y = batch[:, :-1], batch[:, 1:]
        break
    assert x.shape == (8, 128) and torch.equal(x[:, 1:], y[:, :-1])
