"""Training config: YAML → a validated `TrainConfig`, with one clear error naming the key.

```yaml
data: output/tokens/sample        # a `corpusforge tokenize` output folder (train/ and val/ shards)
out_dir: output/train/tiny-sample # checkpoint, log.csv, loss.png, config.yaml
model: tiny                       # a preset name, or {preset: tiny, n_layer: 6, ...} / a full shape
seq_len: 256
batch_size: 16                    # sequences per device and micro-step
max_steps: 300                    # or max_tokens: 2.0e6 (tokens seen in all, across devices)
lr: 3.0e-3
```
Every key and its default is in `TrainConfig` below; unknown keys are errors, never ignored.
Paths are relative to where corpusforge runs (the repo root for the shipped configs).
"""

from __future__ import annotations

import difflib
import math
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from corpusforge.errors import TrainConfigError
from corpusforge.model.model import ModelConfig
from corpusforge.model.presets import PRESETS

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    data: str                             # token folder from `corpusforge tokenize`
    out_dir: str                          # run folder
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "tiny"})
    seq_len: int = 1024                   # tokens per training window (the model sees seq_len, predicts seq_len)
    batch_size: int = 8                   # windows per device per micro-step
    grad_accum: int = 1                   # micro-steps per optimizer step
    max_steps: int | None = None          # optimizer steps; exactly one of max_steps / max_tokens
    max_tokens: int | None = None         # token budget: steps = ceil(max_tokens / tokens per step)
    lr: float = 6e-4                      # peak learning rate
    min_lr: float | None = None           # end of the cosine; default 10% of lr (LLaMA)
    warmup_steps: int = 100               # linear warmup from 0 to lr
    weight_decay: float = 0.1             # on matrices only (not norms, not biases)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0                # max global gradient norm; 0 turns clipping off
    eval_interval: int = 100              # steps between validation losses; 0: never
    eval_iters: int = 20                  # validation batches per evaluation
    checkpoint_interval: int | None = None  # steps between checkpoints; default eval_interval (and always at the end)
    log_interval: int = 10                # steps between printed lines (log.csv gets every step)
    seed: int = 0                         # model init and every batch: batch(step) = f(seed, step)
    compile: bool = False                 # torch.compile the model
    device: str = "auto"                  # auto (cuda when there is one), cpu, cuda
    peak_flops: float | None = None       # the accelerator's peak FLOP/s for MFU; default from a table of GPUs

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
RESUMABLE_CHANGES = {"eval_interval", "eval_iters", "checkpoint_interval", "log_interval", "compile", "device",
                     "peak_flops", "out_dir"}


def load_train_config(path: str | Path | None = None, data: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a training config (from a file, or a dict for tests and tools)."""
    source = str(path) if path is not None else "<dict>"
    if data is None:
        p = Path(path)
        if not p.is_file():
            raise TrainConfigError(f"training config not found: {p}")
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise TrainConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TrainConfigError(f"{source}: a training config is a mapping of keys (data, out_dir, model, ...)")

    hints = typing.get_type_hints(TrainConfig)
    known = [f.name for f in fields(TrainConfig)]
    _reject_unknown(data, known, source, "")
    values: dict[str, Any] = {}
    for f in fields(TrainConfig):
        if f.name == "model":
            continue
        if f.name in data:
            values[f.name] = _check(data[f.name], hints[f.name], f.name, source)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise TrainConfigError(f"{source}: '{f.name}' is missing")
    values["model"] = _check_model(data.get("model", {"preset": "tiny"}), source)
    config = TrainConfig(**values)
    _check_ranges(config, source)
    return config


def _check_model(model: Any, source: str) -> dict[str, Any]:
    if isinstance(model, str):
        model = {"preset": model}
    if not isinstance(model, dict):
        raise TrainConfigError(f"{source}: 'model' must be a preset name ({', '.join(PRESETS)}) or a mapping")
    hints = typing.get_type_hints(ModelConfig)
    _reject_unknown(model, ["preset", *hints], source, "model.")
    out: dict[str, Any] = {}
    for key, value in model.items():
        if key == "preset":
            if value not in PRESETS:
                raise TrainConfigError(f"{source}: model.preset {value!r} is not one of {', '.join(PRESETS)}")
            out[key] = value
        else:
            out[key] = _check(value, hints[key], f"model.{key}", source)
    if "preset" not in out and not {"n_layer", "n_head", "d_model"} <= set(out):
        raise TrainConfigError(f"{source}: 'model' needs a preset or n_layer, n_head and d_model")
    return out


def _check_ranges(c: TrainConfig, source: str) -> None:
    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise TrainConfigError(f"{source}: '{key}' must be {what}, got {getattr(c, key)!r}")

    for key in ("seq_len", "batch_size", "grad_accum", "eval_iters", "log_interval"):
        need(getattr(c, key) >= 1, key, "a positive integer")
    for key in ("warmup_steps", "eval_interval", "seed"):
        need(getattr(c, key) >= 0, key, "an integer >= 0")
    if (c.max_steps is None) == (c.max_tokens is None):
        raise TrainConfigError(f"{source}: give exactly one of 'max_steps' and 'max_tokens'")
    if c.max_steps is not None:
        need(c.max_steps >= 1, "max_steps", "a positive integer")
    if c.max_tokens is not None:
        need(c.max_tokens >= 1, "max_tokens", "a positive integer")
    need(c.lr > 0, "lr", "positive")
    if c.min_lr is not None:
        need(0 <= c.min_lr <= c.lr, "min_lr", "between 0 and lr")
    need(c.weight_decay >= 0, "weight_decay", ">= 0")
    need(0 <= c.beta1 < 1, "beta1", "in [0, 1)")
    need(0 <= c.beta2 < 1, "beta2", "in [0, 1)")
    need(c.grad_clip >= 0, "grad_clip", ">= 0 (0: no clipping)")
    if c.checkpoint_interval is not None:
        need(c.checkpoint_interval >= 0, "checkpoint_interval", "an integer >= 0")
    need(c.device in DEVICES, "device", f"one of {', '.join(DEVICES)}")
    if c.peak_flops is not None:
        need(c.peak_flops > 0, "peak_flops", "positive (FLOP/s, e.g. 989e12)")
    for key in ("data", "out_dir"):
        need(bool(getattr(c, key)), key, "a folder path")


def _reject_unknown(data: dict[str, Any], known: list[str], source: str, prefix: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; known keys: {', '.join(known)}"
            raise TrainConfigError(f"{source}: unknown key '{prefix}{key}'{hint}")


def _check(value: Any, hint: Any, key: str, source: str) -> Any:
    """value as the type hint says, or an error naming the key. YAML 1.1 reads `3e-4` (no dot) as
    a string, so numbers written that way are accepted too."""
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        number = _number(value)
        if number is not None and float(number).is_integer():
            return int(number)
    elif hint is float:
        number = _number(value)
        if number is not None:
            return float(number)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(hint) is dict and isinstance(value, dict):
        return value
    name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))
    raise TrainConfigError(f"{source}: '{key}' must be {name}, got {value!r}")


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            return None
    return None
