"""MinHash near-duplicate removal: datasketch equality, removal, determinism, resume."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import datasketch
import numpy as np
import pyarrow.parquet as pq
import pytest

from corpusforge.config import load_config
from corpusforge.errors import ConfigError
from corpusforge.minhash import MinHasher, connected_components, hash64, shingle_hash_fn, shingles
from corpusforge.runner import run_pipeline


@pytest.mark.parametrize("scheme", ["affine32", "affine64", "legacy"])
@pytest.mark.parametrize("ngram", [5, 13])
def test_signatures_equal_datasketch_on_real_documents(speech_paragraphs, scheme, ngram):
    texts = speech_paragraphs[:60] + ["", "too short", speech_paragraphs[0].upper()]
    ours = MinHasher(num_perm=128, seed=42, scheme=scheme).signatures(
        [np.array([hash64(s) for s in shingles(t, ngram)], dtype=np.uint64) for t in texts], chunk_rows=500)
    for text, row in zip(texts, ours):
        ref = datasketch.MinHash(num_perm=128, seed=42, hashfunc=shingle_hash_fn(scheme), scheme=scheme)
        ref.update_batch([s.encode("utf-8") for s in shingles(text, ngram)])
        assert np.array_equal(ref.hashvalues, row)
    assert np.array_equal(ours[0], ours[-1]), "normalization ignores case"


def test_connected_components_labels_first_member():
    a = np.array([5, 7, 100, 3], dtype=np.int64)
    b = np.array([7, 9, 101, 9], dtype=np.int64)  # 3-9-7-5 chain, 100-101
    nodes, labels = connected_components(a, b)
    assert nodes.tolist() == [3, 5, 7, 9, 100, 101]
    assert labels.tolist() == [0, 0, 0, 0, 4, 4]


@pytest.fixture
def corpus(tmp_path, speech_paragraphs) -> tuple[list[Path], dict[str, str]]:
    """Unique real paragraphs over 3 files, plus exact copies and copies with a closing line."""
    rng = random.Random(0)
    seen, unique = set(), []
    for p in speech_paragraphs:
        key = " ".join(p.lower().split())
        if key not in seen and len(p.split()) >= 80:
            seen.add(key)
            unique.append(p)
    base = unique[:240]
    kinds: dict[str, str] = {}
    sources: dict[str, str] = {}
    files = []
    for f in range(3):
        rows = []
        for i, text in enumerate(base[f * 80:(f + 1) * 80]):
            rows.append({"id": f"u{f}-{i}", "text": text})
            kinds[f"u{f}-{i}"] = "unique"
        for i in range(10):  # copies of documents of the previous file (or this one, for file 0)
            src = base[((f - 1) % 3) * 80 + i] if f else base[40 + i]
            rows.append({"id": f"c{f}-{i}", "text": src})
            kinds[f"c{f}-{i}"] = "copy"
            rows.append({"id": f"n{f}-{i}", "text": src + " " + rng.choice(["Thank you.", "God bless America."])})
            kinds[f"n{f}-{i}"] = "near"
            sources[f"n{f}-{i}"] = (src, rows[-1]["text"])
        path = tmp_path / f"{f}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        files.append(path)
    return files, kinds, sources


def jaccard(a: str, b: str, ngram: int = 5) -> float:
    x, y = set(shingles(a, ngram)), set(shingles(b, ngram))
    return len(x & y) / len(x | y)


def config(files, out, workers=2, **keys) -> dict:
    return {"input": [str(p) for p in files], "output": str(out), "workers": workers,
            "stages": ["jsonl_reader", {"minhash_dedup": {"partitions": 4, **keys}}, "parquet_writer"]}


def kept_ids(out: Path) -> set[str]:
    return set(pq.read_table(out / "data")["id"].to_pylist())


def test_copies_and_near_copies_go_unique_documents_stay(tmp_path, corpus):
    files, kinds, sources = corpus
    out = tmp_path / "out"
    stats = run_pipeline(load_config(data=config(files, out)), quiet=True)
    kept = kept_ids(out)
    assert {i for i, k in kinds.items() if k == "unique"} <= kept, "a document without a near duplicate stays"
    assert not {i for i, k in kinds.items() if k == "copy"} & kept, "exact duplicates always go"
    # at Jaccard >= 0.95 the 9 × 13 bands miss a pair with probability < 0.003
    similar = {i for i, (a, b) in sources.items() if jaccard(a, b) >= 0.95}
    assert len(similar) >= 10 and not similar & kept
    dedup = next(s for s in stats if s.name == "minhash_dedup")
    assert dedup.dropped["minhash_dedup:near_duplicate"] == len(kinds) - len(kept)


def test_same_shards_across_workers_and_after_a_kill_between_phases(tmp_path, corpus):
    files, _, _ = corpus
    one, two = tmp_path / "w1", tmp_path / "w2"
    run_pipeline(load_config(data=config(files, one, workers=1)), quiet=True)
    run_pipeline(load_config(data=config(files, two, workers=2)), quiet=True)
    digest = lambda o: {p.name: p.read_bytes() for p in sorted((o / "data").glob("*.parquet"))}  # noqa: E731
    reference = digest(one)
    assert reference and digest(two) == reference

    # as if killed after the buckets phase: clusters and removal must be redone
    for name in ("02-minhash_dedup-clusters", "03-stream"):
        shutil.rmtree(two / "work" / "markers" / name)
    shutil.rmtree(two / "data")
    (two / "work" / "stage-01-minhash_dedup" / "clusters.npy").unlink()
    run_pipeline(load_config(data=config(files, two, workers=2)), quiet=True)
    assert digest(two) == reference


def test_keep_longest_and_annotate(tmp_path, speech_paragraphs):
    text = next(p for p in speech_paragraphs if len(p.split()) > 120)
    longer = text + " And one more closing sentence to make it longer."
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "short", "text": text}, {"id": "long", "text": longer}, {"id": "other", "text": speech_paragraphs[5]}]))
    run_pipeline(load_config(data=config([path], tmp_path / "first")), quiet=True)
    assert kept_ids(tmp_path / "first") == {"short", "other"}
    run_pipeline(load_config(data=config([path], tmp_path / "longest", keep="longest", verify=True)), quiet=True)
    assert kept_ids(tmp_path / "longest") == {"long", "other"}
    run_pipeline(load_config(data=config([path], tmp_path / "ann", mode="annotate")), quiet=True)
    rows = {r["id"]: r for r in pq.read_table(tmp_path / "ann" / "data").to_pylist()}
    assert rows["short"]["dup_cluster"] == rows["long"]["dup_cluster"] == "0:0"
    assert rows["short"]["dup_cluster_size"] == 2 and rows["other"]["dup_cluster"] is None


def test_bands_and_rows_from_threshold_or_given(tmp_path, corpus):
    files, _, _ = corpus
    cfg = load_config(data=config(files, tmp_path / "o", threshold=0.8))
    stage = cfg.stages[1].build()
    assert (stage.bands, stage.rows) == (9, 13)  # datasketch MinHashLSH's choice for 0.8 / 128
    with pytest.raises(ConfigError, match="give both bands and rows"):
        load_config(data=config(files, tmp_path / "o", bands=16))
    with pytest.raises(ConfigError, match="exceeds num_perm"):
        load_config(data=config(files, tmp_path / "o", bands=20, rows=10))
