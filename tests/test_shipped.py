"""Shipped configs and recipes: found by name from any folder, listed, copied out; and the
installed wheel (not the checkout) runs the pipeline, trains a tokenizer and tokenizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SHARED, sample_warcs
from tokenizer_data import extracted_shards

from corpusforge.cli import main
from corpusforge.shipped import shipped

SHIPPED_FILES = {
    "pipeline": sorted((ROOT / "pipelines").glob("*.yaml")),
    "training": sorted((ROOT / "pipelines" / "training").glob("*.yaml")),
    "recipe": sorted((ROOT / "tokenizers").glob("*.yaml")),
}


def test_every_repo_config_and_recipe_ships(capsys: pytest.CaptureFixture[str]) -> None:
    for kind, files in SHIPPED_FILES.items():
        assert files, kind
        assert {n: p.resolve() for n, p in shipped(kind).items()} == {p.stem: p.resolve() for p in files}
    assert main(["configs"]) == 0
    listed = capsys.readouterr().out
    for files in SHIPPED_FILES.values():
        for p in files:
            assert f"  {p.stem} " in listed


def test_copy_config_writes_a_copy_and_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chdir(tmp_path)
    assert main(["copy-config", "massivetext"]) == 0
    assert (tmp_path / "massivetext.yaml").read_text() == (ROOT / "pipelines" / "massivetext.yaml").read_text()
    (tmp_path / "mine").mkdir()
    assert main(["copy-config", "bpe-50k", "mine"]) == 0
    assert (tmp_path / "mine" / "bpe-50k.yaml").read_bytes() == (ROOT / "tokenizers" / "bpe-50k.yaml").read_bytes()
    (tmp_path / "massivetext.yaml").write_text("# my edits\n")
    assert main(["copy-config", "massivetext"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "massivetext.yaml").read_text() == "# my edits\n"
    assert main(["copy-config", "no-such-thing"]) == 2
    assert "shipped: " in capsys.readouterr().err


def _written(output: Path) -> int:
    return json.loads((output / "stats.json").read_text())["stages"][-1]["out"]


def _run(args: list[str], cwd: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([python, "-m", "corpusforge", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_shipped_pipeline_by_name_from_another_folder(tmp_path: Path) -> None:
    warc = sample_warcs()[0]
    here = tmp_path / "project"
    here.mkdir()
    # Without ../shared beside this folder, the shipped config's lists and test sets are missing:
    # a message that names the file and says what to provide, not a traceback.
    r = _run(["run", "massivetext", "--input", str(warc), "--output", "out", "--quiet"], here)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "../shared/data/blocklists/ut1/adult" in r.stderr and "relative to the folder you run in" in r.stderr
    assert "copy-config massivetext" in r.stderr
    assert not (here / "out").exists()
    # With them there, the same command runs.
    (tmp_path / "shared").symlink_to(SHARED.parent)
    r = _run(["run", "massivetext", "--input", str(warc), "--output", "out", "--quiet"], here)
    assert r.returncode == 0, r.stderr
    assert _written(here / "out") > 0


def test_shipped_recipe_by_name_from_another_folder(tmp_path: Path) -> None:
    shards = extracted_shards()
    r = _run(
        ["train-tokenizer", "bpe-50k", "--input", f"{shards}/*.parquet", "--vocab-size", "400", "--output", "tok"],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "tok" / "tokenizer.json").read_text())["model"]["type"] == "BPE"
    r = _run(["train-tokenizer", "bpe-5k", "--input", f"{shards}/*.parquet", "--output", "tok2"], tmp_path)
    assert r.returncode == 2 and "shipped: bpe-50k, multiword-256k" in r.stderr


@pytest.mark.slow
def test_wheel_in_a_clean_venv_works_from_any_folder(tmp_path: Path) -> None:
    """`pip wheel .`, installed without the train extra into a new venv: the commands a new user
    types first, from a folder that is not the checkout."""
    warc = sample_warcs()[0]
    shards = extracted_shards()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel's files, not the checkout's
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", tmp_path / "dist"], check=True
    )
    (wheel,) = (tmp_path / "dist").glob("corpusforge-*.whl")
    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)], env=env, check=True)
    here = tmp_path / "project"
    here.mkdir()
    (tmp_path / "shared").symlink_to(SHARED.parent)  # the eval sets and lists, given where the config expects them

    def corpusforge(*args: str) -> str:
        r = subprocess.run(
            [str(tmp_path / "venv" / "bin" / "corpusforge"), *args], cwd=here, env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, f"corpusforge {' '.join(args)}:\n{r.stderr}"
        return r.stdout

    probe = "import corpusforge, sys; print(corpusforge.__file__)"
    installed = subprocess.run([python, "-c", probe], cwd=here, env=env, capture_output=True, text=True).stdout
    assert installed.startswith(str(tmp_path / "venv")), installed
    assert corpusforge("--version").startswith("corpusforge ")
    corpusforge("run", "massivetext", "--input", str(warc), "--output", "out", "--quiet")
    assert _written(here / "out") > 0
    corpusforge(
        "train-tokenizer", "bpe-50k", "--input", f"{shards}/*.parquet", "--vocab-size", "400", "--output", "tok"
    )
    corpusforge("tokenize", "--tokenizer", "tok", "--input", "out/data/*.parquet", "--output", "tokens", "--quiet")
    assert "tokens" in corpusforge("plan", "--data", "tokens")  # arithmetic: no torch in this venv
    assert "massivetext" in corpusforge("configs")
