"""`corpusforge ablate VARIANT_A VARIANT_B ... --tokens N --eval HELDOUT`: does a data choice help?

Each variant is a pipeline output folder, or a pipeline config run first (README, "Ablations").
Everything but the data is held equal: one tokenizer, trained on the union of the variants (one
trained on a single variant would favour it); the same model, seed, schedule and token budget (a
smaller variant is seen for more epochs: that is part of what is measured); and every model
scored on the same held-out text, window by window over all of it (up to `max_eval_tokens`).

```
OUT/
  tokenizer/                 the shared tokenizer
  tokens/<variant>/ tokens/heldout/
  runs/<variant>/            ckpt.pt, log.csv, loss.png (a `corpusforge train` run folder)
  ablation.json              the table; also copied into each pipeline output folder, whose
                             report.html is rewritten with an "Ablation" section
```
Every step is resumable: a rerun of the same command reuses the tokenizer, the token folders
and finished runs, and continues an interrupted run from its checkpoint.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.errors import AblationError
from corpusforge.io.atomic import atomic_path, write_json_atomic
from corpusforge.io.paths import expand_local
from corpusforge.io.plain_text import text_file_document, zip_documents
from corpusforge.io.run_folder import Fingerprint, RunFolder
from corpusforge.tokenizer.artifact import TOKENIZER_FILE

ABLATION_FILE = "ablation.json"
INPUTS_RECORD = "ablation-inputs.json"
ABLATION_ENTRIES = ("tokenizer", "tokens", "runs", "heldout", ABLATION_FILE)
DEFAULT_MODEL = "tiny"


@dataclass(frozen=True)
class Variant:
    name: str
    shards: list[str]  # Parquet shards of the corpus
    output: Path | None  # the pipeline output folder (gets ablation.json and the report)
    source: str  # what the user named


def resolve_variant(arg: str, quiet: bool = False) -> Variant:
    """A pipeline output folder (with data/*.parquet), a folder of Parquet shards, or a pipeline
    config (run now, resuming whatever it finished before)."""
    path = Path(arg)
    if path.suffix in (".yaml", ".yml"):
        from corpusforge.engine.config import load_config
        from corpusforge.engine.runner import run_pipeline

        config = load_config(path)
        if not quiet:
            print(f"ablate: running {path} → {config.output}", flush=True)
        run_pipeline(config, quiet=quiet)
        return Variant(path.stem, _corpus_shards(config.output), config.output, arg)
    if path.is_dir():
        from corpusforge.engine.runner import is_run_folder

        # ablation.json and the report go only into a folder a pipeline run made (never
        # among someone else's files); any other folder of shards is only read
        output = path if is_run_folder(path) else None
        return Variant(path.name, _corpus_shards(path), output, arg)
    raise AblationError(f"variant {arg!r}: expected a pipeline output folder or a pipeline config (.yaml)")


def _corpus_shards(folder: Path) -> list[str]:
    data = folder / "data" if (folder / "data").is_dir() else folder
    shards = sorted(str(p) for p in data.glob("*.parquet"))
    if not shards:
        raise AblationError(f"{folder}: no Parquet shards (expected {data}/*.parquet)")
    return shards


def heldout_shards(patterns: list[str], work: Path) -> list[str]:
    """Parquet shards as given; plain text (.txt files, .zip archives of text files, read by
    corpusforge.io.plain_text) written once into one Parquet shard under `work`, one document
    per file, in name order."""
    parquet: list[str] = []
    texts: list[tuple[str, str]] = []
    for pattern in patterns:
        matches = expand_local(pattern)
        if not matches:
            raise AblationError(f"--eval: nothing matches {pattern!r}")
        for m in matches:
            p = Path(m)
            if p.is_dir():
                parquet += _corpus_shards(p)
            elif p.suffix == ".parquet":
                parquet.append(m)
            elif p.suffix == ".zip":
                texts += zip_documents(p)
            elif p.suffix == ".txt":
                texts.append(text_file_document(p))
            else:
                raise AblationError(
                    f"--eval: {m}: expected Parquet shards, a pipeline output folder, "
                    ".txt files or a .zip of .txt files"
                )
    if texts:
        shard = work / "heldout-text.parquet"
        table = pa.table({"id": [t[0] for t in texts], "text": [t[1] for t in texts]})
        with atomic_path(shard) as tmp:
            pq.write_table(table, tmp)
        parquet.append(str(shard))
    if not parquet:
        raise AblationError("--eval: no held-out text found")
    return parquet


def inputs_record(variants: list[Variant], recipe: str, vocab_size: int) -> Fingerprint:
    """What the shared tokenizer, and so every token shard and run, is made from; sizes and
    modification times too: a variant re-run into the same folder changes its shards."""
    inputs = sorted({s for v in variants for s in v.shards})
    return Fingerprint(
        f"tokenizer/{INPUTS_RECORD}",
        {
            "recipe": recipe,
            "vocab_size": vocab_size,
            "inputs": [[s, os.stat(s).st_size, os.stat(s).st_mtime_ns] for s in inputs],
        },
    )


def shared_tokenizer(folder: RunFolder, record: Fingerprint, quiet: bool) -> Path:
    """One tokenizer on the union of the variants; if the text cannot support the record's
    vocab_size, the size it supports (said, not silent)."""
    from corpusforge.tokenizer.train import train_tokenizer

    tokenizer = folder.path / "tokenizer"
    if (folder.path / record.file).exists() and (tokenizer / TOKENIZER_FILE).exists():
        return tokenizer  # the record matches: `ablate` checked it
    wanted = record.values
    info = train_tokenizer(
        wanted["recipe"],
        [s for s, _, _ in wanted["inputs"]],
        tokenizer,
        vocab_size=wanted["vocab_size"],
        overwrite=True,
        quiet=quiet,
        fit_vocab=True,
    )
    if info["vocab_size"] < wanted["vocab_size"] and not quiet:
        print(
            f"ablate: the variants' text supports {info['vocab_size']:,} tokens, not {wanted['vocab_size']:,}: "
            "using that",
            flush=True,
        )
    folder.save(record)  # last: it also says the tokenizer is complete
    return tokenizer


@dataclass(frozen=True)
class Budget:
    tokens: int
    model: str = DEFAULT_MODEL
    seq_len: int = 128
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0
    max_eval_tokens: int = 2_000_000

    @property
    def steps(self) -> int:
        return max(1, math.ceil(self.tokens / (self.seq_len * self.batch_size)))


def train_variant(tokens: Path, run: Path, budget: Budget, quiet: bool) -> dict[str, Any]:
    from corpusforge.train.config import load_train_config
    from corpusforge.train.trainer import train

    config = load_train_config(
        data={
            "data": str(tokens),
            "out_dir": str(run),
            "model": budget.model,
            "seq_len": budget.seq_len,
            "batch_size": budget.batch_size,
            "max_steps": budget.steps,
            "lr": budget.lr,
            "warmup_steps": max(1, budget.steps // 20),
            "eval_interval": 0,
            "seed": budget.seed,
            "log_interval": max(1, budget.steps // 10),
            "device": "cpu",
        }
    )
    return train(config, resume=True, quiet=quiet)


@dataclass(frozen=True)
class HeldOut:
    stream: np.ndarray  # the held-out tokens, shards back to back (EOS between documents)
    bytes_per_token: float  # the text's UTF-8 bytes over its tokens (EOS included)

    @classmethod
    def load(cls, folder: Path, max_tokens: int) -> HeldOut:
        from corpusforge.tokenizer.shards import TokenShards

        shards = TokenShards(folder, "train")
        stream = np.concatenate([np.asarray(t[: max_tokens + 1]) for t in shards.tokens])[: max_tokens + 1]
        text_bytes = sum(h["text_bytes"] for h in shards.headers)
        return cls(stream.astype(np.int64), text_bytes / shards.num_tokens)


def heldout_loss(run: Path, heldout: HeldOut, seq_len: int, batch: int = 16) -> dict[str, float]:
    """Mean next-token loss over consecutive windows covering the held-out tokens (all of
    them, up to max_eval_tokens): every variant is scored on exactly the same predictions."""
    import torch
    import torch.nn.functional as F

    from corpusforge.train.checkpoint import load_model

    model, _ = load_model(run)
    stream = heldout.stream
    n = (len(stream) - 1) // seq_len
    if n == 0:
        raise AblationError(f"the held-out text has fewer than {seq_len + 1} tokens")
    x = torch.from_numpy(stream[: n * seq_len].reshape(n, seq_len))
    y = torch.from_numpy(stream[1 : n * seq_len + 1].reshape(n, seq_len))
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, batch):
            logits, _ = model(x[i : i + batch])
            total += F.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(), y[i : i + batch].reshape(-1), reduction="sum"
            ).item()
    predicted = n * seq_len
    loss = total / predicted
    return {"loss": loss, "bits_per_byte": loss / math.log(2) / heldout.bytes_per_token, "tokens": predicted}


def ablate(
    variants: list[str],
    tokens: int,
    eval_patterns: list[str],
    output: str | Path,
    recipe: str = "bpe-50k",
    vocab_size: int = 8192,
    model: str = DEFAULT_MODEL,
    seq_len: int = 128,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    overwrite: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    if len(variants) < 2:
        raise AblationError("ablate compares at least two variants")
    if tokens < 1:
        raise AblationError(f"--tokens must be positive, got {tokens}")
    resolved = [resolve_variant(v, quiet) for v in variants]
    names = [v.name for v in resolved]
    if len(set(names)) != len(names):
        raise AblationError(f"variants need distinct names (folder or config file names), got {names}")
    record = inputs_record(resolved, recipe, vocab_size)
    budget = Budget(tokens=tokens, model=model, seq_len=seq_len, batch_size=batch_size, lr=lr, seed=seed)
    with RunFolder(
        Path(output),
        "ablation",
        ABLATION_ENTRIES,
        inputs=[s for v in resolved for s in v.shards],
        legacy=lambda f: (f / record.file).is_file(),
    ) as folder:
        folder.start(overwrite, "an ablation of other corpora or settings", record)
        return _ablate(resolved, folder, record, budget, eval_patterns, quiet)


def _ablate(
    resolved: list[Variant],
    folder: RunFolder,
    record: Fingerprint,
    budget: Budget,
    eval_patterns: list[str],
    quiet: bool,
) -> dict[str, Any]:
    from corpusforge.engine.runner import output_folder
    from corpusforge.tokenizer.tokenize import tokenize

    out = folder.path
    heldout = heldout_shards(eval_patterns, out / "heldout")
    overlap = set(heldout) & {s for v in resolved for s in v.shards}
    if overlap:
        raise AblationError(f"--eval shares shards with a variant ({sorted(overlap)[0]}): held-out text must be unseen")

    tokenizer = shared_tokenizer(folder, record, quiet)
    heldout_tokens = out / "tokens" / "heldout"
    # always redone (a second or two): --eval files may have changed under the same names
    tokenize(tokenizer, heldout, heldout_tokens, seed=budget.seed, overwrite=True, quiet=True)
    scoring = HeldOut.load(heldout_tokens, budget.max_eval_tokens)

    rows = []
    for v in resolved:
        tok_dir = out / "tokens" / v.name
        summary = tokenize(tokenizer, v.shards, tok_dir, seed=budget.seed, quiet=True)
        run = out / "runs" / v.name
        if not quiet:
            print(
                f"ablate: training {budget.model} on {v.name} for {budget.steps:,} steps "
                f"({budget.steps * budget.seq_len * budget.batch_size:,} tokens)",
                flush=True,
            )
        trained = train_variant(tok_dir, run, budget, quiet)
        scored = heldout_loss(run, scoring, budget.seq_len)
        corpus_tokens = summary["train"]["tokens"]
        rows.append(
            {
                "variant": v.name,
                "source": v.source,
                "output": str(v.output) if v.output else None,
                "documents": summary["train"]["documents"],
                "corpus_tokens": corpus_tokens,
                "epochs": round(trained["tokens"] / corpus_tokens, 2) if corpus_tokens else None,
                "train_loss": _final_train_loss(run),
                "heldout_loss": scored["loss"],
                "heldout_bits_per_byte": scored["bits_per_byte"],
                "run": str(run),
            }
        )
    result = {
        "variants": rows,
        "heldout": heldout,
        "heldout_tokens": scored["tokens"],
        "tokenizer": str(tokenizer),
        "budget": budget.__dict__ | {"steps": budget.steps},
    }
    write_json_atomic(out / ABLATION_FILE, result)
    for v in resolved:
        if v.output is not None:
            with output_folder(v.output):  # no run may be clearing it meanwhile
                write_json_atomic(v.output / ABLATION_FILE, result)
                _rewrite_report(v.output, [r["run"] for r in rows], quiet)
    return result


def _final_train_loss(run: Path) -> float:
    """Mean training loss of the last 10 logged steps (one batch is noisy; a finished run that
    is resumed trains no step, so the log, not train()'s return value, is the source)."""
    with open(run / "log.csv") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise AblationError(f"{run}/log.csv: no training step logged")
    return float(np.mean([float(r["loss"]) for r in rows[-10:]]))


def _rewrite_report(output: Path, runs: list[str], quiet: bool) -> None:
    try:
        from corpusforge.report import write_report

        write_report(output, runs=runs)
    except Exception as exc:  # noqa: BLE001 - the table is written; the report is a view of it
        if not quiet:
            print(f"warning: could not rewrite {output}/report.html: {type(exc).__name__}: {exc}")


def format_ablation(result: dict[str, Any]) -> str:
    b = result["budget"]
    lines = [
        f"same tokenizer, model {b['model']}, seed {b['seed']}, {b['steps']:,} steps × "
        f"{b['seq_len'] * b['batch_size']:,} tokens; held-out: {result['heldout_tokens']:,} predicted tokens",
        f"{'variant':<28} {'documents':>9} {'tokens':>10} {'epochs':>7} {'train loss':>10} "
        f"{'held-out loss':>13} {'bits/byte':>9}",
    ]
    best = min(r["heldout_loss"] for r in result["variants"])
    for r in result["variants"]:
        mark = " *" if r["heldout_loss"] == best else ""
        lines.append(
            f"{r['variant']:<28} {r['documents']:>9,} {r['corpus_tokens']:>10,} {r['epochs']:>7} "
            f"{r['train_loss']:>10.4f} {r['heldout_loss']:>13.4f} {r['heldout_bits_per_byte']:>9.4f}{mark}"
        )
    return "\n".join(lines)
