"""corpusforge: turn raw web crawls into LLM pretraining data."""

from corpusforge.document import Document

__all__ = ["Document"]
__version__ = "0.1.0"
