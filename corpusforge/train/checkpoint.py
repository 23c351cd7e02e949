"""Checkpoints: one `ckpt.pt` per run folder, replaced atomically (temp file, then rename), so a
run killed while saving still has its previous checkpoint.

It holds everything `--resume` needs to continue exactly (model, optimizer, step, RNG states,
the config) and everything `generate` and `export-hf` need on their own (the model's shape and
the tokenizer itself, so a copied ckpt.pt is enough). The data position is the step: batches
are a function of (seed, step), see `data`.
"""

from __future__ import annotations

import pickle
import random
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpusforge.errors import TrainError
from corpusforge.io.atomic import atomic_path
from corpusforge.model.config import ModelConfig
from corpusforge.model.model import Decoder

FORMAT = "corpusforge.checkpoint/1"
CHECKPOINT_FILE = "ckpt.pt"


def checkpoint_path(path: str | Path) -> Path:
    """A run folder or a checkpoint file → the checkpoint file."""
    path = Path(path)
    return path / CHECKPOINT_FILE if path.is_dir() else path


def rng_states() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(_tuples(states["python"]))
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))


def save_checkpoint(path: Path, **state: Any) -> None:
    """Write the checkpoint (model, optimizer, step, tokens, configs, tokenizer, ...) atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        # a file object, not a path: torch names the zip's root folder after a path's file name
        # (here a temporary name), which made two identical runs' checkpoints differ
        torch.save(_canonical({"format": FORMAT, **state}), f)


def _canonical(value: Any) -> Any:
    """The same state with every string interned. Pickle writes a string once and then refers
    to it by object identity, so a state whose equal strings are distinct objects (an
    optimizer's after load_state_dict on --resume) pickles to other bytes; interned, the bytes
    depend on the values alone."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {_canonical(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_canonical(v) for v in value)
    return value


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict[str, Any]:
    """The checkpoint's state; `mmap` maps the file instead of reading it, so a caller that
    needs the step or the weights does not read the optimizer state (~2/3 of the file)."""
    file = checkpoint_path(path)
    if not file.is_file():
        raise TrainError(f"no checkpoint at {path} (expected a run folder holding {CHECKPOINT_FILE}, or the file)")
    # weights_only: tensors and plain containers only, so loading a checkpoint runs no code.
    try:
        state = torch.load(file, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        raise TrainError(
            f"{file}: refused: it holds objects other than tensors and plain values, and loading "
            "it could run code (a corpusforge checkpoint never does)"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrainError(f"{file}: not a readable checkpoint (truncated or corrupt: {reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainError(f"{file}: not a corpusforge checkpoint ({FORMAT})")
    return state


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Decoder, dict[str, Any]]:
    """The trained model (in eval mode) and the checkpoint it came from."""
    state = load_checkpoint(path, mmap=True)
    model = Decoder(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state


def _tuples(value: Any) -> Any:
    """torch.save keeps tuples, but be lenient with lists: random.setstate needs tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
