"""Data-parallel training under `torchrun` (DDP): which process this is, and the collectives the
trainer needs. Without torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) everything here is
a no-op for a single process. NCCL on CUDA, gloo on CPU; the torchrun commands are in the README.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_kind: str) -> Dist:
    """Join the process group when launched by torchrun (idempotent)."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return Dist()
    info = Dist(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), int(os.environ["WORLD_SIZE"]))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return info


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def mean(value: torch.Tensor, info: Dist) -> torch.Tensor:
    """The mean over ranks (every rank gets it), so every rank logs the same figure."""
    if not info.enabled:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / info.world_size


def barrier(info: Dist) -> None:
    if info.enabled:
        dist.barrier()


def check_replicas_agree(model: torch.nn.Module, info: Dist) -> None:
    """DDP keeps replicas identical by construction; verify it cheaply (one float64 fingerprint
    per rank) where a silent divergence would otherwise be saved into the checkpoint."""
    if not info.enabled:
        return
    with torch.no_grad():
        fingerprint = torch.stack([p.double().sum() + (p.double() ** 2).sum() for p in model.parameters()]).sum()
    every = [torch.zeros_like(fingerprint) for _ in range(info.world_size)]
    dist.all_gather(every, fingerprint)
    if any(float(f) != float(fingerprint) for f in every):
        raise RuntimeError(f"rank {info.rank}: model replicas diverged ({[float(f) for f in every]})")
