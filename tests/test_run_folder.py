"""Output folders: only ours are written or cleared, never one holding an input, one live run each."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, sample_warcs
from tokenizer_data import speeches, write_parquet

from corpusforge.cli import main
from corpusforge.engine.runner import output_folder
from corpusforge.io.run_folder import LOCK, MARKER, FolderError, RunFolder


def jsonl_input(folder: Path, n: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "speeches.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(speeches()[:n])) + "\n")
    return path


def config_file(tmp_path: Path, inputs: str, out: Path, name: str = "run.yaml", stages=None) -> Path:
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump(
            {"input": inputs, "output": str(out), "workers": 1, "stages": stages or ["jsonl_reader", "parquet_writer"]}
        )
    )
    return path


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def train_yaml(tokens: Path, out_dir: Path) -> str:
    """Two steps of the micro model on `tokens`, on the CPU."""
    config = {"data": str(tokens), "out_dir": str(out_dir), "model": "micro", "seq_len": 16, "batch_size": 2}
    return yaml.safe_dump(config | {"max_steps": 2, "eval_interval": 0, "device": "cpu"})


def test_overwrite_never_deletes_a_folder_it_does_not_own(tmp_path: Path, capsys) -> None:
    """The issue's case: P holds the inputs under P/data/sample/ and a user file under P/work/."""
    p = tmp_path / "P"
    (p / "data" / "sample").mkdir(parents=True)
    for warc in sample_warcs()[:2]:
        shutil.copy(warc, p / "data" / "sample")
    (p / "work").mkdir()
    (p / "work" / "notes.txt").write_text("mine")
    before = tree(p)
    for extra in (["--overwrite"], []):
        code = main(
            [
                "run",
                str(ROOT / "pipelines" / "extract-only.yaml"),
                "--input",
                f"{p}/data/sample/*.warc.gz",
                "--output",
                str(p),
                "--quiet",
                *extra,
            ]
        )
        assert code == 2
        err = capsys.readouterr().err
        assert str(p) in err and "Traceback" not in err
    assert tree(p) == before, "nothing was deleted or written"


def test_a_folder_not_ours_is_refused_and_left_untouched(tmp_path: Path, capsys) -> None:
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "config.yaml").write_text("something: else\n")
    (out / LOCK).write_text("their lock file")
    before = tree(out)
    source = jsonl_input(tmp_path / "in")
    assert main(["run", str(config_file(tmp_path, str(source), out)), "--overwrite", "--quiet"]) == 2
    assert "was not made by corpusforge" in capsys.readouterr().err
    assert tree(out) == before


