"""Training config: YAML → a validated `TrainConfig`, with one clear error naming the key.

Every key and its default is in `TrainConfig` below (the README's "Training config" table
says the same for users); unknown keys are errors, never ignored. Paths are relative to where
corpusforge runs (the repo root for the shipped configs in pipelines/training/).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from corpusforge.errors import TrainConfigError
from corpusforge.model.config import ModelConfig
from corpusforge.model.presets import PRESETS
from corpusforge.schema import Key, read_yaml, validate
from corpusforge.shipped import find_shipped

PositiveInt = Annotated[int, Key(ge=1)]
NonNegativeInt = Annotated[int, Key(ge=0)]


@dataclass(frozen=True)
class TrainConfig:
    data: Annotated[str, Key(non_empty=True)]  # token folder from `corpusforge tokenize`
    out_dir: Annotated[str, Key(non_empty=True)]  # run folder
    model: str | dict[str, Any] = field(default_factory=lambda: {"preset": "tiny"})  # a mapping once loaded
    seq_len: PositiveInt = 1024  # tokens per training window (sees and predicts seq_len)
    batch_size: PositiveInt = 8  # windows per device per micro-step
    grad_accum: PositiveInt = 1  # micro-steps per optimizer step
    max_steps: PositiveInt | None = None  # optimizer steps; exactly one of max_steps / max_tokens
    max_tokens: PositiveInt | None = None  # token budget: steps = ceil(max_tokens / tokens per step)
    lr: Annotated[float, Key(gt=0)] = 6e-4  # peak learning rate
    min_lr: Annotated[float, Key(ge=0)] | None = None  # end of the cosine, <= lr; default 10% of lr (LLaMA)
    warmup_steps: NonNegativeInt = 100  # linear warmup from 0 to lr
    weight_decay: Annotated[float, Key(ge=0)] = 0.1  # on matrices only (not norms, not biases)
    beta1: Annotated[float, Key(ge=0, lt=1)] = 0.9
    beta2: Annotated[float, Key(ge=0, lt=1)] = 0.95
    grad_clip: Annotated[float, Key(ge=0)] = 1.0  # max global gradient norm; 0 turns clipping off
    eval_interval: NonNegativeInt = 100  # steps between validation losses; 0: never
    eval_iters: PositiveInt = 20  # validation batches per evaluation
    checkpoint_interval: NonNegativeInt | None = None  # default eval_interval (and always at the end)
    log_interval: PositiveInt = 10  # steps between printed lines (log.csv gets every step)
    seed: NonNegativeInt = 0  # model init and every batch: batch(step) = f(seed, step)
    compile: bool = False  # torch.compile the model
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when there is one
    peak_flops: Annotated[float, Key(gt=0)] | None = None  # peak FLOP/s for MFU (989e12); default from a GPU table

    @property
    def tokens_per_step(self) -> int:
        """Per device; multiply by the world size for the global figure."""
        return self.batch_size * self.grad_accum * self.seq_len

    def total_steps(self, world_size: int = 1) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return math.ceil(self.max_tokens / (self.tokens_per_step * world_size))

    @property
    def final_lr(self) -> float:
        return self.min_lr if self.min_lr is not None else 0.1 * self.lr

    @property
    def checkpoint_every(self) -> int:
        return self.checkpoint_interval if self.checkpoint_interval is not None else self.eval_interval

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The model's shape: the preset, then the keys given beside it; the vocabulary is the
        tokenizer's unless model.vocab_size pads it (it may not shrink it)."""
        keys = dict(self.model)
        base = PRESETS[keys.pop("preset")] if "preset" in keys else {}
        given = keys.pop("vocab_size", None)
        if given is not None and given < vocab_size:
            raise TrainConfigError(f"model.vocab_size {given} is smaller than the tokenizer's {vocab_size} tokens")
        shape = base | keys
        shape.setdefault("max_seq_len", self.seq_len)
        try:
            return ModelConfig(vocab_size=given or vocab_size, **shape)
        except ValueError as exc:
            raise TrainConfigError(f"model: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Keys that may change between a run and its --resume: they do not change what is computed.
RESUMABLE_CHANGES = {
    "eval_interval",
    "eval_iters",
    "checkpoint_interval",
    "log_interval",
    "compile",
    "device",
    "peak_flops",
    "out_dir",
}


def load_train_config(path: str | Path | None = None, data: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a training config (from a file, or a dict for tests and tools)."""
    if data is None:
        path = find_shipped("training", path, TrainConfigError)
        data = read_yaml(path, "training config", TrainConfigError)
    source = str(path) if path is not None else "<dict>"
    values = validate(TrainConfig, data, source=source, error=TrainConfigError, quote_keys=True, one_unknown=True)
    values["model"] = check_model(values["model"], source)
    if (values["max_steps"] is None) == (values["max_tokens"] is None):
        raise TrainConfigError(f"{source}: give exactly one of 'max_steps' and 'max_tokens'")
    if values["min_lr"] is not None and values["min_lr"] > values["lr"]:
        raise TrainConfigError(f"{source}: 'min_lr' must be between 0 and lr, got {values['min_lr']!r}")
    return TrainConfig(**values)


def check_model(model: str | dict[str, Any], source: str) -> dict[str, Any]:
    """`model: tiny` or `{preset: tiny, n_layer: 6, ...}` or a full shape → the mapping, checked
    against ModelConfig's fields (the vocabulary comes from the tokenizer, see `model_config`)."""
    if isinstance(model, str):
        model = {"preset": model}
    shape = {k: v for k, v in model.items() if k != "preset"}
    shape = validate(
        ModelConfig, shape, "model", source, error=TrainConfigError, quote_keys=True, one_unknown=True, partial=True
    )
    if "preset" in model:
        if model["preset"] not in PRESETS:
            raise TrainConfigError(f"{source}: model.preset {model['preset']!r} is not one of {', '.join(PRESETS)}")
        return {"preset": model["preset"], **shape}
    if not {"n_layer", "n_head", "d_model"} <= set(shape):
        raise TrainConfigError(f"{source}: 'model' needs a preset or n_layer, n_head and d_model")
    return shape
