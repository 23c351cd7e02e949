"""Test-set decontamination on real text: real GSM8K questions and HumanEval prompts planted
(verbatim, and with case, punctuation, whitespace and line-break changes) into real web
pages extracted from ../shared/data/warc; clean pages and speeches must give no match."""

from __future__ import annotations

import gzip
import json
import random
import string
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from conftest import SHARED, sample_warcs

from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.errors import ConfigError
from corpusforge.stages.decontamination.decontaminate import Decontaminator, redact
from corpusforge.stages.decontamination.ngram_index import NgramIndex, ngram_hash, normalize_words, words_with_spans
from corpusforge.stages.dedup.minhash import HASH64_MULT, fmix64_int

EVALSETS = SHARED / "evalsets"
GSM8K = EVALSETS / "gsm8k_test.jsonl"
HUMANEVAL = EVALSETS / "humaneval.jsonl.gz"
SETS = [
    {"name": "gsm8k", "path": str(GSM8K), "fields": ["question", "answer"]},
    {"name": "humaneval", "path": str(HUMANEVAL), "fields": ["prompt", "canonical_solution"]},
]


# --- real data ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def evalsets() -> dict[str, list[dict]]:
    if not GSM8K.exists() or not HUMANEVAL.exists():
        pytest.skip(f"real test sets not found in {EVALSETS} (clone with ../shared beside the repo)")
    with gzip.open(HUMANEVAL, "rt") as f:
        humaneval = [json.loads(line) for line in f]
    return {"gsm8k": [json.loads(line) for line in GSM8K.open()], "humaneval": humaneval}


@pytest.fixture(scope="session")
def web_texts(warc_dir) -> list[tuple[str, str]]:
    """(url, text) of the real sample pages, extracted once with the pipeline's trafilatura stage."""
    from corpusforge.stages.readers.warc_reader import WarcReader
    from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor

    ctx = StageContext(task=0, source="t", work_dir=Path("."), stats=StageStats("x"))
    html = [d for p in sample_warcs() for d in WarcReader().read(str(p), ctx)]
    extractor = TrafilaturaExtractor(favor_precision=True)
    extractor.setup()
    return [(d.url, d.text) for d in extractor.run(html, ctx) if len(d.text.split()) >= 20]


# --- edits that must not hide a leak --------------------------------------------------------


def change_case(text: str, rng: random.Random) -> str:
    return rng.choice([str.upper, str.lower, str.title, str.swapcase])(text)


def change_punctuation(text: str, rng: random.Random) -> str:
    """Delete or swap every punctuation mark, and glue dashes and quotes onto some words."""
    out = []
    for ch in text:
        if ch in string.punctuation or ch in "’“”":
            out.append(rng.choice(["", "", rng.choice(string.punctuation)]))
        else:
            out.append(ch)
            if ch.isalpha() and rng.random() < 0.02:
                out.append(rng.choice(["—", "'", "”", "…", ","]))
    return "".join(out)


def change_whitespace(text: str, rng: random.Random) -> str:
    return "".join(rng.choice([" ", "  ", "\n", "\t", " \n  ", "\r\n", "\u00a0"]) + w for w in text.split()).strip()


def rewrap(text: str, rng: random.Random) -> str:
    return textwrap.fill(" ".join(text.split()), width=rng.randint(30, 70))


def everything(text: str, rng: random.Random) -> str:
    return rewrap(change_case(change_punctuation(text, rng), rng), rng)


VARIANTS = {
    "verbatim": lambda t, r: t,
    "case": change_case,
    "punctuation": change_punctuation,
    "whitespace": change_whitespace,
    "line_breaks": rewrap,
    "all": everything,
}


def plant(host: str, text: str) -> str:
    lines = host.split("\n")
    mid = len(lines) // 2
    return "\n".join(lines[:mid] + [text] + lines[mid:])


def write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def config(inputs, out, workers=1, **keys) -> dict:
    return {
        "input": [str(p) for p in inputs],
        "output": str(out),
        "workers": workers,
        "rejected": 3,
        "stages": ["jsonl_reader", {"decontaminate": {"test_sets": SETS, **keys}}, "parquet_writer"],
    }


