"""Errors of the training verbs; the CLI prints them without a traceback."""

from __future__ import annotations

from corpusforge.errors import ConfigError, CorpusforgeError


class TrainConfigError(ConfigError):
    """A training config is invalid; the message names the file and the key."""


class TrainError(CorpusforgeError):
    """A run cannot start or continue as asked (missing data, a checkpoint that does not match)."""
