"""`corpusforge ablate`: two corpus variants from the real extracted text, a micro model each,
scored on the same held-out speeches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizer_data import extracted_texts, speeches, write_parquet

pytest.importorskip("torch")

from corpusforge.ablate import AblationError, ablate, format_ablation, heldout_shards  # noqa: E402


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> tuple[Path, Path]:
    """`all`: every extracted page; `long`: only pages of 300+ words (a length filter's output).
    Both real pipeline outputs (parquet_reader → parquet_writer), so ablate may write into them."""
    from corpusforge.engine.config import load_config
    from corpusforge.engine.runner import run_pipeline

    root = tmp_path_factory.mktemp("variants")
    texts = [t for t in extracted_texts() if t]
    long = [t for t in texts if len(t.split()) >= 300]
    assert 20 < len(long) < len(texts)
    for name, docs in (("all", texts), ("long", long)):
        write_parquet(root / "src" / f"{name}.parquet", docs)
        run_pipeline(
            load_config(
                data={
                    "input": str(root / "src" / f"{name}.parquet"),
                    "output": str(root / name),
                    "workers": 1,
                    "stages": ["parquet_reader", "parquet_writer"],
                }
            ),
            quiet=True,
        )
    return root / "all", root / "long"


def test_two_variants_end_to_end(variants, tmp_path: Path, capsys) -> None:
    heldout = tmp_path / "heldout"
    heldout.mkdir()
    for i, text in enumerate(speeches("inaugural")[-4:]):  # four addresses neither variant contains
        (heldout / f"speech-{i}.txt").write_text(text)
    out = tmp_path / "ablation"

    def run() -> dict:
        return ablate(
            [str(v) for v in variants],
            16_384,
            [str(heldout / "*.txt")],
            out,
            vocab_size=1024,
            model="micro",
            seq_len=64,
            batch_size=8,
            quiet=True,
        )

    result = run()

    rows = {r["variant"]: r for r in result["variants"]}
    assert set(rows) == {"all", "long"}
    assert rows["all"]["documents"] > rows["long"]["documents"]
    for r in rows.values():
        # trained: below the loss of a uniform guess over the vocabulary, and a finite bits/byte
        assert 0 < r["heldout_loss"] < __import__("math").log(1024)
        assert 0 < r["heldout_bits_per_byte"] < 10
        assert (Path(r["run"]) / "ckpt.pt").is_file()
    assert rows["all"]["heldout_loss"] != rows["long"]["heldout_loss"]
    assert result["heldout_tokens"] > 1000

    # written into each variant's output and its report
    for v in variants:
        assert json.loads((v / "ablation.json").read_text())["variants"] == result["variants"]
        page = (v / "report.html").read_text()
        assert "Ablation" in page and "(this output)" in page

    table = format_ablation(result)
    assert "all" in table and "long" in table and "held-out loss" in table

    # a rerun reuses the tokenizer, the token shards and the finished runs: the same numbers
    again = run()
    assert [r["heldout_loss"] for r in again["variants"]] == [r["heldout_loss"] for r in result["variants"]]


def test_errors_name_the_problem(variants, tmp_path: Path) -> None:
    with pytest.raises(AblationError, match="at least two"):
        ablate([str(variants[0])], 1000, ["x.txt"], tmp_path)
    with pytest.raises(AblationError, match="nothing matches"):
        heldout_shards([str(tmp_path / "missing-*.txt")], tmp_path)
    shard = str(next((variants[0] / "data").glob("*.parquet")))
    with pytest.raises(AblationError, match="unseen"):
        ablate([str(v) for v in variants], 1000, [shard], tmp_path / "o", model="micro")
    with pytest.raises(AblationError, match="expected a pipeline output folder"):
        ablate([str(variants[0]), str(tmp_path / "nope")], 1000, [shard], tmp_path / "o")
