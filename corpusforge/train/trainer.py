"""`corpusforge train CONFIG [--resume]`: the training loop, plain PyTorch with the recipe in view.

    for each optimizer step s:
        lr = warmup-then-cosine(s)
        for each micro-step k:   x, y = batch(seed, s, rank·grad_accum + k);  (loss / grad_accum).backward()
        clip the global gradient norm to 1.0;  AdamW step
        every eval_interval: validation loss;  every checkpoint_interval: ckpt.pt (atomic)

Under torchrun every rank trains on its own micro-batches and DDP averages the gradients; rank 0
alone writes the run folder's files (`RUN_FILES`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from corpusforge.errors import TrainError
from corpusforge.io.atomic import write_json_atomic
from corpusforge.io.run_folder import Fingerprint, RunFolder
from corpusforge.model.model import Decoder
from corpusforge.tokenizer.artifact import TOKENIZER_FILE
from corpusforge.tokenizer.mixture import is_mixture, read_mixture
from corpusforge.tokenizer.tokenize import SETTINGS_FILE, read_settings
from corpusforge.train import distributed
from corpusforge.train.checkpoint import (
    CHECKPOINT_FILE,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from corpusforge.train.config import RESUMABLE_CHANGES, TrainConfig
from corpusforge.train.data import Batches
from corpusforge.train.log import TrainLog
from corpusforge.train.mfu import flops_per_token, known_peak_flops
from corpusforge.train.optim import lr_at, make_optimizer

log = logging.getLogger(__name__)

RUN_FILES = (CHECKPOINT_FILE, "log.csv", "loss.png", "config.yaml", "mixture.json")


class Trainer:
    def __init__(self, config: TrainConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> None:
        self.config, self.quiet = config, quiet
        kind = "cuda" if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()) else "cpu"
        if kind == "cuda" and not torch.cuda.is_available():
            raise TrainError("device: cuda, but torch sees no CUDA device")
        self.dist = distributed.setup(kind)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if kind == "cuda" else "cpu")
        if kind == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True  # what little stays fp32 under autocast
            torch.backends.cudnn.allow_tf32 = True
        self.out = Path(config.out_dir)

        self.tokenizer = read_tokenizer(Path(config.data))
        micro_batches = self.dist.world_size * config.grad_accum
        batches = dict(seq_len=config.seq_len, batch_size=config.batch_size, seed=config.seed, device=self.device)
        self.train_data = Batches(config.data, "train", micro_batches=micro_batches, **batches)
        self.mixture = self.train_data.mixture
        self.val_data = None
        if config.eval_interval:
            folders = [s.folder for s in self.mixture.sources] if self.mixture else [Path(config.data)]
            if not any((f / "val").is_dir() for f in folders):
                raise TrainError(
                    f"{config.data} has no val/ split: tokenize with --val-fraction > 0, or set eval_interval: 0"
                )
            self.val_data = Batches(config.data, "val", **batches)

        self.model_config = config.model_config(self.tokenizer["vocab_size"])
        torch.manual_seed(config.seed)  # every rank builds the same initial weights
        # the checkpoint saves every generator's state: seeded, two identical runs save the same bytes
        random.seed(config.seed)
        np.random.seed(config.seed % 2**32)
        self.raw = Decoder(self.model_config).to(self.device)
        self.optimizer = make_optimizer(self.raw, config, kind)
        self.total_steps = config.total_steps(self.dist.world_size)
        if config.warmup_steps >= self.total_steps and self.dist.is_main:
            peak = config.lr * self.total_steps / config.warmup_steps
            log.warning(
                "warmup_steps %d is not below the run's %d steps: the learning rate only climbs, to %.3g "
                "of lr %.3g at the last step, and never decays; lower warmup_steps for a full schedule",
                config.warmup_steps,
                self.total_steps,
                peak,
                config.lr,
            )
        self.tokens_per_step = config.tokens_per_step * self.dist.world_size
        if self.mixture and self.dist.is_main:
            for warning in self.mixture.warnings(self.total_steps * self.tokens_per_step):
                log.warning("%s", warning)
        self.step = 0
        self.val_loss: float | None = None
        self.last_loss: float | None = None
        self.folder: RunFolder | None = None  # rank 0 holds the run folder's lock until close()
        try:
            self._prepare_run_folder(resume, overwrite)  # on --resume: the checkpoint's step, weights, val_loss
            self._build(kind)
        except BaseException:
            self.close()
            raise

    def _build(self, kind: str) -> None:
        """The compiled (and DDP-wrapped) model, the FLOP counts and the log."""
        # Compile first, then wrap in DDP (nanoGPT's order): DDP's hooks stay outside the graph.
        self.compiled = torch.compile(self.raw) if self.config.compile else self.raw
        device_ids = [self.dist.local_rank] if kind == "cuda" else None
        self.model = DistributedDataParallel(self.compiled, device_ids) if self.dist.enabled else self.compiled
        self.flops_per_token = flops_per_token(self.model_config, self.config.seq_len)
        self.peak_flops = self.config.peak_flops or (
            known_peak_flops(torch.cuda.get_device_name(self.device)) if kind == "cuda" else None
        )
        # tokens drawn from each source so far (all ranks); a pure function of the step, like the batches
        self.drawn = self.train_data.rows_per_source(self.step) * self.config.seq_len
        extra = [source_column(n) for n in self.train_data.names] if self.mixture else []
        self.log = TrainLog(self.out / "log.csv", keep_until=self.step, extra=extra) if self.dist.is_main else None

    # -- the loop ---------------------------------------------------------------------------

    def fit(self, until_step: int | None = None) -> dict[str, Any]:
        """Train to total_steps (or stop after `until_step`, as if killed there: no extra
        checkpoint, which is how the tests interrupt a run); returns a summary."""
        stop = self.total_steps if until_step is None else min(until_step, self.total_steps)
        if self.dist.is_main and not self.quiet:
            print(self.describe(), flush=True)
        saved_at = self.step
        while self.step < stop:
            t0 = time.perf_counter()
            loss = self.train_step()
            tokens_per_s = self.tokens_per_step / (time.perf_counter() - t0)
            mfu = (
                self.flops_per_token * tokens_per_s / (self.peak_flops * self.dist.world_size)
                if self.peak_flops
                else None
            )
            last = self.step == self.total_steps
            self.drawn += self.train_data.rows_per_source(self.step, self.step - 1) * self.config.seq_len
            val = self.evaluate() if self._due(self.config.eval_interval, last) else None
            self.last_loss = loss
            if val is not None:
                self.val_loss = val
            if self.log:
                drawn = dict(zip(self.log.extra, map(str, self.drawn))) if self.mixture else {}
                self.log.write(
                    self.step,
                    self.step * self.tokens_per_step,
                    loss,
                    self._lr(self.step - 1),
                    tokens_per_s,
                    mfu,
                    val,
                    extra=drawn,
                )
                if not self.quiet and (self.step % self.config.log_interval == 0 or last or val is not None):
                    print(self._progress_line(loss, tokens_per_s, mfu, val), flush=True)
            if self._due(self.config.checkpoint_every, last):
                self.save()
                saved_at = self.step
        if self.step == self.total_steps:
            if saved_at != self.step:
                self.save()  # the final model, even with checkpoint_interval 0
            if self.log:
                self.log.close()
        return {
            "step": self.step,
            "tokens": self.step * self.tokens_per_step,
            "loss": self.last_loss,
            "val_loss": self.val_loss,
            "out_dir": str(self.out),
            "tokens_per_source": dict(zip(self.train_data.names, self.drawn.tolist())),
        }

    def train_step(self) -> float:
        """One optimizer step at self.step; returns the step's mean training loss over all ranks."""
        lr = self._lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        accum = self.config.grad_accum
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(accum):
            x, y = self.train_data.train_batch(self.step, self.dist.rank * accum + micro)
            # DDP all-reduces gradients in backward; only the last micro-step's needs it.
            sync = self.model.no_sync() if self.dist.enabled and micro < accum - 1 else nullcontext()
            with sync:
                with self._autocast():
                    _, loss = self.model(x, y)
                (loss / accum).backward()
            loss_sum += loss.detach()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.raw.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return float(distributed.mean(loss_sum / accum, self.dist))  # .item() waits for the GPU: honest timing

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over eval_iters validation batches per rank (the same batches every time)."""
        self.compiled.eval()
        total = torch.zeros((), device=self.device)
        for i in range(self.config.eval_iters):
            x, y = self.val_data.val_batch(i, self.dist.rank)
            with self._autocast():
                total += self.compiled(x, y)[1]
        self.compiled.train()
        return float(distributed.mean(total / self.config.eval_iters, self.dist))

    def save(self) -> None:
        distributed.check_replicas_agree(self.raw, self.dist)
        if self.dist.is_main:
            save_checkpoint(
                self.out / CHECKPOINT_FILE,
                step=self.step,
                tokens=self.step * self.tokens_per_step,
                model=self.raw.state_dict(),
                optimizer=self.optimizer.state_dict(),
                model_config=self.model_config.to_dict(),
                train_config=self.config.to_dict(),
                world_size=self.dist.world_size,
                rng=rng_states(),
                tokenizer=self.tokenizer,
                val_loss=self.val_loss,
            )
            if self.log:
                self.log.plot(self.out / "loss.png", title=f"{self.out.name}: {self.raw.num_params():,} parameters")
        distributed.barrier(self.dist)

    # -- helpers ----------------------------------------------------------------------------

    def describe(self) -> str:
        c, m = self.config, self.model_config
        mixture = ""
        if self.mixture:
            mixture = f" (a mixture: {', '.join(f'{s.name} {s.share:.1%}' for s in self.mixture.sources)})"
        return (
            f"model: {self.raw.num_params():,} parameters ({self.raw.num_params(embedding=False):,} without the "
            f"embedding), {m.n_layer} layers × d {m.d_model}, {m.n_head} heads, vocab {m.vocab_size:,}\n"
            f"data: {self.train_data.num_tokens:,} training tokens in {c.data}{mixture}; "
            f"{self.tokens_per_step:,} tokens per step ({c.batch_size} × {c.seq_len} × {c.grad_accum} accum × "
            f"{self.dist.world_size} rank(s)); steps {self.step} → {self.total_steps} on {self.device}"
            f"{' (compiled)' if c.compile else ''}"
        )

    def _lr(self, step: int) -> float:
        return lr_at(step, self.config, self.total_steps)

    def _due(self, interval: int, last: bool) -> bool:
        return bool(interval) and (last or self.step % interval == 0)

    def _autocast(self) -> AbstractContextManager[Any]:
        # bf16 on CUDA (no loss scaling needed, unlike fp16); CPU trains in fp32.
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else nullcontext()

    def _progress_line(self, loss: float, tokens_per_s: float, mfu: float | None, val: float | None) -> str:
        line = (
            f"step {self.step:>{len(str(self.total_steps))}}/{self.total_steps} | loss {loss:.4f} | "
            f"lr {self._lr(self.step - 1):.2e} | {tokens_per_s:,.0f} tok/s"
        )
        if mfu is not None:
            line += f" | mfu {100 * mfu:.1f}%"
        return line + (f" | val loss {val:.4f}" if val is not None else "")

    def mixture_record(self) -> dict[str, Any]:
        """The run folder's mixture.json: what the report needs to compare drawn and asked."""
        budget = self.total_steps * self.tokens_per_step
        return {
            "data": self.config.data,
            "budget": budget,
            "exact_budget": self.mixture.exact_budget,
            "sources": [
                {
                    "name": s.name,
                    "share": s.share,
                    "weight": s.weight,
                    "epochs": s.epochs,
                    "train_tokens": s.train_tokens,
                    "planned_tokens": round(s.share * budget),
                    "planned_epochs": s.epochs_at(budget),
                }
                for s in self.mixture.sources
            ],
        }

    def close(self) -> None:
        """Release the run folder (another run may use it from now on)."""
        if self.folder is not None:
            self.folder.release()
            self.folder = None

    def _prepare_run_folder(self, resume: bool, overwrite: bool) -> None:
        """Start a new run folder, or load its checkpoint for --resume; never mix two runs."""
        ckpt = self.out / CHECKPOINT_FILE
        # The model as resolved (a preset name and its spelled-out shape are the same); the
        # checkpoint, not config.yaml, holds what the weights were trained with.
        fingerprint = Fingerprint(
            "config.yaml", self.config.to_dict() | {"model": self.model_config.to_dict()}, may_change=RESUMABLE_CHANGES
        )
        if self.dist.is_main:
            self.folder = RunFolder(
                self.out,
                "train",
                RUN_FILES,
                inputs=[self.config.data],
                legacy=lambda f: (f / CHECKPOINT_FILE).is_file() or (f / "log.csv").is_file(),
            )
            self.folder.__enter__()
            if overwrite:
                self.folder.clear()
        distributed.barrier(self.dist)
        if ckpt.exists() and not resume:
            step = load_checkpoint(ckpt, mmap=True)["step"]
            raise TrainError(
                f"{self.out} holds a run (checkpoint at step {step}): pass --resume to continue it, "
                "--overwrite to start over, or choose another out_dir"
            )
        if ckpt.exists():
            self._resume_from(load_checkpoint(ckpt, map_location=self.device), fingerprint)
        elif resume and self.dist.is_main and not self.quiet:
            print(f"no checkpoint in {self.out}: starting from step 0", flush=True)
        if self.folder is not None:
            self.folder.save(fingerprint)
            if self.mixture:
                write_json_atomic(self.out / "mixture.json", self.mixture_record())

    def _resume_from(self, state: dict[str, Any], fingerprint: Fingerprint) -> None:
        changed = fingerprint.changes(state["train_config"] | {"model": state["model_config"]})
        if changed:
            raise TrainError(
                f"{self.out}: the config changed since the checkpoint ({', '.join(changed)}); "
                "resuming would not continue the same run (use another out_dir, or --overwrite)"
            )
        if state["world_size"] != self.dist.world_size:
            raise TrainError(
                f"{self.out}: the checkpoint was trained on {state['world_size']} rank(s), this run has "
                f"{self.dist.world_size}; batches per step would differ"
            )
        saved = self.out / "mixture.json"
        if self.mixture and saved.is_file() and json.loads(saved.read_text()) != self.mixture_record():
            raise TrainError(
                f"{self.out}: the mixture in {self.config.data} changed since the checkpoint (its shares or "
                "sources): resuming would not continue the same run (use another out_dir, or --overwrite)"
            )
        if state["tokenizer"]["sha256"] != self.tokenizer["sha256"]:
            raise TrainError(
                f"{self.out}: the checkpoint was trained on another tokenizer's tokens than {self.config.data}'s"
            )
        self.raw.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        restore_rng_states(state["rng"])
        self.step = state["step"]
        self.val_loss = state.get("val_loss")
        if self.dist.is_main and not self.quiet:
            print(f"resuming {self.out} from step {self.step}", flush=True)


