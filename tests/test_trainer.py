"""corpusforge train: config validation, the recipe, resume equality, DDP on gloo, the run folder,
generate and plan; end to end on the real sample (slow).

Token shards come from real text: the State of the Union addresses in ../shared/data, with a
512-token BPE trained on them (~2 s); the models are `micro`-sized so each run takes a second.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tokenizer_data import ROOT, sample_warcs, speeches, write_parquet

from corpusforge.cli import main
from corpusforge.errors import TrainConfigError, TrainError
from corpusforge.train.config import TrainConfig, load_train_config
from corpusforge.train.data import Batches, unigram_entropy
from corpusforge.train.log import COLUMNS
from corpusforge.train.mfu import flops_per_token, known_peak_flops
from corpusforge.train.optim import lr_at, make_optimizer
from corpusforge.train.trainer import Trainer, train

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    """A `corpusforge tokenize` folder (train/ and val/) of the State of the Union addresses."""
    from corpusforge.tokenizer.tokenize import tokenize
    from corpusforge.tokenizer.train import train_tokenizer

    texts = list(speeches("state_union"))
    work = tmp_path_factory.mktemp("speeches")
    write_parquet(work / "pq" / "part-0.parquet", texts)
    train_tokenizer("bpe-50k", [str(work / "pq")], work / "tok", vocab_size=512, quiet=True)
    tokenize(work / "tok", [str(work / "pq")], work / "tokens", workers=1, val_fraction=0.1, quiet=True)
    return work / "tokens"


def config(tokens: Path, out: Path, **overrides) -> TrainConfig:
    data = {
        "data": str(tokens),
        "out_dir": str(out),
        "model": "micro",
        "seq_len": 32,
        "batch_size": 4,
        "max_steps": 8,
        "lr": 1e-2,
        "warmup_steps": 2,
        "eval_interval": 4,
        "eval_iters": 2,
        "seed": 1,
    }
    return load_train_config(data=data | overrides)


def read_log(run: Path) -> list[dict[str, str]]:
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        ({"learning_rate": 1e-3}, "unknown key 'learning_rate'"),
        ({"lr": "fast"}, "'lr' must be a number"),
        ({"batch_size": 2.5}, "'batch_size' must be an integer"),
        ({"compile": "yes"}, "'compile' must be true or false"),
        ({"max_tokens": 1000}, "exactly one of 'max_steps' and 'max_tokens'"),
        ({"warmup_steps": -1}, "'warmup_steps' must be an integer >= 0"),
        ({"min_lr": 1.0}, "'min_lr' must be between 0 and lr"),
        ({"device": "tpu"}, "'device' must be one of"),
        ({"model": "7B"}, "model.preset '7B' is not one of"),
        ({"model": {"preset": "tiny", "n_layers": 3}}, "unknown key 'model.n_layers'; did you mean 'model.n_layer'"),
        ({"model": {"n_layer": 2}}, "needs a preset or n_layer, n_head and d_model"),
        ({"model": {"preset": "tiny", "rotary_pct": "half"}}, "'model.rotary_pct' must be a number"),
    ],
)
def test_config_errors_name_the_key(data: dict, message: str) -> None:
    base = {"data": "d", "out_dir": "o", "max_steps": 10}
    with pytest.raises(TrainConfigError, match=message.replace("(", r"\(")):
        load_train_config(data=base | data)


def test_config_file_errors_and_yaml_numbers(tmp_path: Path) -> None:
    with pytest.raises(TrainConfigError, match="not found"):
        load_train_config(tmp_path / "missing.yaml")
    with pytest.raises(TrainConfigError, match="'out_dir' is missing"):
        load_train_config(data={"data": "d", "max_steps": 1})
    path = tmp_path / "c.yaml"
    path.write_text("data: d\nout_dir: o\nmax_tokens: 2e6\nlr: 3e-4\nmodel: {preset: tiny, d_model: 64}\n")
    c = load_train_config(path)  # YAML 1.1 reads 2e6 and 3e-4 as strings: accepted as numbers
    assert c.max_tokens == 2_000_000 and c.lr == 3e-4 and c.final_lr == pytest.approx(3e-5)
    assert c.total_steps(world_size=2) == math.ceil(2e6 / (8 * 1024 * 2))
    shape = c.model_config(vocab_size=1000)
    assert (shape.d_model, shape.n_layer, shape.vocab_size, shape.max_seq_len) == (64, 4, 1000, 1024)
    with pytest.raises(TrainConfigError, match="model: n_head must be positive"):
        replace(c, model={"preset": "tiny", "n_head": 0}).model_config(1000)
    with pytest.raises(TrainConfigError, match="smaller than the tokenizer"):
        replace(c, model={"preset": "tiny", "vocab_size": 10}).model_config(1000)
    # Shipped configs are valid.
    for shipped in sorted((ROOT / "pipelines" / "training").glob("*.yaml")):
        load_train_config(shipped)


# -- the recipe --------------------------------------------------------------------------------


def test_lr_warms_up_then_decays_to_a_tenth() -> None:
    c = load_train_config(data={"data": "d", "out_dir": "o", "max_steps": 100, "lr": 1.0, "warmup_steps": 10})
    lrs = [lr_at(s, c, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(lrs[9:]))
    assert lrs[-1] == pytest.approx(0.1) and min(lrs) >= 0.1
    assert lrs[54] == pytest.approx(0.55)  # halfway down the cosine


def test_weight_decay_only_on_matrices(tokens: Path, tmp_path: Path) -> None:
    from corpusforge.model import Decoder, preset

    model = Decoder(preset("micro", 512, bias=True))
    decay, no_decay = make_optimizer(model, config(tokens, tmp_path), "cpu").param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert model.embed.weight in decay["params"]  # once, though the head shares it


def test_batches_are_a_function_of_seed_and_step(tokens: Path) -> None:
    a = Batches(tokens, "train", seq_len=16, batch_size=3, seed=5)
    b = Batches(tokens, "train", seq_len=16, batch_size=3, seed=5)
    x, y = a.train_batch(step=7, index=1)
    assert x.shape == (3, 16) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the next tokens
    assert torch.equal(x, b.train_batch(7, 1)[0])  # no hidden generator state
    assert not torch.equal(x, a.train_batch(7, 0)[0]) and not torch.equal(x, a.train_batch(8, 1)[0])
    assert torch.equal(a.val_batch(0)[0], b.val_batch(0)[0]) and not torch.equal(a.val_batch(0)[0], x)


def test_mfu_inputs() -> None:
    from corpusforge.model import preset

    c = preset("125M", 50257)
    f = flops_per_token(c, 2048)
    assert 6 * 124e6 < f < 6 * 124e6 + 12 * 12 * 768 * 2048 + 1  # 6N plus attention
    assert known_peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert known_peak_flops("NVIDIA H100 PCIe") == 756e12
    assert known_peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert known_peak_flops("Some Future GPU") is None


# -- training, the run folder, resume ----------------------------------------------------------


def test_train_writes_the_run_folder(tokens: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = train(config(tokens, run, max_steps=20, eval_interval=8), quiet=True)
    assert summary["step"] == 20 and summary["tokens"] == 20 * 4 * 32
    with open(run / "log.csv") as f:
        assert f.readline().strip() == "step,tokens,loss,val_loss,lr,tokens_per_s,mfu" == ",".join(COLUMNS)
    rows = read_log(run)
    assert [int(r["step"]) for r in rows] == list(range(1, 21))
    assert [r["step"] for r in rows if r["val_loss"]] == ["8", "16", "20"]  # every 8 steps, and at the end
    assert all(r["mfu"] == "" for r in rows)  # CPU, no peak_flops given
    assert float(rows[-1]["tokens_per_s"]) > 0 and float(rows[1]["lr"]) == pytest.approx(1e-2)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) - 0.3  # it learns
    assert summary["val_loss"] == pytest.approx(float(rows[-1]["val_loss"]), abs=1e-6)
    assert summary["val_loss"] < summary["unigram_entropy"] + 1.5  # far from converged, but sane
    assert (run / "ckpt.pt").stat().st_size > 0
    pytest.importorskip("matplotlib")
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # config.yaml is the resolved config: a valid config of the same run.
    saved = load_train_config(run / "config.yaml")
    assert saved.model["n_layer"] == 2 and saved.model["vocab_size"] == 512 and saved.seq_len == 32


def test_a_warmup_longer_than_the_run_is_a_warning(tokens: Path, tmp_path: Path, caplog) -> None:
    train(config(tokens, tmp_path / "ok"), quiet=True)
    assert not [r for r in caplog.records if "warmup_steps" in r.getMessage()]
    train(config(tokens, tmp_path / "run", max_steps=3, warmup_steps=10), quiet=True)
    (message,) = [r.getMessage() for r in caplog.records if "warmup_steps" in r.getMessage()]
    assert "warmup_steps 10 is not below the run's 3 steps" in message and "0.003 of lr 0.01" in message


def test_resume_continues_the_same_loss_curve(tokens: Path, tmp_path: Path) -> None:
    whole = config(tokens, tmp_path / "whole", max_steps=10, checkpoint_interval=3, grad_accum=2)
    train(whole, quiet=True)
    # Killed after step 7: the last checkpoint is step 6, and log.csv already has row 7.
    broken = replace(whole, out_dir=str(tmp_path / "broken"))
    train(broken, quiet=True, until_step=7)
    assert len(read_log(tmp_path / "broken")) == 7
    summary = train(broken, resume=True, quiet=True)
    assert summary["step"] == 10
    expected, got = read_log(tmp_path / "whole"), read_log(tmp_path / "broken")
    assert [r["step"] for r in got] == [str(s) for s in range(1, 11)]
    for a, b in zip(expected, got):
        assert (a["loss"], a["val_loss"], a["lr"], a["tokens"]) == (b["loss"], b["val_loss"], b["lr"], b["tokens"])
    final = [torch.load(tmp_path / r / "ckpt.pt", weights_only=True)["model"] for r in ("whole", "broken")]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])


def test_run_folder_is_never_mixed(tokens: Path, tmp_path: Path) -> None:
    c = config(tokens, tmp_path / "run", max_steps=3, eval_interval=0)
    train(c, quiet=True)
    with pytest.raises(TrainError, match="holds a run .* pass --resume"):
        Trainer(c, quiet=True)
    with pytest.raises(TrainError, match=r"config changed since the checkpoint \(lr\)"):
        Trainer(replace(c, lr=1e-3), resume=True, quiet=True)
    with pytest.raises(TrainError, match=r"config changed since the checkpoint \(model\)"):
        Trainer(replace(c, model={"preset": "micro", "rotary_pct": 0.5}), resume=True, quiet=True)
    # Logging and evaluation settings may change; a finished run resumes to nothing to do.
    assert train(replace(c, log_interval=5), resume=True, quiet=True)["step"] == 3
    assert train(replace(c, lr=1e-3), overwrite=True, quiet=True)["step"] == 3
    no_val = tmp_path / "no-val"
    shutil.copytree(tokens, no_val, ignore=shutil.ignore_patterns("val"))
    with pytest.raises(TrainError, match="no val/ split"):
        Trainer(replace(c, out_dir=str(tmp_path / "x"), data=str(no_val), eval_interval=1))
    with pytest.raises(TrainError, match="not a `corpusforge tokenize` output"):
        Trainer(replace(c, out_dir=str(tmp_path / "x"), data=str(tokens / "train")))


def test_max_tokens_budget_and_accumulation(tokens: Path, tmp_path: Path) -> None:
    summary = train(
        config(tokens, tmp_path / "run", max_steps=None, max_tokens=1000, grad_accum=2, eval_interval=0), quiet=True
    )
    assert summary["step"] == math.ceil(1000 / (4 * 32 * 2)) and summary["tokens"] == 4 * 4 * 32 * 2


def test_unigram_entropy(tokens: Path) -> None:
    from corpusforge.tokenizer.shards import TokenShards

    shards = TokenShards(tokens, "train")
    h = unigram_entropy(shards, 512)
    assert 4.0 < h < math.log(512)
    counts = np.bincount(np.concatenate([np.asarray(t) for t in shards.tokens]), minlength=512)
    p = counts[counts > 0] / counts.sum()
    assert h == pytest.approx(float(-(p * np.log(p)).sum()))


# -- DDP ---------------------------------------------------------------------------------------


def test_ddp_two_processes_on_gloo(tokens: Path, tmp_path: Path) -> None:
    """torchrun, 2 CPU processes, gloo: ranks stay identical (checked at every checkpoint) and
    the run equals one process accumulating both ranks' micro-batches."""
    ddp = config(tokens, tmp_path / "ddp", max_steps=6, checkpoint_interval=3, eval_interval=3)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(ddp.to_dict()))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "corpusforge", "train", str(path)],
        cwd=ROOT,
        env=env | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 rank(s)" in proc.stdout and proc.stdout.count("done: 6 steps") == 1  # rank 0 alone reports

    single = train(replace(ddp, out_dir=str(tmp_path / "single"), grad_accum=2), quiet=True)
    a, b = read_log(tmp_path / "ddp"), read_log(tmp_path / "single")
    assert [r["tokens"] for r in a] == [r["tokens"] for r in b]
    for ra, rb in zip(a, b):  # same data and math; only the order of float additions differs
        assert float(ra["loss"]) == pytest.approx(float(rb["loss"]), abs=1e-5)
    weights = [torch.load(tmp_path / r / "ckpt.pt", weights_only=True)["model"] for r in ("ddp", "single")]
    assert all(torch.allclose(weights[0][k], weights[1][k], atol=1e-5) for k in weights[0])
    # Validation averages each rank's own batches: both ranks' here, rank 0's alone there.
    assert a[-1]["val_loss"] and single["val_loss"] is not None


