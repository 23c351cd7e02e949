"""Fault injection: kill the whole process group (SIGKILL) just before and just after each atomic
rename of a pipeline run, a tokenize and a train; run the same command again; the result must
be the bytes of a run that was never killed. `make test` kills at a few renames of each; the
slow suite (`make test-slow`) at every one."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from tokenizer_data import speeches, write_parquet

FAULT_RUN = ROOT / "tests" / "fault_run.py"


def cli(args: list[str], fault: str, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"CORPUSFORGE_FAULT": fault, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(FAULT_RUN), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=600,
    )  # its own process group: the kill spares pytest


def rename_count(args: list[str], tmp_path: Path) -> int:
    counter = tmp_path / "renames.txt"
    done = cli(args, f"count:{counter}", tmp_path)
    assert done.returncode == 0, done.stderr
    return int(counter.read_text())


def points(total: int, every: bool) -> list[str]:
    """Every rename, before and after it; or two: mid-run just after a rename (a resume from
    what was finished) and just before the last one (everything but the last file)."""
    if every:
        return [f"{when}:{n}" for n in range(1, total + 1) for when in ("before", "after")]
    return [f"after:{total // 2}", f"before:{total}"]


def digests(folder: Path, patterns: list[str]) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for pattern in patterns
        for p in sorted(folder.glob(pattern))
    }


def reference_run(tmp_path: Path, make_args) -> tuple[Path, int]:
    """A run never killed, in the folder every killed run will use (paths are in its files),
    moved aside; returns it and how many renames it made."""
    run = tmp_path / "run"
    total = rename_count(make_args(run), tmp_path)
    run.rename(tmp_path / "reference")
    return tmp_path / "reference", total


def kill_and_resume(tmp_path: Path, make_args, fault: str, resume_flag: list[str] = ()) -> Path:
    out = tmp_path / "run"
    if out.exists():
        shutil.rmtree(out)  # the previous fault's (this test's own folder)
    killed = cli(make_args(out), fault, tmp_path)
    assert killed.returncode == -9, f"{fault}: the run was not killed ({killed.returncode}): {killed.stderr}"
    resumed = cli(make_args(out) + list(resume_flag), "count:/dev/null", tmp_path)
    assert resumed.returncode == 0, f"{fault}: the resumed run failed: {resumed.stderr}"
    assert not list(out.rglob(".*.tmp")), f"{fault}: temporary files left behind"
    return out


# --- a pipeline run: every phase (streaming, exact dedup, MinHash), the rejected sample ---------


@pytest.fixture(scope="module")
def pipeline_setup(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("fault-pipeline")
    texts = [p for s in speeches()[:24] for p in s.split("\n\n") if len(p.split()) > 30]
    for i in range(3):  # overlapping files: exact and near duplicates across tasks
        chunk = texts[i * 60 : i * 60 + 90]
        (root / f"in-{i}.jsonl").write_text(
            "\n".join(json.dumps({"text": t + (" Thank you." if i == 2 else "")}) for t in chunk) + "\n"
        )
    config = root / "pipeline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "input": str(root / "in-*.jsonl"),
                "workers": 1,
                "rejected": 2,
                "stages": [
                    "jsonl_reader",
                    "exact_dedup",
                    {"minhash_dedup": {"ngram": 5, "threshold": 0.7}},
                    {"parquet_writer": {"max_rows": 40}},
                ],
            }
        )
    )
    return config, root


def _pipeline_args(config: Path):
    return lambda out: ["run", str(config), "--output", str(out), "--quiet", "--no-report"]


def _stage_counts(out: Path) -> list:
    stats = json.loads((out / "stats.json").read_text())
    return [(s["name"], s["in"], s["out"], s["dropped"]) for s in stats["stages"]]


def _check_pipeline(tmp_path: Path, setup, every: bool) -> None:
    config, _ = setup
    args = _pipeline_args(config)
    reference, total = reference_run(tmp_path, args)
    want = digests(reference, ["data/*.parquet", "rejected/*", "README.md"])
    assert len(want) >= 4 and total > 10
    for fault in points(total, every):
        out = kill_and_resume(tmp_path, args, fault)
        assert digests(out, ["data/*.parquet", "rejected/*", "README.md"]) == want, fault
        assert _stage_counts(out) == _stage_counts(reference), fault


def test_killed_pipeline_resumes_to_the_same_bytes(tmp_path: Path, pipeline_setup) -> None:
    _check_pipeline(tmp_path, pipeline_setup, every=False)


@pytest.mark.slow
def test_killed_pipeline_at_every_rename(tmp_path: Path, pipeline_setup) -> None:
    _check_pipeline(tmp_path, pipeline_setup, every=True)


# --- the scale bench's pipeline: exact, MinHash (verify) and decontamination on its documents ---


@pytest.fixture(scope="module")
def scale_setup(tmp_path_factory) -> tuple[Path, Path]:
    """bench/scale.py's documents (real sentences, planted exact and near copies and GSM8K
    questions), 1,200 of them in 4 files, and its pipeline on 1 worker."""
    sys.path.insert(0, str(ROOT / "bench"))
    import scale

    if not scale.EVALSETS.is_dir():
        pytest.skip(f"real data not found at {scale.EVALSETS} (clone with ../shared beside the repo)")
    root = tmp_path_factory.mktemp("fault-scale")
    m = scale.Material(list(speeches()))
    plan = scale.Plan(m, 1200, seed=3, mean_words=250)
    inputs, _ = plan.write(m, root / "input", 300)
    config = root / "scale.yaml"
    config.write_text(yaml.safe_dump(scale.pipeline(inputs, root / "unused") | {"workers": 1}))
    return config, root


@pytest.mark.slow
def test_killed_scale_run_resumes_to_the_same_bytes_in_every_phase(tmp_path: Path, scale_setup) -> None:
    config, _ = scale_setup
    args = _pipeline_args(config)
    reference, total = reference_run(tmp_path, args)
    files = ["data/*.parquet", "README.md", "exact_dedup.json", "minhash_dedup.json", "contamination.json"]
    want = digests(reference, files)
    assert len(want) >= 5
    dropped = {
        s["name"]: sum(s["dropped"].values()) for s in json.loads((reference / "stats.json").read_text())["stages"]
    }
    assert min(dropped["exact_dedup"], dropped["minhash_dedup"], dropped["decontaminate"]) > 0, dropped
    phases = sorted(p.name for p in (reference / "work" / "markers").iterdir())
    assert len(phases) == 9 and total > 40
    # five kills spread over the run: inside streaming and global phases alike
    for fault in [f"after:{total * k // 6}" for k in range(1, 6)] + [f"before:{total}"]:
        out = kill_and_resume(tmp_path, args, fault)
        assert digests(out, files) == want, fault
        assert _stage_counts(out) == _stage_counts(reference), fault


# --- tokenize -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, Path]:
    from corpusforge.tokenizer.train import train_tokenizer

    root = tmp_path_factory.mktemp("fault-tokens")
    texts = list(speeches()[:30])
    for i in range(3):
        write_parquet(root / "pq" / f"part-{i}.parquet", texts[i * 10 : (i + 1) * 10])
    train_tokenizer("bpe-50k", [str(root / "pq")], root / "tok", vocab_size=512, quiet=True)
    return root / "pq", root / "tok"


def _check_tokenize(tmp_path: Path, shards, every: bool) -> None:
    pq_dir, tok = shards

    def args(out: Path) -> list[str]:
        return [
            "tokenize",
            "--tokenizer",
            str(tok),
            "--input",
            str(pq_dir),
            "--output",
            str(out),
            "--workers",
            "1",
            "--val-fraction",
            "0.2",
            "--quiet",
        ]

    reference, total = reference_run(tmp_path, args)
    want = digests(reference, ["train/*", "val/*", "summary.json", "tokenizer.json", "tokenize.json"])
    for fault in points(total, every):
        out = kill_and_resume(tmp_path, args, fault)
        assert digests(out, ["train/*", "val/*", "summary.json", "tokenizer.json", "tokenize.json"]) == want, fault


def test_killed_tokenize_resumes_to_the_same_bytes(tmp_path: Path, shards) -> None:
    _check_tokenize(tmp_path, shards, every=False)


@pytest.mark.slow
def test_killed_tokenize_at_every_rename(tmp_path: Path, shards) -> None:
    _check_tokenize(tmp_path, shards, every=True)


# --- train: checkpoints are the same bytes whether or not the run was killed ----------------


def _check_train(tmp_path: Path, shards, every: bool) -> None:
    pytest.importorskip("torch")
    from corpusforge.tokenizer.tokenize import tokenize

    pq_dir, tok = shards
    tokens = tmp_path / "tokens"
    tokenize(tok, [str(pq_dir)], tokens, workers=1, val_fraction=0.2, quiet=True)

    def args(out: Path) -> list[str]:
        config = tmp_path / f"{out.name}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data": str(tokens),
                    "out_dir": str(out),
                    "model": "micro",
                    "seq_len": 16,
                    "batch_size": 2,
                    "max_steps": 6,
                    "warmup_steps": 1,
                    "eval_interval": 3,
                    "eval_iters": 1,
                    "checkpoint_interval": 2,
                    "seed": 3,
                    "device": "cpu",
                }
            )
        )
        return ["train", str(config), "--quiet"]

    def losses(run: Path) -> list[tuple[str, ...]]:
        with open(run / "log.csv", newline="") as f:
            return [(r["step"], r["loss"], r["lr"], r["val_loss"]) for r in csv.DictReader(f)]

    reference, total = reference_run(tmp_path, args)
    want = digests(reference, ["ckpt.pt"])  # equal bytes from another process: checkpoints are reproducible
    for fault in points(total, every):
        out = kill_and_resume(tmp_path, args, fault, ["--resume"])
        assert digests(out, ["ckpt.pt"]) == want, fault
        assert losses(out) == losses(reference), fault


def test_killed_train_resumes_to_the_same_checkpoint(tmp_path: Path, shards) -> None:
    _check_train(tmp_path, shards, every=False)


@pytest.mark.slow
def test_killed_train_at_every_rename(tmp_path: Path, shards) -> None:
    _check_train(tmp_path, shards, every=True)