def source_column(name: str) -> str:
    """log.csv's column of the tokens drawn from a mixture source so far."""
    return f"tokens:{name}"


def read_tokenizer(data: Path) -> dict[str, Any]:
    """The tokenizer of a token folder (its copy of tokenizer.json and the settings of
    `corpusforge tokenize`); the checkpoint embeds it so generate and export-hf need nothing else.
    A mixture's sources must all have been tokenized with its tokenizer (`read_mixture` checks)."""
    if is_mixture(data):
        # every source's copy of tokenizer.json is checked against its own tokenize.json too
        return [read_tokenizer(s.folder) for s in read_mixture(data).sources][0]
    settings_file, tokenizer_file = data / SETTINGS_FILE, data / TOKENIZER_FILE
    if not settings_file.is_file() or not tokenizer_file.is_file():
        raise TrainError(f"{data}: not a `corpusforge tokenize` output folder (no {SETTINGS_FILE} or {TOKENIZER_FILE})")
    settings = read_settings(data)
    text = tokenizer_file.read_bytes()
    if hashlib.sha256(text).hexdigest() != settings["tokenizer_sha256"]:
        raise TrainError(
            f"{tokenizer_file} is not the tokenizer these token shards were made with (its SHA-256 "
            f"{hashlib.sha256(text).hexdigest()[:12]} differs from {settings['tokenizer_sha256'][:12]} "
            f"recorded in {settings_file}): tokenize again with the tokenizer you mean"
        )
    return {
        "name": settings["tokenizer"],
        "sha256": settings["tokenizer_sha256"],
        "eos": settings["eos"],
        "eos_id": settings["eos_id"],
        "vocab_size": settings["vocab_size"],
        "json": text.decode("utf-8"),
    }


def train(
    config: TrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
    until_step: int | None = None,
) -> dict[str, Any]:
    """Build a Trainer and run it; leaves the process group when done."""
    trainer = None
    try:
        trainer = Trainer(config, resume=resume, overwrite=overwrite, quiet=quiet)
        summary = trainer.fit(until_step=until_step)
        # The bar the validation loss must clear: what a model that ignores context achieves
        # (computed on the rank that prints it only).
        entropy = trainer.train_data.unigram_entropy(trainer.model_config.vocab_size) if trainer.dist.is_main else None
        return summary | {"params": trainer.raw.num_params(), "rank": trainer.dist.rank, "unigram_entropy": entropy}
    finally:
        if trainer is not None:
            trainer.close()
        distributed.teardown()