def run(data: dict):
    return {s.name: s for s in run_pipeline(load_config(data=data), quiet=True)}


# --- the main check: every plant found, nothing else ------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory, evalsets, web_texts, speech_paragraphs):
    """Three JSONL inputs: clean real documents, and real pages with a test item planted."""
    rng = random.Random(5)
    folder = tmp_path_factory.mktemp("planted")
    hosts = [(u, t) for u, t in web_texts if len(t) > 1500]
    clean = [{"id": f"web-{i}", "url": u, "text": t} for i, (u, t) in enumerate(web_texts)]
    clean += [{"id": f"speech-{i}", "url": None, "text": p} for i, p in enumerate(speech_paragraphs)]
    expected: dict[str, tuple[str, int, str]] = {}
    docs = []
    for name, field, rows in (("gsm8k", "question", range(0, 1319, 55)), ("humaneval", "prompt", range(0, 164, 14))):
        for k, row in enumerate(rows):
            variant = list(VARIANTS)[k % len(VARIANTS)]
            url, host = hosts[(row + k) % len(hosts)]
            doc_id = f"plant-{name}-{row}-{variant}"
            text = VARIANTS[variant](evalsets[name][row][field], rng)
            docs.append({"id": doc_id, "url": url, "text": plant(host, text)})
            expected[doc_id] = (name, row, variant)
    rng.shuffle(docs)
    files = [
        write_jsonl(folder / "clean.jsonl", clean[: len(clean) // 2]),
        write_jsonl(folder / "mixed.jsonl", clean[len(clean) // 2 :] + docs),
    ]
    return files, expected, {d["id"] for d in clean}


def test_every_planted_item_found_and_clean_documents_untouched(tmp_path, planted):
    files, expected, clean_ids = planted
    out = tmp_path / "w2"
    stats = run(config(files, out, workers=2, mode="annotate"))
    table = pq.read_table(out / "data").to_pydict()
    sets = dict(zip(table["id"], table["decontaminate_sets"]))
    ngrams = dict(zip(table["id"], table["decontaminate_ngrams"]))
    missed = {d: v for d, v in expected.items() if sets[d] != v[0]}
    assert not missed, f"planted items not found (or under the wrong set): {missed}"
    assert all(ngrams[d] >= 1 for d in expected)
    false_positives = sorted(d for d in clean_ids if sets[d] is not None)
    rate = len(false_positives) / len(clean_ids)
    print(f"\nfalse positives: {len(false_positives)} of {len(clean_ids)} clean real documents ({rate:.2%})")
    assert not false_positives, false_positives
    assert stats["decontaminate"].docs_out == len(clean_ids) + len(expected)

    report = json.loads((out / "contamination.json").read_text())
    assert report["documents_affected"] == len(expected)
    by_set = {s["name"]: s for s in report["test_sets"]}
    for name in ("gsm8k", "humaneval"):
        rows = {row for n, row, _ in expected.values() if n == name}
        assert rows <= set(by_set[name]["items_seen_rows"])
        assert by_set[name]["items_seen"] == len(by_set[name]["items_seen_rows"])
        assert by_set[name]["documents_affected"] == len(rows)
        assert 1 <= len(by_set[name]["examples"]) <= 5
        for ex in by_set[name]["examples"]:
            assert ex["id"] in expected and expected[ex["id"]][0] == name
            assert expected[ex["id"]][1] in ex["items"]
            assert len(normalize_words(ex["matched"])) >= 13
    assert by_set["gsm8k"]["items"] == 1319 and by_set["humaneval"]["items"] == 164

    # one worker gives the same shards and the same report
    one = tmp_path / "w1"
    run(config(files, one, workers=1, mode="annotate"))
    digest = lambda o: {p.name: p.read_bytes() for p in sorted((o / "data").glob("*.parquet"))}  # noqa: E731
    assert digest(one) == digest(out)
    assert (one / "contamination.json").read_text() == (out / "contamination.json").read_text()


def test_drop_counts_each_set_in_the_summary(tmp_path, planted):
    files, expected, clean_ids = planted
    out = tmp_path / "drop"
    stats = run(config(files, out))
    n_gsm = sum(1 for v in expected.values() if v[0] == "gsm8k")
    assert stats["decontaminate"].dropped == {
        "decontaminate:gsm8k": n_gsm,
        "decontaminate:humaneval": len(expected) - n_gsm,
    }
    assert set(pq.read_table(out / "data")["id"].to_pylist()) == clean_ids
    sample = (out / "rejected" / "decontaminate-gsm8k.jsonl").read_text().splitlines()
    assert len(sample) == 3


# --- redaction --------------------------------------------------------------------------------


def test_redaction_cuts_the_leak_and_keeps_the_rest(tmp_path, evalsets, web_texts):
    hosts = sorted((t for _, t in web_texts), key=len, reverse=True)
    question = evalsets["gsm8k"][7]["question"]
    before, after = hosts[0][:1500], hosts[0][1500:3000].rstrip()
    single = before + "\n" + question + "\n" + after
    # eleven leaks 600 characters apart: twelve pieces, more than max_pieces
    many = (
        "".join(
            hosts[1][i * 600 : (i + 1) * 600] + "\n" + evalsets["gsm8k"][100 + i]["question"] + "\n" for i in range(11)
        )
        + hosts[1][6600:7200]
    )
    short = "A short note.\n" + question + "\nThe end."
    inputs = [
        write_jsonl(
            tmp_path / "in.jsonl",
            [{"id": "single", "text": single}, {"id": "many", "text": many}, {"id": "short", "text": short}],
        )
    ]
    out = tmp_path / "out"
    stats = run(config(inputs, out, mode="redact"))
    assert stats["decontaminate"].dropped == {"decontaminate:too_many_pieces": 1, "decontaminate:nothing_left": 1}
    (text,) = pq.read_table(out / "data")["text"].to_pylist()
    # the cut is the leak plus 200 characters each side, widened to whitespace (<= 50 more);
    # everything else is intact, the two pieces joined by a blank line
    cut = 200 + 50 + 3
    keep = 1500 - cut
    assert text.startswith(before[:keep]) and text.endswith(after[-keep:])
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    assert len(head.split("\n\n")[0]) <= 1300 and len(tail.split("\n\n")[-1]) <= 1300
    assert len(text) >= 2 * keep
    assert " ".join(normalize_words(question)[:13]) not in " ".join(normalize_words(text))
    report = json.loads((out / "contamination.json").read_text())
    assert report["documents_redacted"] == 1 and report["documents_dropped"] == 2
    assert report["chars_removed"] == len(single) - len(text)


def test_redact_pieces():
    text = "".join(f"w{i:03d} " for i in range(400))  # 2,000 characters: words at 5k, spaces at 5k + 4
    # the window 800..1210 is widened to the next space (1214)
    assert redact(text, [(1000, 1010)], margin=200, min_piece=200) == ([text[:800].strip(), text[1214:].strip()], 2)
    # a window reaching the start leaves no piece before it
    assert redact(text, [(100, 110), (1000, 1010)], margin=200, min_piece=200) == (
        [text[314:800].strip(), text[1214:].strip()],
        2,
    )
    # overlapping windows merge; the 99-character head is a piece, but too short to keep
    assert redact(text, [(300, 310), (700, 710)], margin=200, min_piece=200) == ([text[914:].strip()], 2)
    assert redact(text, [(300, 310), (700, 710)], margin=200, min_piece=50) == (
        [text[:100].strip(), text[914:].strip()],
        2,
    )


# --- boilerplate ------------------------------------------------------------------------------


def test_ngrams_in_more_than_max_doc_frequency_documents_are_ignored(tmp_path, evalsets, speech_paragraphs):
    common = evalsets["gsm8k"][3]["question"]
    rare = evalsets["gsm8k"][4]["question"]
    paras = speech_paragraphs[:40]
    docs = [{"id": f"common-{i}", "text": plant(paras[i], common)} for i in range(11)]
    docs += [{"id": f"rare-{i}", "text": plant(paras[20 + i], rare)} for i in range(10)]
    inputs = [write_jsonl(tmp_path / "a.jsonl", docs[::2]), write_jsonl(tmp_path / "b.jsonl", docs[1::2])]
    out = tmp_path / "out"
    stats = run(config(inputs, out, workers=1))
    assert stats["decontaminate"].dropped == {"decontaminate:gsm8k": 10}
    assert set(pq.read_table(out / "data")["id"].to_pylist()) == {f"common-{i}" for i in range(11)}
    gsm = json.loads((out / "contamination.json").read_text())["test_sets"][0]
    n_common = len(normalize_words(common)) - 12
    assert gsm["boilerplate_ngrams_ignored"] == n_common
    assert gsm["items_seen_rows"] == [4]
    ex = gsm["boilerplate_examples"][0]
    assert ex["documents"] == 11 and ex["ngram"] in " ".join(normalize_words(common))
    # max_doc_frequency: null never ignores
    stats = run(config(inputs, tmp_path / "all", max_doc_frequency=None))
    assert stats["decontaminate"].dropped == {"decontaminate:gsm8k": 21}


# --- short items, document-level sets ----------------------------------------------------------


def test_short_items_match_only_as_whole_word_sequences(tmp_path, speech_paragraphs):
    sentence = "We must never forget the lessons of the past"  # 9 words: shorter than 13
    sets = [
        {
            "name": "short",
            "path": str(write_jsonl(tmp_path / "s.jsonl", [{"q": sentence}, {"q": "too short"}])),
            "fields": ["q"],
        }
    ]
    host = speech_paragraphs[0]
    docs = [
        {"id": "whole", "text": plant(host, sentence.upper() + "!")},
        {"id": "prefix", "text": plant(host, "we must never forget the lessons of the")},
        {"id": "glued", "text": plant(host, "We must never forget the lessons of the pasta")},
        {"id": "clean", "text": host},
    ]
    out = tmp_path / "out"
    data = config([write_jsonl(tmp_path / "in.jsonl", docs)], out, mode="annotate")
    data["stages"][1]["decontaminate"]["test_sets"] = sets
    run(data)
    table = pq.read_table(out / "data").to_pydict()
    assert dict(zip(table["id"], table["decontaminate_sets"])) == {
        "whole": "short",
        "prefix": None,
        "glued": None,
        "clean": None,
    }
    report = json.loads((out / "contamination.json").read_text())["test_sets"][0]
    assert report["texts_too_short"] == 1 and report["items_indexed"] == 1


def test_batched_scan_finds_what_documents_scanned_alone_find(tmp_path, evalsets, speech_paragraphs):
    """`prepare` probes many documents' words laid end to end: the hits must be those of each
    document scanned alone, and a question cut in two across neighbouring documents (a window
    of the batch, not of any document) must not count."""
    from corpusforge.document import Document
    from corpusforge.engine.stage import StageContext
    from corpusforge.engine.stats import StageStats
    from corpusforge.stages.decontamination import decontaminate as dec

    question = evalsets["gsm8k"][5]["question"].split()
    texts = list(speech_paragraphs[:300])
    texts[10] = plant(texts[10], evalsets["gsm8k"][1]["question"])
    texts[11] = texts[11] + " " + " ".join(question[:6])  # one 13-gram: its first 6 words end a document...
    texts[12] = " ".join(question[6:13]) + " " + texts[12]  # ... the other 7 open the next
    texts[299] = plant(texts[299], evalsets["humaneval"][2]["prompt"])
    stage = dec.Decontaminator(test_sets=SETS)  # with short texts: windows of 8 to 13 words
    docs = [Document(id=str(i), text=t) for i, t in enumerate(texts)]
    ctx = StageContext(task=0, source="x", work_dir=tmp_path, stats=StageStats("decontaminate"))
    assert [d.text for d in stage.prepare(docs, ctx)] == texts
    batched = np.load(tmp_path / "hits" / "task-00000.npy")
    idx = stage.index(tmp_path)
    alone: list = []
    for row, t in enumerate(texts):
        stage._scan_one(idx, dec.normalize_words(t), row, alone, [])
    assert sum(len(t.split()) for t in texts) > 3 * dec._SCAN_WORDS  # several batches
    assert [tuple(r) for r in batched.tolist()] == alone
    assert {10, 299} <= set(batched["row"].tolist()) and not {11, 12} & set(batched["row"].tolist())


def test_jaccard_mode_drops_near_copies_of_test_documents(tmp_path, speech_paragraphs):
    long = [p for p in speech_paragraphs if 160 <= len(p.split()) <= 300]
    test_docs, others = long[:30], long[30:60]
    sets = [
        {
            "name": "passages",
            "path": str(write_jsonl(tmp_path / "t.jsonl", [{"text": p} for p in test_docs])),
            "fields": ["text"],
            "match": "jaccard",
        }
    ]
    words = test_docs[1].split()
    words[len(words) // 2] = "zebra"
    docs = (
        [
            {"id": "copy", "text": test_docs[0].upper()},
            {"id": "one-word-changed", "text": " ".join(words)},  # ~ 0.85
            {"id": "half", "text": " ".join(test_docs[2].split()[: len(test_docs[2].split()) // 2])},  # ~ 0.45
        ]
        + [{"id": f"clean-{i}", "text": p} for i, p in enumerate(others)]
    )
    inputs = [write_jsonl(tmp_path / "in.jsonl", docs)]
    data = config(inputs, tmp_path / "drop")
    data["stages"][1]["decontaminate"]["test_sets"] = sets + SETS
    stats = run(data)
    assert stats["decontaminate"].dropped == {"decontaminate:passages": 2}
    data = config(inputs, tmp_path / "annotate", mode="annotate")
    data["stages"][1]["decontaminate"]["test_sets"] = sets
    run(data)
    table = pq.read_table(tmp_path / "annotate" / "data").to_pydict()
    sim = dict(zip(table["id"], table["decontaminate_jaccard"]))
    assert sim["copy"] == 1.0 and 0.8 <= sim["one-word-changed"] < 1 and 0.3 < sim["half"] < 0.6
    assert all(sim[f"clean-{i}"] is None or sim[f"clean-{i}"] < 0.2 for i in range(len(others)))
    assert dict(zip(table["id"], table["decontaminate_sets"]))["half"] is None
    report = json.loads((tmp_path / "annotate" / "contamination.json").read_text())["test_sets"][0]
    assert report["items_seen_rows"] == [0, 1] and report["documents_affected"] == 2


# --- test-set files and config errors ----------------------------------------------------------


def test_jsonl_gz_csv_and_parquet_give_the_same_index(tmp_path, evalsets):
    rows = evalsets["gsm8k"][:200]
    paths = {
        "jsonl": tmp_path / "g.jsonl",
        "gz": tmp_path / "g.jsonl.gz",
        "csv": tmp_path / "g.csv",
        "parquet": tmp_path / "g.parquet",
    }
    write_jsonl(paths["jsonl"], rows)
    with gzip.open(paths["gz"], "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    import csv

    with open(paths["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, ["question", "answer"])
        w.writeheader()
        w.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), paths["parquet"])
    indexes = {}
    for fmt, path in paths.items():
        stage = Decontaminator(test_sets=[{"name": "g", "path": str(path), "fields": ["question", "answer"]}])
        indexes[fmt] = stage.index(tmp_path / f"work-{fmt}")
    ref = indexes["jsonl"]
    assert ref.meta["sets"][0]["items"] == 200 and ref.meta["ngrams_distinct"] > 10_000
    for idx in indexes.values():
        assert np.array_equal(idx.hashes, ref.hashes) and np.array_equal(idx.owners, ref.owners)


def test_index_lookups(tmp_path, evalsets):
    idx = Decontaminator(test_sets=SETS).index(tmp_path)
    assert isinstance(idx, NgramIndex) and np.all(idx.hashes[1:] >= idx.hashes[:-1])
    words = normalize_words(evalsets["humaneval"][0]["prompt"])
    grams = np.array([ngram_hash(words[i : i + 13]) for i in range(len(words) - 12)], dtype=np.uint64)
    ids = idx.probe(grams)
    assert len(ids) == len(set(grams.tolist()))
    _, items = idx.owners_of(ids)
    assert {int(idx.item_row[i]) for i in items} == {0} and set(idx.item_set[items].tolist()) == {1}
    assert len(idx.probe(grams ^ np.uint64(1))) == 0


def test_normalization_words_spans_and_hash():
    text = "Janet’s  DUCKS lay 16\neggs—per day.\u00ad She\tbakes 48/2=<<24>> muf\u00adfins ´ «for» her ﬁrst friend's"
    words = normalize_words(text)
    # GPT-3's words: punctuation is deleted, not a separator ("eggs—per" is one word)
    assert words[:6] == ["janets", "ducks", "lay", "16", "eggsper", "day"] and "muffins" in words and "first" in words
    assert "48224" in words and "friends" in words and "for" in words
    same, starts, ends = words_with_spans(text)
    assert same == words and len(starts) == len(words)
    assert text[starts[1] : ends[1]] == "DUCKS"
    # the n-gram hash by its definition: fmix64(Σ xxh3(w_j) · M^(k-1-j) mod 2^64 ⊕ k)
    acc = 0
    for w in words[:13]:
        acc = (acc * HASH64_MULT + xxhash.xxh3_64_intdigest(w.encode())) & (2**64 - 1)
    assert ngram_hash(words[:13]) == fmix64_int(acc ^ 13)
    assert ngram_hash(words[:13]) != ngram_hash(words[1:14])


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"path": "nope.jsonl", "fields": ["q"]}, "test set 'x' (nope.jsonl): file not found"),
        ({"fields": ["q"]}, "test set 'x': 'path' (the test set's file) is missing"),
        (
            {"path": str(GSM8K), "fields": ["question", "solution"]},
            "test set 'x' ({gsm}): field(s) ['solution'] not found",
        ),
        ({"path": str(GSM8K), "fields": []}, "'fields' must be a non-empty list"),
        ({"path": str(GSM8K), "fields": ["question"], "match": "fuzzy"}, "'match' must be one of ngram, jaccard"),
        ({"path": str(GSM8K), "fields": ["question"], "weight": 2}, "unknown key(s) ['weight']"),
        ({"path": "x.txt", "fields": ["q"]}, "unknown format"),
        ({"path": "EMPTY", "fields": ["q"]}, "the test set is empty"),
        ({"path": "EMPTY_CSV", "fields": ["q"]}, "the test set is empty"),
        (
            {"path": "NO_FIELD_CSV", "fields": ["Best Answer"]},
            "field(s) ['Best Answer'] not found; fields of its first record: Best, Question",
        ),
    ],
)
def test_bad_test_sets_are_clear_config_errors(tmp_path, evalsets, bad, message):
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "empty.csv").write_text("q,a\n")
    (tmp_path / "tqa.csv").write_text("Question,Best\nWhat happens if you eat watermelon seeds?,Nothing\n")
    path = {
        "EMPTY": str(tmp_path / "empty.jsonl"),
        "EMPTY_CSV": str(tmp_path / "empty.csv"),
        "NO_FIELD_CSV": str(tmp_path / "tqa.csv"),
    }.get(bad.get("path"), bad.get("path"))
    entry = {"name": "x", **bad} | ({"path": path} if "path" in bad else {})
    inputs = [write_jsonl(tmp_path / "in.jsonl", [{"text": "hello"}])]
    data = config(inputs, tmp_path / "out")
    data["stages"][1]["decontaminate"]["test_sets"] = [entry]
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert str(err.value).startswith("stages[1].decontaminate: ")
    assert message.format(gsm=GSM8K) in str(err.value)


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"test_sets": []}, "test_sets is empty"),
        ({"test_sets": SETS + SETS[:1]}, "test set 'gsm8k': the name is used twice"),
        ({"test_sets": [{"name": "a b", "path": str(GSM8K), "fields": ["question"]}]}, "'name' must be a short name"),
        ({"min_words": 20}, "min_words must be between 1 and ngram (13)"),
        ({"max_doc_frequency": 0}, "max_doc_frequency must be >= 1"),
        ({"mode": "remove"}, "decontaminate.mode: expected one of 'drop', 'redact', 'annotate'"),
    ],
)
def test_bad_stage_keys(tmp_path, evalsets, keys, message):
    data = config([write_jsonl(tmp_path / "in.jsonl", [{"text": "hello"}])], tmp_path / "out")
    data["stages"][1]["decontaminate"].update(keys)
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert message in str(err.value)