def test_an_output_holding_an_input_is_refused_even_when_ours(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    source = jsonl_input(tmp_path / "in")
    assert main(["run", str(config_file(tmp_path, str(source), out)), "--quiet", "--no-report"]) == 0
    inside = jsonl_input(out / "inputs")  # a user put inputs inside our folder
    code = main(["run", str(config_file(tmp_path, str(inside), out, "b.yaml")), "--overwrite", "--quiet"])
    assert code == 2
    assert f"contains the input {inside}" in capsys.readouterr().err
    assert inside.is_file()


def test_overwrite_clears_only_what_a_run_writes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = jsonl_input(tmp_path / "in")
    assert main(["run", str(config_file(tmp_path, str(source), out)), "--quiet"]) == 0
    (out / "my-notes.txt").write_text("kept")
    assert (
        main(
            [
                "run",
                str(
                    config_file(
                        tmp_path, str(source), out, "b.yaml", ["jsonl_reader", {"parquet_writer": {"max_rows": 7}}]
                    )
                ),
                "--overwrite",
                "--quiet",
                "--no-report",
            ]
        )
        == 0
    )
    assert (out / "my-notes.txt").read_text() == "kept"
    assert not (out / "report.html").exists(), "the old run's report was cleared"
    assert len(list((out / "data").glob("*.parquet"))) == 6 and not (out / LOCK).exists()
    assert json.loads((out / MARKER).read_text())["kind"] == "pipeline"


def test_a_live_run_holds_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = jsonl_input(tmp_path / "in")
    with output_folder(out):  # another run, alive
        for extra in ([], ["--overwrite"]):
            with pytest.raises(
                FolderError,
                match=rf"being written by another corpusforge run \(pid {os.getpid()} "
                rf"on {socket.gethostname()}, started ",
            ):
                from corpusforge.engine.config import load_config
                from corpusforge.engine.runner import run_pipeline

                run_pipeline(load_config(config_file(tmp_path, str(source), out)), overwrite=bool(extra), quiet=True)
    # the holder gone, the folder is free (a killed holder's lock goes with its process)
    from corpusforge.engine.config import load_config
    from corpusforge.engine.runner import run_pipeline

    run_pipeline(load_config(config_file(tmp_path, str(source), out)), quiet=True)
    assert (out / "stats.json").is_file()


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "corpusforge.cli", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_two_runs_started_together_never_mix(tmp_path: Path) -> None:
    """Run A, and while it runs, run B with another config and --overwrite: B is refused, A's
    corpus and stats agree with A's config."""
    inputs = [str(p) for p in sample_warcs()]
    out = tmp_path / "out"
    a = config_file(tmp_path, inputs, out, "a.yaml", ["warc_reader", "trafilatura", "parquet_writer"])
    b = config_file(tmp_path, inputs, out, "b.yaml", ["warc_reader", "parquet_writer"])
    run_a = _cli("run", str(a), "--quiet", "--no-report")
    deadline = time.monotonic() + 60
    while not (out / LOCK).exists():
        assert run_a.poll() is None and time.monotonic() < deadline, run_a.communicate()
        time.sleep(0.02)
    run_b = _cli("run", str(b), "--quiet", "--no-report", "--overwrite")
    _, err_b = run_b.communicate(timeout=120)
    _, err_a = run_a.communicate(timeout=300)
    assert run_a.returncode == 0, err_a
    assert run_b.returncode == 2 and f"pid {run_a.pid} on {socket.gethostname()}" in err_b, err_b
    stats = json.loads((out / "stats.json").read_text())
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert stats["config_hash"] == saved["hash"]
    assert [s["name"] for s in stats["stages"]] == ["warc_reader", "trafilatura", "parquet_writer"]


def test_tokenize_train_and_export_follow_the_same_rules(tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    from corpusforge.tokenizer.train import train_tokenizer

    pq_dir = tmp_path / "pq"
    write_parquet(pq_dir / "part-0.parquet", list(speeches()[:30]))
    train_tokenizer("bpe-50k", [str(pq_dir)], tmp_path / "tok", vocab_size=400, quiet=True)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "train").mkdir()
    (theirs / "train" / "keep.bin").write_bytes(b"mine")
    before = tree(theirs)
    assert (
        main(
            [
                "tokenize",
                "--tokenizer",
                str(tmp_path / "tok"),
                "--input",
                str(pq_dir),
                "--output",
                str(theirs),
                "--overwrite",
                "--quiet",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "train-tokenizer",
                "bpe-50k",
                "--input",
                str(pq_dir),
                "--output",
                str(theirs),
                "--overwrite",
                "--vocab-size",
                "400",
                "--quiet",
            ]
        )
        == 2
    )
    assert tree(theirs) == before

    tokens = tmp_path / "tokens"
    tokenize = ["tokenize", "--tokenizer", str(tmp_path / "tok"), "--input", str(pq_dir), "--output", str(tokens)]
    assert main([*tokenize, "--quiet"]) == 0
    with RunFolder(tokens, "tokens", ()):  # tokenize is live there
        assert main([*tokenize, "--quiet"]) == 2
        assert "being written by another corpusforge run" in capsys.readouterr().err

    run_yaml = tmp_path / "train.yaml"
    run_yaml.write_text(train_yaml(tokens, theirs))
    assert main(["train", str(run_yaml), "--overwrite", "--quiet"]) == 2
    assert tree(theirs) == before
    run = tmp_path / "run"
    run_yaml.write_text(run_yaml.read_text().replace(str(theirs), str(run)))
    assert main(["train", str(run_yaml), "--quiet"]) == 0

    hf = tmp_path / "hf"
    assert main(["export-hf", str(run), str(hf)]) == 0
    assert main(["export-hf", str(run), str(hf)]) == 2
    assert "already holds an export; pass --overwrite" in capsys.readouterr().err
    assert main(["export-hf", str(run), str(hf), "--overwrite"]) == 0
    assert main(["export-hf", str(run), str(theirs), "--overwrite"]) == 2
    assert tree(theirs) == before


def test_a_swapped_tokenizer_is_refused_by_train(tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    from corpusforge.tokenizer.tokenize import tokenize
    from corpusforge.tokenizer.train import train_tokenizer

    pq_dir = tmp_path / "pq"
    write_parquet(pq_dir / "part-0.parquet", list(speeches()[:30]))
    train_tokenizer("bpe-50k", [str(pq_dir)], tmp_path / "tok", vocab_size=400, quiet=True)
    train_tokenizer("bpe-50k", [str(pq_dir)], tmp_path / "other", vocab_size=300, quiet=True)
    tokenize(tmp_path / "tok", [str(pq_dir)], tmp_path / "tokens", workers=1, quiet=True)
    shutil.copy(tmp_path / "other" / "tokenizer.json", tmp_path / "tokens" / "tokenizer.json")
    run_yaml = tmp_path / "train.yaml"
    run_yaml.write_text(train_yaml(tmp_path / "tokens", tmp_path / "run"))
    assert main(["train", str(run_yaml), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not the tokenizer these token shards were made with" in err and "tokenize.json" in err


def test_hostile_and_cut_checkpoints_are_named_errors(tmp_path: Path, capsys) -> None:
    torch = pytest.importorskip("torch")
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil" / "ckpt.pt"
    evil.parent.mkdir()
    torch.save({"format": "corpusforge.checkpoint/1", "x": Evil()}, evil, pickle_module=pickle)
    assert main(["generate", str(evil.parent), "--max-new-tokens", "1"]) == 2
    err = capsys.readouterr().err
    assert f"error: {evil}: refused" in err and "weights_only" not in err and "pwned" not in err

    cut = tmp_path / "cut" / "ckpt.pt"
    cut.parent.mkdir()
    torch.save({"format": "corpusforge.checkpoint/1", "w": torch.ones(1000)}, cut)
    cut.write_bytes(cut.read_bytes()[:1500])
    assert main(["export-hf", str(cut.parent), str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err
    assert f"error: {cut}: not a readable checkpoint" in err and "Traceback" not in err


def test_lease_on_object_storage(s3: str) -> None:
    from corpusforge.io.paths import output_path

    out = output_path(f"{s3}/leased")
    with RunFolder(out, "pipeline", ()):
        with pytest.raises(FolderError, match=rf"being written by another corpusforge run \(pid {os.getpid()}"):
            RunFolder(out, "pipeline", ()).__enter__()
    with RunFolder(out, "pipeline", ()):  # released: free again
        pass
    assert not (out / LOCK).is_file()
