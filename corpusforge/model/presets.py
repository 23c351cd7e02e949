"""Named model shapes. The vocabulary size comes from the tokenizer, so a preset is a shape only.

The large shapes follow GPT-3's table 2.1 (Small, Medium, XL) with head_dim 64/64/128; with a
50,257-token vocabulary and tied embeddings they come to 124M, 360M and 1.34B parameters.
`tiny` trains on a laptop CPU in minutes; `micro` is for unit tests.
"""

from __future__ import annotations

from typing import Any

from corpusforge.model.config import ModelConfig

PRESETS: dict[str, dict[str, Any]] = {
    "micro": {"n_layer": 2, "n_head": 2, "d_model": 32, "mlp_multiple": 16},
    "tiny": {"n_layer": 4, "n_head": 4, "d_model": 128},
    "125M": {"n_layer": 12, "n_head": 12, "d_model": 768, "mlp_multiple": 256},
    "350M": {"n_layer": 24, "n_head": 16, "d_model": 1024, "mlp_multiple": 256},
    "1.3B": {"n_layer": 24, "n_head": 16, "d_model": 2048, "mlp_multiple": 256},
}


def preset(name: str, vocab_size: int, **overrides: Any) -> ModelConfig:
    """The named shape for a vocabulary, with any ModelConfig field overridden."""
    if name not in PRESETS:
        raise KeyError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    return ModelConfig(vocab_size=vocab_size, **(PRESETS[name] | overrides))
