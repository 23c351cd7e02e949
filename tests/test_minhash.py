"""MinHash near-duplicate removal: datasketch equality, removal, determinism, resume."""

from __future__ import annotations

import json
import random
import re
import shutil
import unicodedata
import zipfile
from pathlib import Path

import datasketch
import numpy as np
import pyarrow.parquet as pq
import pytest

from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline
from corpusforge.errors import ConfigError
from corpusforge.stages.dedup.minhash import (
    MinHasher,
    batch_words,
    component_minima,
    hash64,
    normalize,
    shingle_hash_fn,
    shingles,
    text_shingle_hashes,
)
from corpusforge.stages.dedup.minhash_dedup import MinHashDeduplicator

UDHR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "text" / "udhr2.zip"
ODD = [
    "",
    "   ",
    "too short",
    "İstanbul ΣΟΦΟΣ σοφός ½ ﬁne… “quoted” — dash\u00a0nbsp",
    "snake_case __x__ a-b",
    "emoji🙂x 𝐀𝐁𝐂 𝟙 😀",
    "ﻣﺮﺣﺒﺎ مَرْحَبًا",
    "全角ＡＢＣ１２３、日本語。",
    "lone \ud800 surrogate",
    "tab\tnew\nline\r\x0bend",
]


@pytest.fixture(scope="module")
def udhr_texts() -> list[str]:
    """The Universal Declaration of Human Rights in ~380 languages: every script and diacritic."""
    if not UDHR.exists():
        pytest.skip(f"real text data not found at {UDHR} (clone with ../shared beside the repo)")
    with zipfile.ZipFile(UDHR) as z:
        return [z.read(n).decode("utf-8", "replace") for n in sorted(z.namelist()) if n.endswith(".txt")]


def test_normalization_is_nfkc_lowercase_and_word_characters(udhr_texts, speech_paragraphs):
    def reference(text: str) -> list[str]:  # the definition, as a regex: non-word characters and "_" separate
        return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).lower()).split()

    texts = udhr_texts + speech_paragraphs[:50] + ODD
    words, counts = batch_words(texts)
    assert counts.tolist() == [len(reference(t)) for t in texts]
    assert words == [w for t in texts for w in reference(t)]
    assert [normalize(t) for t in ODD] == [" ".join(reference(t)) for t in ODD]


def test_every_code_point_normalizes_as_the_definition_between_neighbours_that_compose():
    # the table of code points normalized alone must not miss one whose NFKC depends on its
    # neighbours: each BMP code point between a starter and the mark or jamo that composes with it
    def reference(text: str) -> list[str]:
        return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).lower()).split()

    around = [("a", "b"), ("é", "e\u0301"), ("\u1100", "\u1161"), ("가", "\u11a8"), ("\u0bc6", "\u0bbe")]
    texts = [f"{p}{chr(cp)}{q}" for cp in range(0x10000) if not 0xD800 <= cp < 0xE000 for p, q in around]
    words, counts = batch_words(texts)
    expected = [reference(t) for t in texts]
    assert counts.tolist() == [len(w) for w in expected]
    assert words == [w for ws in expected for w in ws]


def test_batched_shingle_hashes_equal_hash64_of_each_shingle(udhr_texts):
    texts = udhr_texts[:40] + ODD
    for ngram in (1, 5, 13):
        hashes, counts = text_shingle_hashes(texts, ngram)
        assert counts.tolist() == [len(shingles(t, ngram)) for t in texts]
        assert hashes.tolist() == [hash64(s) for t in texts for s in shingles(t, ngram)]


@pytest.mark.parametrize("scheme", ["affine32", "affine64", "legacy"])
@pytest.mark.parametrize("ngram", [5, 13])
def test_signatures_equal_datasketch_on_real_documents(speech_paragraphs, udhr_texts, scheme, ngram):
    texts = speech_paragraphs[:60] + udhr_texts[::40] + ODD + [speech_paragraphs[0].upper()]
    stage = MinHashDeduplicator(ngram=ngram, num_perm=128, seed=42, scheme=scheme)
    ours = stage.signatures(texts)  # the stage's path, from text
    small_chunks = MinHasher(128, 42, scheme).signatures(*text_shingle_hashes(texts, ngram), chunk=500)
    assert np.array_equal(ours, small_chunks), "documents cut by chunk boundaries"
    for text, row in zip(texts, ours):
        ref = datasketch.MinHash(num_perm=128, seed=42, hashfunc=shingle_hash_fn(scheme), scheme=scheme)
        ref.update_batch([s.encode("utf-8") for s in shingles(text, ngram)])
        assert np.array_equal(ref.hashvalues, row)
    assert np.array_equal(ours[0], ours[-1]), "normalization ignores case"


