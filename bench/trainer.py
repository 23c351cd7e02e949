"""Trainer benchmark: training tokens/s of `corpusforge train`'s loop against a plain PyTorch loop.

Run from the repo root (`make bench`):  .venv/bin/python bench/trainer.py [--threads N] [--quick]

Both sides train the same model (the `tiny` preset, same init) on the same token shards with the
same batch shape, AdamW settings and gradient clipping, in one process with the same threads:
- ours:  `Trainer.fit()` (the real loop: LR schedule, seeded per-step batches, loss all-reduce,
         log.csv row, tokens/s and MFU bookkeeping), eval and checkpoints off;
- plain: a minimal loop (sample_batch → forward → backward → clip → step), nanoGPT-style.
Timing windows alternate between the two (ours, plain, plain, ours, ...) so load from other
processes hits both alike; warmup steps (and torch.compile's compilation) are excluded. Reported:
each loop's median tokens/s over its windows, and the ratio as the median of the ratios of
neighbouring windows (robust to load that changes during the run). Goal: ours >= 0.95x plain,
eager and compiled.
Peak memory (peak RSS, VmHWM; on CUDA torch.cuda.max_memory_allocated) is measured per variant in its
own subprocess, since a process's peak RSS only grows.

Text (real): the State of the Union and inaugural addresses in ../shared/data/text, with a
4,096-token BPE trained on them (cached in bench/out/trainer/).
Results: printed, and bench/out/trainer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
import zipfile
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from corpusforge.engine.stats import peak_rss_mb
from corpusforge.model import Decoder
from corpusforge.tokenizer.shards import TokenShards
from corpusforge.train.config import TrainConfig, load_train_config
from corpusforge.train.trainer import Trainer, read_tokenizer

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
WORK = OUT / "trainer"


def token_folder() -> Path:
    """Token shards of the speeches (built once)."""
    tokens = WORK / "tokens"
    if (tokens / "summary.json").exists():
        return tokens
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpusforge.tokenizer.tokenize import tokenize
    from corpusforge.tokenizer.train import train_tokenizer

    texts = []
    for name in ("state_union", "inaugural"):
        path = SHARED / "text" / f"{name}.zip"
        if not path.exists():
            sys.exit(f"real text data not found at {path} (clone with ../shared beside the repo)")
        with zipfile.ZipFile(path) as z:
            texts += [z.read(n).decode("utf-8", "replace") for n in sorted(z.namelist()) if n.endswith(".txt")]
    (WORK / "pq").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts}), WORK / "pq" / "part-0.parquet")
    train_tokenizer("bpe-50k", [str(WORK / "pq")], WORK / "tok", vocab_size=4096, quiet=True, overwrite=True)
    tokenize(WORK / "tok", [str(WORK / "pq")], tokens, workers=1, val_fraction=0.05, quiet=True, overwrite=True)
    return tokens


def make_config(args: argparse.Namespace, compile_: bool) -> TrainConfig:
    return load_train_config(
        data={
            "data": str(token_folder()),
            "out_dir": str(WORK / f"run-{'compiled' if compile_ else 'eager'}"),
            "model": "tiny",
            "seq_len": args.seq_len,
            "batch_size": args.batch_size,
            "max_steps": 1_000_000,
            "lr": 1e-3,
            "warmup_steps": 10,
            "eval_interval": 0,
            "checkpoint_interval": 0,
            "log_interval": 1_000_000,
            "compile": compile_,
            "seed": 0,
        }
    )


def ours(config: TrainConfig) -> tuple[Callable[[int], None], dict[str, Any]]:
    trainer = Trainer(config, overwrite=True, quiet=True)

    def run(steps: int) -> None:
        trainer.fit(until_step=trainer.step + steps)

    return run, {"device": str(trainer.device), "params": trainer.raw.num_params()}


def plain(config: TrainConfig) -> tuple[Callable[[int], None], dict[str, Any]]:
    """The minimal loop a user would write, for the same model and batch shape."""
    device = torch.device("cuda" if torch.cuda.is_available() and config.device != "cpu" else "cpu")
    shards = TokenShards(config.data, "train")
    torch.manual_seed(config.seed)
    model = Decoder(config.model_config(read_tokenizer(Path(config.data))["vocab_size"]))
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=0.1)
    step_model = torch.compile(model) if config.compile else model
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext
    rng = np.random.default_rng(0)

    def run(steps: int) -> None:
        for _ in range(steps):
            x, y = shards.sample_batch(rng, config.batch_size, config.seq_len)
            x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            with autocast():
                _, loss = step_model(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            loss.item()

    return run, {"device": str(device)}


def compare(args: argparse.Namespace, compile_: bool) -> dict[str, Any]:
    config = make_config(args, compile_)
    tokens_per_step = config.batch_size * config.seq_len
    runners = {"ours": ours(config), "plain": plain(config)}
    started = time.perf_counter()
    for run, _ in runners.values():
        run(args.warmup)  # compilation, allocator and cache warmup
    warmup_s = time.perf_counter() - started
    rates: dict[str, list[float]] = {"ours": [], "plain": []}
    for window in range(args.windows):
        order = ("ours", "plain") if window % 2 == 0 else ("plain", "ours")
        for name in order:
            _sync()
            t0 = time.perf_counter()
            runners[name][0](args.steps)
            _sync()
            rates[name].append(args.steps * tokens_per_step / (time.perf_counter() - t0))
    med = {name: statistics.median(r) for name, r in rates.items()}
    # Each window of ours sits next to one of plain in time: their ratio cancels load that comes
    # and goes (other processes on a shared machine); the median of those ratios is the figure.
    paired = statistics.median(o / p for o, p in zip(rates["ours"], rates["plain"]))
    return {
        "compile": compile_,
        "tokens_per_step": tokens_per_step,
        "warmup_s": round(warmup_s, 1),
        "ours_tokens_per_s": round(med["ours"]),
        "plain_tokens_per_s": round(med["plain"]),
        "ratio": round(paired, 3),
        "windows": {name: [round(r) for r in rs] for name, rs in rates.items()},
        **runners["ours"][1],
    }


def peak_memory(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    """Max RSS (and CUDA max allocated) of warmup + a few steps of one variant, in a fresh process."""
    cmd = [
        sys.executable,
        __file__,
        "--memory-of",
        variant,
        "--threads",
        str(args.threads),
        "--seq-len",
        str(args.seq_len),
        "--batch-size",
        str(args.batch_size),
        "--warmup",
        str(args.warmup),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory_child(args: argparse.Namespace) -> None:
    who, mode = args.memory_of.split("-")
    config = make_config(args, mode == "compiled")
    baseline = peak_rss_mb()  # torch and friends imported
    run, _ = (ours if who == "ours" else plain)(config)
    run(args.warmup + 5)
    peak = peak_rss_mb()
    result = {"max_rss_mb": peak, "over_imports_mb": peak - baseline}
    if torch.cuda.is_available():
        result["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    print(json.dumps(result))


def _mb(memory: dict[str, Any]) -> str:
    if "error" in memory:
        return f"failed ({memory['error']})"
    text = f"{memory['max_rss_mb']} MB (+{memory['over_imports_mb']} MB over the imports)"
    return text + (f", CUDA {memory['cuda_max_allocated_mb']} MB" if "cuda_max_allocated_mb" in memory else "")


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="torch intra-op threads for both loops (default: all cores)",
    )
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=5, help="steps per loop before timing")
    parser.add_argument("--steps", type=int, default=5, help="steps per timing window")
    parser.add_argument("--windows", type=int, default=10, help="timing windows per loop")
    parser.add_argument("--no-compile", action="store_true", help="eager only")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter windows")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_of:
        return memory_child(args)
    if args.quick:
        args.steps, args.windows = 3, 4
    token_folder()

    results: dict[str, Any] = {
        "threads": args.threads,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "steps_per_window": args.steps,
        "windows": args.windows,
        "runs": [],
    }
    for compile_ in [False] if args.no_compile else [False, True]:
        label = "compiled" if compile_ else "eager"
        try:
            r = compare(args, compile_)
        except Exception as exc:  # noqa: BLE001 - torch.compile may be unavailable here; say why
            results["runs"].append({"compile": compile_, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
            print(f"{label}: failed: {results['runs'][-1]['error']}")
            traceback.print_exc(limit=3)
            continue
        r["memory"] = {who: peak_memory(args, f"{who}-{label}") for who in ("ours", "plain")}
        results["runs"].append(r)
        print(
            f"{label:>8}: ours {r['ours_tokens_per_s']:>8,} tok/s   plain {r['plain_tokens_per_s']:>8,} tok/s   "
            f"ratio {r['ratio']:.3f}   (warmup {r['warmup_s']} s; peak RSS ours "
            f"{_mb(r['memory']['ours'])}, plain {_mb(r['memory']['plain'])})"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "trainer.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"→ {OUT / 'trainer.json'}  ({args.threads} thread(s), {results['device']}, tiny preset, "
        f"{args.batch_size} × {args.seq_len} tokens per step)"
    )


if __name__ == "__main__":
    main()