# -- the other verbs ---------------------------------------------------------------------------


def test_generate_and_cli(tokens: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config(tokens, run, max_steps=4, eval_interval=2).to_dict()))
    assert main(["train", str(path), "--quiet"]) == 0
    assert main(["train", str(path)]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main(["train", str(path), "--resume"]) == 0
    assert "done: 4 steps" in capsys.readouterr().out

    outputs = []
    for seed in (1, 1, 2):
        assert (
            main(["generate", str(run), "--prompt", "Mr. Speaker, the", "--max-new-tokens", "20", "--seed", str(seed)])
            == 0
        )
        outputs.append(capsys.readouterr().out)
    assert all(o.startswith("Mr. Speaker, the") for o in outputs)
    assert outputs[0] == outputs[1] != outputs[2]
    assert main(["generate", str(run / "ckpt.pt"), "--max-new-tokens", "5", "--temperature", "0"]) == 0
    assert main(["generate", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_plan_cli(tokens: Path, capsys) -> None:
    assert main(["plan", "--tokens", "2.5B"]) == 0
    out = capsys.readouterr().out
    assert "≈ 125.0M parameters" in out and "preset 125M" in out and "C ≈ 6·N·D = 1.8" in out
    planned = yaml.safe_load(out[out.index("data:") :])
    c = load_train_config(data=planned)
    assert c.max_tokens == 2_500_000_000 and c.model == {"preset": "125M"} and 1e-4 < c.lr < 1e-3
    assert c.tokens_per_step * c.total_steps() >= 2.5e9

    assert main(["plan", "--tokens", "26e9", "--gpus", "8"]) == 0
    assert "preset 1.3B" in capsys.readouterr().out
    assert main(["plan", "--data", str(tokens), "--seq-len", "128"]) == 0
    out = capsys.readouterr().out
    assert "custom shape" in out and "512-token vocabulary" in out and f"data: {tokens}" in out
    assert main(["plan"]) == 2 and main(["plan", "--tokens", "lots"]) == 2


# -- end to end on the bundled sample ----------------------------------------------------------


@pytest.mark.slow
def test_tiny_preset_learns_the_sample(tmp_path: Path, monkeypatch) -> None:
    """`make train`'s path on the bundled crawls: pipelines/massivetext.yaml → a 4,096-token BPE →
    token shards with 10% held out → the tiny preset as pipelines/training/tiny-sample.yaml trains it
    (~3 min). Validation loss must end well below the unigram entropy of the tokens (what a model
    ignoring context achieves); measured: 5.94 vs 6.97 nats."""
    warcs = sample_warcs()
    from corpusforge.engine.config import load_config
    from corpusforge.engine.runner import run_pipeline
    from corpusforge.tokenizer.tokenize import tokenize
    from corpusforge.tokenizer.train import train_tokenizer

    monkeypatch.chdir(ROOT)  # the pipeline's test-set paths are relative to the repo root
    run_pipeline(
        load_config(
            ROOT / "pipelines" / "massivetext.yaml",
            inputs=[str(p) for p in warcs],
            output=str(tmp_path / "corpus"),
            workers=2,
        ),
        quiet=True,
    )
    corpus = [str(tmp_path / "corpus" / "data")]
    train_tokenizer("bpe-50k", corpus, tmp_path / "tok", vocab_size=4096, quiet=True)
    tokenize(tmp_path / "tok", corpus, tmp_path / "tokens", workers=2, val_fraction=0.1, quiet=True)
    shipped = yaml.safe_load((ROOT / "pipelines" / "training" / "tiny-sample.yaml").read_text())
    c = load_train_config(data=shipped | {"data": str(tmp_path / "tokens"), "out_dir": str(tmp_path / "run")})
    summary = train(c, quiet=True)
    print(f"val loss {summary['val_loss']:.3f} vs unigram entropy {summary['unigram_entropy']:.3f}")
    assert summary["val_loss"] < summary["unigram_entropy"] - 0.75