def test_rminhash_signatures_are_of_the_shingle_set_and_estimate_its_jaccard(speech_paragraphs):
    texts = [p for p in speech_paragraphs if len(p.split()) >= 200][:30]
    stage = MinHashDeduplicator(ngram=5)  # scheme rminhash, the default
    copies = [t.upper().replace(" ", " , ") for t in texts]  # the same words: case and punctuation ignored
    words = [t.split() for t in texts]
    edited = [" ".join(w[: len(w) // 3] + ["zq"] + w[len(w) // 3 :]) for w in words]
    sig = stage.signatures(texts + copies + edited + ["", "a b"])
    n = len(texts)
    estimate = (sig[:n] == sig[2 * n : 3 * n]).mean(axis=1)
    exact = np.array([jaccard(a, b) for a, b in zip(texts, edited)])
    assert np.abs(estimate - exact).max() < 0.2 and abs((estimate - exact).mean()) < 0.03
    assert np.array_equal(sig[:n], sig[n : 2 * n])
    assert (sig[-2] == np.iinfo(np.uint32).max).all() and not (sig[-1] == sig[-2]).all()


def _batches(a: np.ndarray, b: np.ndarray, size: int):
    return lambda: ((a[i : i + size], b[i : i + size]) for i in range(0, len(a), size))


def test_component_minima_labels_first_member():
    a = np.array([5, 7, 100, 3, 7, 5], dtype=np.int64)
    b = np.array([7, 9, 101, 9, 5, 7], dtype=np.int64)  # 3-9-7-5 chain, 100-101; 5-7 three times
    labels = component_minima(102, _batches(a, b, 2))
    assert labels[[3, 5, 7, 9]].tolist() == [3] * 4 and labels[[100, 101]].tolist() == [100, 100]
    rest = np.setdiff1d(np.arange(102), [3, 5, 7, 9, 100, 101])
    assert (labels[rest] == rest).all()


@pytest.mark.parametrize("seed", range(4))
def test_component_minima_equal_scipy_on_random_graphs_in_any_batching(seed):
    # chains, stars and random links, edges shuffled: roots hooked by several edges in one pass
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(seed)
    n = 5_000
    perm = rng.permutation(n)
    chain = perm[:400]
    star = rng.choice(n, 300, replace=False)
    a = np.concatenate([chain[:-1], np.full(299, star[0]), rng.integers(0, n, 1500)])
    b = np.concatenate([chain[1:], star[1:], rng.integers(0, n, 1500)])
    order = rng.permutation(len(a))
    a, b = a[order].astype(np.int64), b[order].astype(np.int64)
    _, comp = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    want = np.full(comp.max() + 1, n)
    np.minimum.at(want, comp, np.arange(n))
    for size in (1, 7, 100, len(a)):
        assert np.array_equal(component_minima(n, _batches(a, b, size)), want[comp])


@pytest.mark.parametrize("keep", ["first", "longest"])
def test_clusters_step_decides_as_the_components_of_all_edges_at_once(tmp_path, keep):
    """The streamed `clusters` step against scipy's components of every edge held together:
    the same survivor, size and position for every document with an edge."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from corpusforge.io.atomic import save_npy
    from corpusforge.stages.dedup.minhash_dedup import _EDGE, node

    rng = np.random.default_rng(7)
    counts = [1200, 0, 2500, 900]  # documents per streaming task (one empty)
    first = np.concatenate([[0], np.cumsum(counts)])
    n = int(first[-1])
    stage = MinHashDeduplicator(partitions=3, keep=keep)
    lengths = rng.integers(1, 50, n)  # many ties: ties go to the first
    for t in range(len(counts)):
        save_npy(tmp_path / "lengths" / f"task-{t:05d}.npy", lengths[first[t] : first[t + 1]])
    a = rng.integers(0, n, 3000)
    b = np.minimum(n - 1, a + rng.integers(1, 40, 3000))  # near copies sit near each other, and chain
    task_of = lambda p: np.searchsorted(first, p, side="right") - 1  # noqa: E731
    to_node = lambda p: node(task_of(p), p - first[task_of(p)])  # noqa: E731
    part = rng.integers(0, 3, len(a))
    for p in range(3):
        e = np.empty(int((part == p).sum()), dtype=_EDGE)
        e["a"], e["b"] = to_node(a[part == p]), to_node(b[part == p])
        save_npy(tmp_path / "edges" / f"p{p:04d}.npy", e)
    stage._clusters(0, tmp_path, len(counts))
    got = np.load(tmp_path / "clusters.npy")

    _, comp = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    size = np.bincount(comp)
    members = np.flatnonzero(size[comp] > 1)
    survivor = {}
    for p in members.tolist():  # the first member, or the longest (ties to the first)
        c = comp[p]
        best = survivor.get(c)
        if best is None or (keep == "longest" and lengths[p] > lengths[best]):
            survivor[c] = p
    want_survivor = np.array([survivor[comp[p]] for p in members.tolist()])
    assert np.array_equal(got["node"], to_node(members))
    assert np.array_equal(got["survivor"], to_node(want_survivor))
    assert np.array_equal(got["position"], want_survivor)
    assert np.array_equal(got["size"], size[comp[members]])


def test_candidates_pair_members_with_each_other_not_only_the_head():
    # one bucket of 4 entries, one of 2: every pair inside a bucket is a candidate, none across
    head = np.array([0, 0, 0, 0, 4, 4])
    members, nodes = np.array([1, 2, 3, 5]), np.arange(6, dtype=np.int64) + 10
    a, b = MinHashDeduplicator()._candidate_pairs(head, members, nodes)
    assert list(zip((a - 10).tolist(), (b - 10).tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (4, 5)]


def edited_to(words: list[str], target: float, above: bool, rng: random.Random, ngram: int = 5) -> str:
    """`words` with words substituted at random positions until the shingle Jaccard with the
    original is the last value at or above `target` (above) or the first below it."""
    base, out, last = set(shingles(" ".join(words), ngram)), list(words), " ".join(words)
    for i in rng.sample(range(len(words)), len(words)):
        out[i] = f"zq{rng.randrange(10**6)}"
        text = " ".join(out)
        if jaccard_sets(base, set(shingles(text, ngram))) < target:
            return last if above else text
        last = text
    raise AssertionError("target not reached")


def jaccard_sets(x: set, y: set) -> float:
    return len(x & y) / len(x | y)


def test_verify_decides_by_the_exact_jaccard_just_above_and_below_the_threshold(tmp_path, speech_paragraphs):
    # pairs within 0.04 of the threshold: the 128-permutation estimate is off by more than that
    # about a third of the time (its standard deviation is ~0.036 at J = 0.8), the exact check never
    rng = random.Random(3)
    bases = [p.split() for p in speech_paragraphs if 300 <= len(p.split()) <= 800][:40]
    rows, expect = [], {}
    for i, words in enumerate(bases):
        above = i % 2 == 0
        copy = edited_to(words, 0.8, above, rng)
        j = jaccard_sets(set(shingles(" ".join(words), 5)), set(shingles(copy, 5)))
        assert (0.8 <= j <= 0.84) if above else (0.76 <= j < 0.8), j
        rows += [{"id": f"b{i}", "text": " ".join(words)}, {"id": f"c{i}", "text": copy}]
        expect[f"c{i}"] = above
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    run_pipeline(load_config(data=config([path], out, threshold=0.8)), quiet=True)
    kept = kept_ids(out)
    assert {f"b{i}" for i in range(len(bases))} <= kept
    assert {c for c, above in expect.items() if above} & kept == set(), "J >= 0.8: removed"
    assert {c for c, above in expect.items() if not above} <= kept, "J < 0.8: kept"
    # the stage's edges are exactly its candidate pairs of exact J >= 0.8 (by Python sets)
    stage_dir = out / "work" / "stage-01-minhash_dedup"
    candidates = np.concatenate([np.load(f) for f in sorted((stage_dir / "candidates").glob("*/*.npy"))])
    edges = np.concatenate([np.load(f) for f in sorted((stage_dir / "edges").glob("*.npy"))])
    sets = [set(shingles(r["text"], 5)) for r in rows]
    pairs = {(int(a), int(b)) for a, b in zip(candidates["a"], candidates["b"])}
    assert {(int(a), int(b)) for a, b in zip(edges["a"], edges["b"])} == {
        (a, b) for a, b in pairs if jaccard_sets(sets[a], sets[b]) >= 0.8
    }
    assert len(pairs) >= len(bases), "every planted pair is a candidate"


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
        for i, text in enumerate(base[f * 80 : (f + 1) * 80]):
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
    """A pipeline with minhash_dedup; verify is on unless the test turns it off."""
    return {
        "input": [str(p) for p in files],
        "output": str(out),
        "workers": workers,
        "stages": ["jsonl_reader", {"minhash_dedup": {"partitions": 4, **keys}}, "parquet_writer"],
    }


def kept_ids(out: Path) -> set[str]:
    return set(pq.read_table(out / "data")["id"].to_pylist())


def test_copies_and_near_copies_go_unique_documents_stay(tmp_path, corpus):
    files, kinds, sources = corpus
    out = tmp_path / "out"
    stats = run_pipeline(load_config(data=config(files, out)), quiet=True)
    kept = kept_ids(out)
    assert {i for i, k in kinds.items() if k == "unique"} <= kept, "a document without a near duplicate stays"
    assert not {i for i, k in kinds.items() if k == "copy"} & kept, "exact duplicates always go"
    # at Jaccard >= 0.95 the 21 × 6 bands of verify miss a pair with probability < 1e-15
    similar = {i for i, (a, b) in sources.items() if jaccard(a, b) >= 0.95}
    assert len(similar) >= 10 and not similar & kept
    dedup = next(s for s in stats if s.name == "minhash_dedup")
    assert dedup.dropped["minhash_dedup:near_duplicate"] == len(kinds) - len(kept)
    summary = json.loads((out / "minhash_dedup.json").read_text())  # written by finish() for the report
    assert summary["documents"] == dedup.docs_in == len(kinds)
    assert summary["duplicates"] == dedup.dropped["minhash_dedup:near_duplicate"] == summary["documents"] - len(kept)
    sizes = {int(k): n for k, n in summary["cluster_sizes"].items()}
    assert sum((k - 1) * n for k, n in sizes.items()) == summary["duplicates"]  # one survivor per cluster


def test_same_shards_across_workers_and_after_a_kill_between_phases(tmp_path, corpus):
    files, _, _ = corpus
    one, two = tmp_path / "w1", tmp_path / "w2"
    run_pipeline(load_config(data=config(files, one, workers=1)), quiet=True)
    run_pipeline(load_config(data=config(files, two, workers=2)), quiet=True)
    digest = lambda o: {p.name: p.read_bytes() for p in sorted((o / "data").glob("*.parquet"))}  # noqa: E731
    reference = digest(one)
    assert reference and digest(two) == reference

    # as if killed after the buckets phase: verify, clusters and removal must be redone
    for name in ("02-minhash_dedup-verify", "03-minhash_dedup-clusters", "04-stream"):
        shutil.rmtree(two / "work" / "markers" / name)
    shutil.rmtree(two / "data")
    shutil.rmtree(two / "work" / "stage-01-minhash_dedup" / "edges")
    (two / "work" / "stage-01-minhash_dedup" / "clusters.npy").unlink()
    run_pipeline(load_config(data=config(files, two, workers=2)), quiet=True)
    assert digest(two) == reference


def test_keep_longest_and_annotate(tmp_path, speech_paragraphs):
    text = next(p for p in speech_paragraphs if len(p.split()) > 120)
    longer = text + " And one more closing sentence to make it longer."
    path = tmp_path / "d.jsonl"
    path.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"id": "short", "text": text},
                {"id": "long", "text": longer},
                {"id": "other", "text": speech_paragraphs[5]},
            ]
        )
    )
    run_pipeline(load_config(data=config([path], tmp_path / "first")), quiet=True)
    assert kept_ids(tmp_path / "first") == {"short", "other"}
    run_pipeline(load_config(data=config([path], tmp_path / "longest", keep="longest", verify=False)), quiet=True)
    assert kept_ids(tmp_path / "longest") == {"long", "other"}
    run_pipeline(load_config(data=config([path], tmp_path / "ann", mode="annotate")), quiet=True)
    rows = {r["id"]: r for r in pq.read_table(tmp_path / "ann" / "data").to_pylist()}
    assert rows["short"]["dup_cluster"] == rows["long"]["dup_cluster"] == "0"  # the first document
    assert rows["short"]["dup_cluster_size"] == 2 and rows["other"]["dup_cluster"] is None
    summary = json.loads((tmp_path / "ann" / "minhash_dedup.json").read_text())
    assert summary["cluster_sizes"] == {"2": 1} and summary["duplicates"] == 1 and summary["documents"] == 3


def test_bands_and_rows_from_threshold_or_given(tmp_path, corpus):
    files, _, _ = corpus
    cfg = load_config(data=config(files, tmp_path / "o", threshold=0.8, verify=False))
    stage = cfg.stages[1].stage
    assert (stage.bands, stage.rows) == (9, 13)  # datasketch MinHashLSH's choice for 0.8 / 128
    stage = load_config(data=config(files, tmp_path / "o", threshold=0.8)).stages[1].stage
    # verify: a pair at J = 0.85 shares no band with probability (1 - 0.85^6)^21 = 5e-5; at 7 rows, 9e-4
    assert stage.verify and (stage.bands, stage.rows) == (21, 6)
    with pytest.raises(ConfigError, match="give both bands and rows"):
        load_config(data=config(files, tmp_path / "o", bands=16))
    with pytest.raises(ConfigError, match="exceeds num_perm"):
        load_config(data=config(files, tmp_path / "o", bands=20, rows=10))