def test_a_bad_record_deep_in_a_test_set_names_the_set_and_line(tmp_path, evalsets):
    path = write_jsonl(tmp_path / "t.jsonl", [{"q": "a question with enough words to be indexed here ok"}, {"x": 1}])
    stage = Decontaminator(test_sets=[{"name": "late", "path": str(path), "fields": ["q"]}])  # the first record is fine
    with pytest.raises(ValueError, match=r"test set 'late' \(.*t.jsonl\): line 2 has no field\(s\) \['q'\]"):
        stage.index(tmp_path / "work")


def test_resume_after_the_scan_reuses_the_index_and_gives_the_same_output(tmp_path, evalsets, speech_paragraphs):
    docs = [{"id": f"d{i}", "text": p} for i, p in enumerate(speech_paragraphs[:60])]
    docs[7]["text"] = plant(docs[7]["text"], evalsets["humaneval"][3]["prompt"])
    inputs = [write_jsonl(tmp_path / "a.jsonl", docs[:30]), write_jsonl(tmp_path / "b.jsonl", docs[30:])]
    out = tmp_path / "out"
    data = config(inputs, out, mode="redact")
    run(data)
    first = {p.name: p.read_bytes() for p in (out / "data").glob("*.parquet")}
    report = (out / "contamination.json").read_text()
    meta = next(out.glob("work/stage-*-decontaminate/index/meta.json"))
    built = meta.stat().st_mtime_ns
    # a run killed after the count step: the last phase's outputs and markers are gone
    for p in (out / "data").glob("*.parquet"):
        p.unlink()
    for folder in (out / "work" / "markers").glob("02-*"):
        for p in folder.glob("*.json"):
            p.unlink()
    (out / "contamination.json").unlink()
    stats = run(data)
    assert stats["decontaminate"].docs_out == 60 and meta.stat().st_mtime_ns == built
    assert {p.name: p.read_bytes() for p in (out / "data").glob("*.parquet")} == first
    assert (out / "contamination.json").read_text() == report
    assert json.loads(report)["test_sets"][1]["items_seen_rows"] == [3]


def test_fast_normalization_equals_the_definition(web_texts):
    """normalize_words is NFKC → casefold → delete P*, S*, Cf, non-space Cc → split, on every
    character of the Basic Multilingual Plane and on the real pages (emoji included)."""
    import sys
    import unicodedata

    from corpusforge.stages.decontamination.ngram_index import is_deleted

    table = {cp: None for cp in range(sys.maxunicode + 1) if is_deleted(chr(cp))}

    def reference(text: str) -> list[str]:
        return unicodedata.normalize("NFKC", text).casefold().translate(table).split()

    every = "".join(chr(cp) + ("x" if cp % 7 else " ") for cp in range(0x10000) if not 0xD800 <= cp < 0xE000)
    assert normalize_words(every) == reference(every)
    for _, text in web_texts:
        assert normalize_words(text) == reference(text)
        assert words_with_spans(text)[0] == normalize_words(text)  # token by token: the same words
