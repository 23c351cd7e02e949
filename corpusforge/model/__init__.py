"""The decoder model trained by `corpusforge train` (see model.py), and its named shapes.

`Decoder` needs torch and is imported on first use, so the shapes (and `corpusforge plan`)
work where torch is not installed."""

from typing import Any

from corpusforge.model.config import ModelConfig
from corpusforge.model.presets import PRESETS, preset

__all__ = ["PRESETS", "Decoder", "ModelConfig", "preset"]


def __getattr__(name: str) -> Any:
    if name == "Decoder":
        from corpusforge.model.model import Decoder

        return Decoder
    raise AttributeError(f"module 'corpusforge.model' has no attribute {name!r}")
