"""Errors of the tokenizer verbs; the CLI prints them without a traceback."""

from __future__ import annotations

from corpusforge.errors import ConfigError, CorpusforgeError


class RecipeError(ConfigError):
    """A tokenizer recipe is missing or invalid; the message names the file and key."""


class TokenizerError(CorpusforgeError):
    """A tokenizer cannot be trained, loaded or used as asked."""


class VocabularyTooLargeError(TokenizerError):
    """The corpus has too little text for the requested vocabulary.

    `supported` is the size training actually reached, so the caller (or the benchmark) can
    retry with it: BPE is greedy, so training with that size gives exactly the same merges.
    """

    def __init__(self, message: str, requested: int, supported: int) -> None:
        super().__init__(message)
        self.requested = requested
        self.supported = supported
