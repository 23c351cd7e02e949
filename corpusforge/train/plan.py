"""`corpusforge plan --tokens N`: the model a corpus of N tokens can train compute-optimally.

Chinchilla (Hoffmann et al. 2022): for a compute budget C ≈ 6·N·D FLOPs, loss is lowest at about
20 training tokens per parameter (parameters counted with the embeddings, as Chinchilla did). So
D tokens support N ≈ D / 20 parameters. We take the preset closest to that size when one is
within 1.5×, else a shape with GPT-3's aspect (d_model = 64 · n_layer, 64-dim heads), and derive
the rest from GPT-3's table 2.1: peak LR falling as 1/sqrt(N) (6e-4 at 125M, ~2e-4 at 1.3B),
batches of 0.5M tokens (1M from 1B parameters), but at least ~1,000 steps on small corpora.

`--data MIX` (a tokenized mixture) plans for the budget at which its epochs hold as asked
(with weights only: the largest budget that repeats no source) and prints the mixture's table:
each source's share, tokens and epochs at the planned budget (`--tokens` sets another budget).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from corpusforge.errors import TrainError
from corpusforge.model.config import ModelConfig
from corpusforge.model.presets import PRESETS
from corpusforge.tokenizer.mixture import Mixture, format_mixture, is_mixture, read_mixture
from corpusforge.tokenizer.tokenize import SUMMARY_FILE, read_settings
from corpusforge.train.mfu import flops_per_token, known_peak_flops

TOKENS_PER_PARAM = 20
ASSUMED_MFU = 0.4


@dataclass
class Plan:
    tokens: int
    target_params: float
    preset: str | None
    model: ModelConfig
    params: int
    config: dict[str, Any]

    @property
    def compute(self) -> float:
        """C ≈ 6·N·D."""
        return 6 * self.params * self.tokens


def count_params(config: ModelConfig) -> int:
    """Decoder(config).num_params() without building the model (tests check they agree)."""
    d, h, b = config.d_model, config.hidden_dim, int(config.bias)
    attention = 4 * d * d + b * 4 * d
    mlp = 3 * d * h + b * (2 * h + d)
    norms = d if config.parallel_block else 2 * d
    embeddings = config.vocab_size * d * (1 if config.tie_embeddings else 2)
    return embeddings + config.n_layer * (attention + mlp + norms) + d


def plan_training(
    tokens: int, vocab_size: int = 50257, seq_len: int = 2048, devices: int = 1, data: str = "output/tokens/CORPUS"
) -> Plan:
    if tokens < 1:
        raise TrainError(f"--tokens must be positive, got {tokens}")
    target = tokens / TOKENS_PER_PARAM
    preset, model = _choose_shape(target, vocab_size, seq_len)
    params = count_params(model)

    batch_tokens = 1 << 20 if params >= 1e9 else 1 << 19
    batch_tokens = max(seq_len * devices, min(batch_tokens, _pow2_floor(tokens // 1000)))
    seqs_per_device = max(1, batch_tokens // (seq_len * devices))
    micro = min(seqs_per_device, 8 if params >= 3e8 else 16)
    accum = max(1, seqs_per_device // micro)
    steps = math.ceil(tokens / (micro * accum * seq_len * devices))
    lr = min(3e-3, max(1e-4, 6e-4 * math.sqrt(125e6 / params)))
    config = {
        "data": data,
        "out_dir": f"output/train/{preset or 'custom'}",
        "model": {"preset": preset} if preset else {k: getattr(model, k) for k in ("n_layer", "n_head", "d_model")},
        "seq_len": seq_len,
        "batch_size": micro,
        "grad_accum": accum,
        "max_tokens": tokens,
        "lr": float(f"{lr:.1e}"),
        "warmup_steps": min(2000, max(1, round(0.02 * steps))),
        "eval_interval": max(1, steps // 20),
        "eval_iters": 20,
        "compile": True,
    }
    return Plan(tokens, target, preset, model, params, config)


def format_plan(p: Plan, gpu: str = "H100", devices: int = 1, mixture: Mixture | None = None) -> str:
    seq = p.config["seq_len"]
    shape = (f"preset {p.preset}" if p.preset else "custom shape") + (
        f" (n_layer {p.model.n_layer}, d_model {p.model.d_model}, n_head {p.model.n_head})"
    )
    lines = [
        (
            f"corpus: {p.tokens:,} tokens → Chinchilla-optimal size ≈ {_human(p.target_params)} parameters "
            f"({TOKENS_PER_PARAM} tokens per parameter)"
        ),
        (
            f"model: {shape}; {_human(p.params)} parameters with a {p.model.vocab_size:,}-token vocabulary "
            f"({p.tokens / p.params:.1f} tokens per parameter)"
        ),
        f"compute: C ≈ 6·N·D = {p.compute:.2e} FLOPs",
    ]
    embedding = p.model.vocab_size * p.model.d_model
    if embedding > p.target_params:
        lines.append(
            f"note: the embedding alone ({_human(embedding)} parameters) is larger than the optimal "
            f"model: too few tokens for a {p.model.vocab_size:,}-token vocabulary; a smaller tokenizer "
            "(train-tokenizer --vocab-size) leaves more of the model for context"
        )
    peak = known_peak_flops(gpu)
    if peak:
        hours = flops_per_token(p.model, seq) * p.tokens / (peak * devices * ASSUMED_MFU) / 3600
        lines.append(
            f"time: {_duration(hours)} on {devices} × {gpu} at {ASSUMED_MFU:.0%} MFU "
            f"(bf16 peak {peak / 1e12:,.0f} TFLOP/s each)"
        )
    if mixture is not None:
        lines += ["", format_mixture(mixture, p.tokens)]
    lines += [
        "",
        "# corpusforge train CONFIG  (batch_size is per device: lower it and raise grad_accum to fit memory)",
        yaml.safe_dump(p.config, sort_keys=False).rstrip(),
    ]
    return "\n".join(lines)


def _choose_shape(target: float, vocab_size: int, seq_len: int) -> tuple[str | None, ModelConfig]:
    def distance(c: ModelConfig) -> float:
        return abs(math.log(count_params(c) / target))

    presets = [
        (name, ModelConfig(vocab_size=vocab_size, max_seq_len=seq_len, **shape))
        for name, shape in PRESETS.items()
        if name != "micro"
    ]
    name, best = min(presets, key=lambda nc: distance(nc[1]))
    if distance(best) <= math.log(1.5):
        return name, best
    shapes = [
        ModelConfig(vocab_size=vocab_size, max_seq_len=seq_len, n_layer=L, n_head=L, d_model=64 * L)
        for L in range(1, 129)
    ]
    return None, min(shapes, key=distance)


def _pow2_floor(n: int) -> int:
    return 1 << max(0, int(n).bit_length() - 1)


def _human(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:,.1f}{unit}"
    return f"{n:,.0f}"


def _duration(hours: float) -> str:
    if hours < 1 / 60:
        return "under a minute"
    if hours < 1:
        return f"≈ {hours * 60:.0f} min"
    return f"≈ {hours:,.1f} h" if hours < 48 else f"≈ {hours / 24:,.1f} days"


def corpus_size(folder: str | Path) -> tuple[int, int]:
    """(training tokens, vocabulary size) of a `corpusforge tokenize` output folder; of a
    tokenized mixture, its `default_budget` (the epochs as asked) and its tokenizer's vocabulary."""
    folder = Path(folder)
    if is_mixture(folder):
        mixture = read_mixture(folder)
        return mixture.default_budget, corpus_size(mixture.sources[0].folder)[1]
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        settings = read_settings(folder)
    except FileNotFoundError:
        raise TrainError(f"{folder}: not a finished `corpusforge tokenize` output (no {SUMMARY_FILE})") from None
    return summary["train"]["tokens"], settings["vocab_size"]


def parse_count(text: str) -> int:
    """`2.5B`, `300M`, `20K`, `1T` or `2.5e9` → an integer."""
    units = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
    t = text.strip().lower().replace("_", "").replace(",", "")
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(float(t))
    except ValueError:
        raise ValueError(f"not a token count: {text!r} (e.g. 2.5B, 300M or 2.5e9)") from None
