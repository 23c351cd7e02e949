"""The LLaMA optimizer recipe: AdamW (β 0.9/0.95) with weight decay on matrices only, and a
learning rate that warms up linearly, then follows a cosine down to 10% of the peak."""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn

from corpusforge.train.config import TrainConfig


def make_optimizer(model: nn.Module, config: TrainConfig, device_type: str) -> torch.optim.AdamW:
    # Decay pulls weights toward 0; that regularizes matrices (embeddings included), but would
    # only fight the norms' gains (which should sit near 1) and biases.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # The fused CUDA kernel updates every tensor in one launch; CPU keeps the default.
    fused = device_type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters
    return torch.optim.AdamW(
        groups, lr=config.lr, betas=(config.beta1, config.beta2), eps=1e-8, **({"fused": True} if fused else {})
    )


def lr_at(step: int, config: TrainConfig, total_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    # Counted like the warmup (step + 1): the first step after it is already below the peak,
    # and the last step of the run trains at exactly the final LR.
    decay_steps = max(1, total_steps - config.warmup_steps)
    progress = min(1.0, (step + 1 - config.warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.final_lr + cosine * (config.lr - config.final_lr)
