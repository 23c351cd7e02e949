"""Errors a user can act on: each message names the file, record or config key at fault."""


class CorpusforgeError(Exception):
    """Base class for errors reported to the user without a traceback."""


class ConfigError(CorpusforgeError):
    """The pipeline config is invalid; the message names the key."""


class OutputMismatchError(CorpusforgeError):
    """The output folder holds a run made with a different config."""


class TaskFailedError(CorpusforgeError):
    """A task raised or its worker died; the message names the task's input file."""
