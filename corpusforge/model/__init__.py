"""The decoder model trained by `corpusforge train` (see model.py), and its named shapes."""

from corpusforge.model.model import Decoder, ModelConfig
from corpusforge.model.presets import PRESETS, preset

__all__ = ["PRESETS", "Decoder", "ModelConfig", "preset"]
