"""The decoder's shape: a plain dataclass, so planning and configs work without torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    max_seq_len: int = 1024  # RoPE tables are built for this many positions
    mlp_hidden: int | None = None  # None: 2/3 · 4 · d_model rounded up to mlp_multiple (LLaMA)
    mlp_multiple: int = 64
    tie_embeddings: bool = True  # the head reuses the embedding matrix
    parallel_block: bool = False  # GPT-J: attention and MLP read the same normalized input
    rotary_pct: float = 1.0  # share of each head's dimensions that RoPE rotates
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    bias: bool = False  # biases in the linear layers (LLaMA has none)

    def __post_init__(self) -> None:
        # The training config validates user input with friendly messages; these guard the
        # invariants the code below relies on, for anyone building a config by hand.
        for name in ("vocab_size", "n_layer", "n_head", "d_model", "max_seq_len", "mlp_multiple"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")
        if not 0.0 < self.rotary_pct <= 1.0:
            raise ValueError(f"rotary_pct must be in (0, 1], got {self.rotary_pct}")
        if self.rotary_dim < 2:
            raise ValueError(f"rotary_pct {self.rotary_pct} rotates fewer than 2 of {self.head_dim} head dimensions")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def rotary_dim(self) -> int:
        """Rotated dimensions per head: even, since RoPE turns pairs."""
        return int(self.head_dim * self.rotary_pct) // 2 * 2

    @property
    def hidden_dim(self) -> int:
        """SwiGLU has three matrices instead of two, so 2/3 of the usual 4·d keeps the MLP's
        parameters (and FLOPs) those of a 4·d GELU MLP; rounding up keeps matmuls aligned."""
        if self.mlp_hidden is not None:
            return self.mlp_hidden
        return math.ceil(2 * 4 * self.d_model / 3 / self.mlp_multiple) * self.mlp_multiple

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
