"""Errors a user can act on: each message names the file, record or config key at fault."""


class CorpusforgeError(Exception):
    """Base class for errors reported to the user without a traceback."""


class ConfigError(CorpusforgeError):
    """A config (pipeline, stage keys, test set) is invalid; the message names the key."""


class TrainConfigError(ConfigError):
    """A training config is invalid; the message names the file and the key."""


class RecipeError(ConfigError):
    """A tokenizer recipe is missing or invalid; the message names the file and key."""


class InputError(CorpusforgeError):
    """An input file does not hold what its name says (a JSON Lines line that is not an object,
    a missing text field); the message names the file and line."""


class OutputMismatchError(CorpusforgeError):
    """The output folder holds a run made with a different config."""


class TaskFailedError(CorpusforgeError):
    """A task raised or its worker died; the message names the task's input file."""


class TrainError(CorpusforgeError):
    """A run cannot start or continue as asked (missing data, a checkpoint that does not match)."""


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


class AblationError(CorpusforgeError):
    """An ablation cannot run as asked (variants, --eval, the output folder)."""


class ClassifierError(CorpusforgeError):
    """A quality classifier cannot be trained or used as asked (inputs, model file, labels)."""
