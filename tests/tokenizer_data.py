"""Real text for the tokenizer tests, built once per test session and shared by the modules.

- `extracted_shards()`: the pipeline's extract-only config run on ../shared/data/warc (218 real
  pages → 3 Parquet shards, ~1 MB of text; ~10 s on 2 workers);
- `speeches(name)`: State of the Union / inaugural addresses, read in place from the zips;
- `trained(recipe, vocab_size)`: a small tokenizer trained on the extracted shards.
Everything skips with a clear message when ../shared/data is absent.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, SHARED, sample_warcs


@cache
def _scratch() -> Path:
    path = Path(tempfile.mkdtemp(prefix="corpusforge-tok-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@cache
def extracted_shards() -> Path:
    """Folder of the Parquet shards extracted from the real WARC files."""
    warcs = sample_warcs()
    from corpusforge.engine.config import load_config
    from corpusforge.engine.runner import run_pipeline

    out = _scratch() / "extract"
    config = load_config(
        ROOT / "pipelines" / "extract-only.yaml", inputs=[str(p) for p in warcs], output=str(out), workers=2
    )
    run_pipeline(config, quiet=True)
    return out / "data"


def extracted_texts() -> list[str]:
    return [
        t
        for p in sorted(extracted_shards().glob("*.parquet"))
        for t in pq.read_table(p, columns=["text"]).column("text").to_pylist()
    ]


@cache
def speeches(name: str = "state_union") -> tuple[str, ...]:
    path = SHARED / "text" / f"{name}.zip"
    if not path.exists():
        pytest.skip(f"real text data not found at {path} (clone with ../shared beside the repo)")
    with zipfile.ZipFile(path) as z:
        return tuple(z.read(n).decode("utf-8", "replace") for n in sorted(z.namelist()) if n.endswith(".txt"))


def write_parquet(path: Path, texts: list[str | None], ids: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {"text": pa.array(texts, type=pa.string())}
    if ids is not None:
        columns = {"id": pa.array(ids, type=pa.string())} | columns
    pq.write_table(pa.table(columns), path)
    return path


@cache
def trained(recipe: str, vocab_size: int) -> Path:
    """A tokenizer folder trained on the extracted shards (cached for the session)."""
    from corpusforge.tokenizer.train import train_tokenizer

    out = _scratch() / f"{recipe}-{vocab_size}"
    train_tokenizer(recipe, [str(extracted_shards())], out, vocab_size=vocab_size, quiet=True)
    return out
