"""MinHash dedup speed and scale.

Run from the repo root (`make bench`):
    .venv/bin/python bench/dedup_speed.py [--docs 20000] [--scale 100000 200000] [--files 32]

Documents. Made from the real texts that the pipeline extracts from ../shared/data/warc
(pipelines/extract-only.yaml, cached in bench/out/dedup-extract): the texts are cut into
their ~8,600 sentences; a document takes a length drawn from the real texts' word counts
(clipped to 50-1,000 words, mean ~540), is filled with sentences drawn at random from the
whole pool, and gets 2 % of its words replaced by words drawn from the real texts, so
documents are distinct. Of all documents, 5 % are instead a copy of an earlier one with
0-3 % of its words replaced (a third also get a boilerplate line appended) and 2 % are exact
copies: near duplicates to find.

Multilingual documents (the signature goal's input): the same texts labelled by fastText's
lid.176 (the `language` stage's model); each document is in one language drawn evenly from
the languages found (en, ru, de, fr, pt, es, zh, id, ko, ja, cs, it; "la", the crawls'
lorem-ipsum test pages, left out), filled with that language's sentences (CJK sentences end
at 。！？) to a real text's length in characters (300-6,000), 2 % of words replaced by words of
its language; the same share of near and exact copies.

1. Signatures: our stage's signatures (`MinHashDeduplicator.signatures`: normalization,
   shingling, word and shingle hashing, 128 permutations by rensa's R-MinHash (the default
   scheme), in the stage's batches of 256) on the multilingual documents, then on the
   English-heavy ones, against datasketch's
   `MinHash.update_batch` (one MinHash per document) and `MinHash.bulk`, fed the same
   shingles with num_perm 128 and seed 1. Shingling is timed on both sides, and datasketch
   gets our fastest path to them: the same batched normalization (`batch_words` on the same
   batches of 256), then the 5-word shingles joined and UTF-8 encoded (what
   `corpusforge.stages.dedup.minhash.shingles` returns). datasketch runs with three hash functions: ours
   (`shingle_hash_fn("affine32")`: signatures equal to ours value for value, checked here),
   `xxhash.xxh32_intdigest` (a C hash: datasketch's fastest setting here) and its default
   sha1; the slower runs (our pure-Python hash, sha1) use the first `--same-hash-docs`
   documents once; the value-equality check uses our `affine32` scheme (datasketch's own
   permutations, in numpy), whose rate is printed too. Ours and the two xxh32 runs are
   interleaved for `--repeats` rounds (the machine is shared); each rate is the median over
   the rounds, each ratio the median of the per-round ratios. Ours is timed after one warm-up
   call: a process builds its normalization table and powers once (~0.2 s).
   Goal: ours >= 5x datasketch's best (bulk, xxh32) on the multilingual documents. Then where our time goes (the three steps timed apart,
   and cProfile when the goal is not met).
2. Scale: the whole pipeline (jsonl_reader → minhash_dedup (ngram 5, threshold 0.8) →
   parquet_writer, 2 workers, `--files` JSONL files) on 100k and 200k documents, as a
   `corpusforge run` subprocess. Every 0.1 s the bench reads VmRSS (and Pss, from
   smaps_rollup) of every process in the run's tree (the CLI process, the forkserver and its
   workers) and charges the sample to the phase whose completion markers
   (OUTPUT/work/markers/<phase>/) are not all written yet. Phase wall time runs from the last
   marker of the phase before to the last marker of the phase. Goal: peak RSS < 2 GB at 200k
   documents and growing no faster than the document count.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import datasketch
import numpy as np
import xxhash

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dedup_quality import BOILERPLATE, WARC, extracted_texts  # noqa: E402

from corpusforge.engine.config import load_config  # noqa: E402
from corpusforge.engine.planner import GlobalPhase, plan_phases  # noqa: E402
from corpusforge.stages.dedup.minhash import (  # noqa: E402
    MinHasher,
    batch_shingle_hashes,
    batch_word_hashes,
    batch_words,
    shingle_hash_fn,
)
from corpusforge.stages.dedup.minhash_dedup import MinHashDeduplicator  # noqa: E402

OUT = ROOT / "bench" / "out"
WORK = OUT / "dedup-speed"
NGRAM, NUM_PERM, SEED = 5, 128, 1
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")
LANGUAGES_LEFT_OUT = {"la"}  # the crawls' lorem-ipsum test pages


# --- documents ---------------------------------------------------------------------------


class Maker:
    """Documents from the real texts' sentences: mostly distinct, some near and exact copies."""

    def __init__(self, texts: list[str], seed: int) -> None:
        self.rng = random.Random(seed)
        self.sentences = [s.strip() for t in texts for s in _SENTENCE.split(t) if len(s.split()) >= 3]
        self.lengths = [min(max(len(t.split()), 50), 1000) for t in texts if len(t.split()) >= 50]
        self.vocab = [w for t in texts for w in t.split()]

    def edit(self, words: list[str], rate: float) -> list[str]:
        rng = self.rng
        for _ in range(int(len(words) * rate)):
            words[rng.randrange(len(words))] = rng.choice(self.vocab)
        return words

    def fresh(self) -> str:
        rng, target, out = self.rng, self.rng.choice(self.lengths), []
        while len(out) < target:
            out += rng.choice(self.sentences).split()
        return " ".join(self.edit(out, 0.02))

    def docs(self, n: int) -> list[str]:
        rng, docs = self.rng, []
        for _ in range(n):
            r = rng.random()
            if docs and r < 0.02:
                docs.append(rng.choice(docs))
            elif docs and r < 0.07:
                text = " ".join(self.edit(rng.choice(docs).split(), rng.uniform(0, 0.03)))
                docs.append(text + ("\n" + rng.choice(BOILERPLATE) if rng.random() < 1 / 3 else ""))
            else:
                docs.append(self.fresh())
        return docs


class MultilingualMaker(Maker):
    """Documents in one language each, the language drawn evenly (see the module docstring)."""

    def __init__(self, texts: list[str], seed: int) -> None:
        super().__init__(texts, seed)
        by_lang: dict[str, list[str]] = {}
        for text, lang in zip(texts, languages(texts)):
            by_lang.setdefault(lang, []).append(text)
        self.pools = {
            lang: (
                [s.strip() for t in ts for s in _SENTENCE.split(t) if s.strip()],
                [w for t in ts for w in t.split()],
            )
            for lang, ts in sorted(by_lang.items())
            if lang not in LANGUAGES_LEFT_OUT
        }
        self.chars = [min(max(len(t), 300), 6000) for t in texts if len(t) >= 300]

    def fresh(self) -> str:
        rng = self.rng
        sentences, self.vocab = self.pools[rng.choice(list(self.pools))]
        target, out, size = rng.choice(self.chars), [], 0
        while size < target:
            out.append(rng.choice(sentences))
            size += len(out[-1]) + 1
        return " ".join(self.edit(" ".join(out).split(), 0.02))


def languages(texts: list[str]) -> list[str]:
    """fastText lid.176's label of each text (its first 2,000 characters)."""
    import fasttext

    from corpusforge.stages.filters.language import packaged_model_path

    model = fasttext.load_model(str(packaged_model_path()))
    labels, _ = model.predict([t[:2000].replace("\n", " ") for t in texts])
    return [label[0].removeprefix("__label__") for label in labels]


def input_files(texts: list[str], n: int, files: int) -> list[str]:
    """n documents over `files` JSONL files under bench/out/dedup-speed (made once, cached)."""
    folder = WORK / f"input-{n}-{files}"
    done = folder / "done.json"
    paths = [str(folder / f"docs-{f:03d}.jsonl") for f in range(files)]
    if done.exists():
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    docs = Maker(texts, seed=n).docs(n)
    per = -(-n // files)
    for f, path in enumerate(paths):
        Path(path).write_text(
            "".join(
                json.dumps({"id": f"{f}-{i}", "text": t}) + "\n" for i, t in enumerate(docs[f * per : (f + 1) * per])
            )
        )
    done.write_text(json.dumps({"docs": n, "files": files, "bytes": sum(len(d) for d in docs)}))
    return paths


# --- 1. signatures ---------------------------------------------------------------------------

BATCH = MinHashDeduplicator().batch_docs


def ours(docs: list[str], scheme: str = "rminhash") -> float:
    stage = MinHashDeduplicator(ngram=NGRAM, num_perm=NUM_PERM, seed=SEED, scheme=scheme)
    t0 = time.perf_counter()
    for i in range(0, len(docs), stage.batch_docs):
        stage.signatures(docs[i : i + stage.batch_docs])
    return len(docs) / (time.perf_counter() - t0)


def encoded_shingles(docs: list[str]) -> Iterator[list[bytes]]:
    """Each document's shingles as `corpusforge.stages.dedup.minhash.shingles` gives them, UTF-8 encoded,
    from the same batched normalization as ours (the fastest way we have to them)."""
    for i in range(0, len(docs), BATCH):
        words, counts = batch_words(docs[i : i + BATCH])
        start = 0
        for n in counts.tolist():
            w, start = words[start : start + n], start + n
            if n <= NGRAM:
                yield [" ".join(w).encode("utf-8")] if n else []
            else:
                yield [" ".join(w[j : j + NGRAM]).encode("utf-8") for j in range(n - NGRAM + 1)]


def datasketch_update_batch(docs: list[str], hashfunc) -> tuple[float, list[np.ndarray]]:
    kw = {} if hashfunc is None else {"hashfunc": hashfunc}
    out = []
    t0 = time.perf_counter()
    for sh in encoded_shingles(docs):
        m = datasketch.MinHash(num_perm=NUM_PERM, seed=SEED, **kw)
        m.update_batch(sh)
        out.append(m.hashvalues)
    return len(docs) / (time.perf_counter() - t0), out


def datasketch_bulk(docs: list[str], hashfunc) -> float:
    kw = {} if hashfunc is None else {"hashfunc": hashfunc}
    t0 = time.perf_counter()
    datasketch.MinHash.bulk(encoded_shingles(docs), num_perm=NUM_PERM, seed=SEED, **kw)
    return len(docs) / (time.perf_counter() - t0)


def profile_ours(docs: list[str], with_cprofile: bool) -> None:
    """Where our signature time goes: the stage's three steps timed apart, then cProfile."""
    hasher = MinHasher(NUM_PERM, SEED)
    t = {
        "normalize, split, hash words (batch_word_hashes)": 0.0,
        "shingle hashes (batch_shingle_hashes)": 0.0,
        "permutations + min (MinHasher.signatures)": 0.0,
    }
    keys = list(t)
    for i in range(0, len(docs), BATCH):
        t0 = time.perf_counter()
        word_hashes, counts = batch_word_hashes(docs[i : i + BATCH])
        t1 = time.perf_counter()
        hashes, per_doc = batch_shingle_hashes(word_hashes, counts, NGRAM)
        t2 = time.perf_counter()
        hasher.signatures(hashes, per_doc)
        t3 = time.perf_counter()
        t[keys[0]] += t1 - t0
        t[keys[1]] += t2 - t1
        t[keys[2]] += t3 - t2
    total = sum(t.values())
    print(f"\n  where our time goes, on {len(docs):,} documents ({total:.2f} s, {1e6 * total / len(docs):.0f} µs/doc):")
    for k, v in t.items():
        print(f"    {k:<52}{v:>6.2f} s {100 * v / total:>5.1f} %")
    if not with_cprofile:
        return
    stage = MinHashDeduplicator(ngram=NGRAM, num_perm=NUM_PERM, seed=SEED)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(0, len(docs), BATCH):
        stage.signatures(docs[i : i + BATCH])
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(8)
    lines = [ln for ln in s.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    print("  cProfile, by own time:")
    for ln in lines[start : start + 9]:
        print("    " + ln.replace(str(ROOT) + "/", ""))


def bench_signatures(docs: list[str], same_hash_docs: int, repeats: int) -> dict:
    xxh32 = xxhash.xxh32_intdigest
    same = shingle_hash_fn("affine32")
    sub = docs[:same_hash_docs]
    rounds: dict[str, list[float]] = {"ours": [], "update_batch, xxh32": [], "bulk, xxh32": []}
    ours(docs[:100])  # the one-time tables of a process (~0.2 s: the normalization table, the powers)
    for _ in range(repeats):  # the close contenders interleaved (the machine is shared)
        rounds["ours"].append(ours(docs))
        rounds["update_batch, xxh32"].append(datasketch_update_batch(docs, xxh32)[0])
        rounds["bulk, xxh32"].append(datasketch_bulk(docs, xxh32))
    affine32 = ours(docs, "affine32")
    rates = {
        "update_batch, our hash": datasketch_update_batch(sub, same)[0],
        "bulk, our hash": datasketch_bulk(sub, same),
        "update_batch, xxh32": statistics.median(rounds["update_batch, xxh32"]),
        "bulk, xxh32": statistics.median(rounds["bulk, xxh32"]),
        "update_batch, sha1 (default)": datasketch_update_batch(sub, None)[0],
        "bulk, sha1 (default)": datasketch_bulk(sub, None),
    }
    ratios = {k: statistics.median(o / d for o, d in zip(rounds["ours"], rounds[k])) for k in rounds if k != "ours"}
    # equality: our signatures are datasketch's with the same hash function
    check = docs[:200]
    stage = MinHashDeduplicator(ngram=NGRAM, num_perm=NUM_PERM, seed=SEED, scheme="affine32")
    mine = stage.signatures(check)
    _, ref = datasketch_update_batch(check, same)
    equal = all(np.array_equal(a, b) for a, b in zip(mine, ref))
    return {
        "docs": len(docs),
        "same_hash_docs": len(sub),
        "repeats": repeats,
        "ours": statistics.median(rounds["ours"]),
        "ours_affine32": affine32,
        "datasketch": rates,
        "ratios": ratios,
        "rounds": rounds,
        "equal_on": len(check),
        "equal": equal,
    }


def report_signatures(
    number: str, name: str, what: str, docs: list[str], sig: dict, load: float, goal: float | None
) -> None:
    words = sum(len(d.split()) for d in docs) / len(docs)
    chars = sum(map(len, docs)) / len(docs)
    best = sig["ratios"]["bulk, xxh32"]
    print(
        f"\n{number}. signatures, {name} documents ({what}): {sig['docs']:,} documents (mean {chars:,.0f} "
        f"characters, {words:.0f} whitespace words), 5-gram shingles, num_perm 128, shingling timed on both sides; "
        f"load average {load:.2f} at start"
    )
    print(
        f"  {'corpusforge MinHashDeduplicator.signatures':<46}{sig['ours']:>8,.0f} docs/s"
        f"{'':>16}(median of {sig['repeats']} rounds; scheme rminhash)"
    )
    print(f"  {'  the same, scheme affine32 (= datasketch)':<46}{sig['ours_affine32']:>8,.0f} docs/s   (once)")
    for k, v in sig["datasketch"].items():
        if k in sig["ratios"]:
            note = (
                f"ours {sig['ratios'][k]:.2f}x   (median of {sig['repeats']} interleaved rounds; per round: "
                + ", ".join(f"{o / d:.2f}" for o, d in zip(sig["rounds"]["ours"], sig["rounds"][k]))
                + ")"
            )
        else:
            note = f"ours {sig['ours'] / v:.2f}x   (first {sig['same_hash_docs']:,} documents, once)"
        print(f"  {'datasketch ' + k:<46}{v:>8,.0f} docs/s   {note}")
    print(f"  affine32 signatures equal to datasketch's with our hash on {sig['equal_on']} documents: {sig['equal']}")
    verdict = "" if goal is None else f"   goal >= {goal:g}x: {'PASS' if best >= goal else 'FALLS SHORT'}"
    print(f"  ours / datasketch's best (bulk, xxh32): {best:.2f}x{verdict}")


# --- 2. scale ------------------------------------------------------------------------------


def process_tree() -> dict[int, list[int]]:
    """Child pids of every process."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def tree_memory(pid: int) -> tuple[int, int, int]:
    """(sum of VmRSS, sum of Pss, largest VmRSS) in bytes over a process and its descendants."""
    children = process_tree()
    rss_sum = pss_sum = rss_max = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rss = int(status.split("VmRSS:")[1].split()[0]) * 1024 if "VmRSS:" in status else 0
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            pss = int(rollup.split("\nPss:")[1].split()[0]) * 1024 if "\nPss:" in rollup else rss
        except (OSError, IndexError, ValueError):
            continue
        rss_sum, pss_sum, rss_max = rss_sum + rss, pss_sum + pss, max(rss_max, rss)
    return rss_sum, pss_sum, rss_max


def bench_scale(texts: list[str], n: int, files: int) -> dict:
    inputs = input_files(texts, n, files)
    out = WORK / f"run-{n}"
    config_path = WORK / f"run-{n}.yaml"
    data = {
        "input": inputs,
        "output": str(out),
        "workers": 2,
        "stages": ["jsonl_reader", {"minhash_dedup": {"ngram": NGRAM, "threshold": 0.8}}, "parquet_writer"],
    }
    config_path.write_text(json.dumps(data, indent=1))
    config = load_config(data=data)
    phases = []
    for p in plan_phases(config):
        if isinstance(p, GlobalPhase):
            step = config.stages[p.stage].stage.steps()[p.step]  # type: ignore[attr-defined]
            phases.append((p.name, step.n_tasks(len(inputs))))
        else:
            phases.append((p.name, len(inputs)))
    peak = {name: [0, 0, 0] for name, _ in phases}
    samples = {name: 0 for name, _ in phases}
    started = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "corpusforge", "run", str(config_path), "--overwrite", "--quiet"], cwd=ROOT
    )
    while proc.poll() is None:
        running = phases[-1][0]
        for name, count in phases:
            folder = out / "work" / "markers" / name
            if not folder.is_dir() or sum(1 for _ in folder.glob("task-*.json")) < count:
                running = name
                break
        mem = tree_memory(proc.pid)
        peak[running] = [max(a, b) for a, b in zip(peak[running], mem)]
        samples[running] += 1
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"corpusforge run failed ({proc.returncode}) on {config_path}")
    ends, start, walls = {}, started, {}
    for name, _ in phases:
        marks = list((out / "work" / "markers" / name).glob("task-*.json"))
        ends[name] = max(m.stat().st_mtime for m in marks)
        walls[name] = ends[name] - start
        start = ends[name]
    stats = json.loads((out / "stats.json").read_text())
    dedup = next(s for s in stats["stages"] if s["name"] == "minhash_dedup")
    meta = json.loads((WORK / f"input-{n}-{files}" / "done.json").read_text())
    shutil.rmtree(out)  # the corpus and work files (the inputs stay cached)
    return {
        "docs": n,
        "files": files,
        "text_mb": meta["bytes"] / 1e6,
        "wall_s": wall,
        "removed": sum(dedup["dropped"].values()),
        "stage_seconds": {s["name"]: s["seconds"] for s in stats["stages"]},
        "phases": {
            name: {
                "wall_s": walls[name],
                "samples": samples[name],
                "rss_mb": peak[name][0] / 2**20,
                "pss_mb": peak[name][1] / 2**20,
                "largest_process_mb": peak[name][2] / 2**20,
            }
            for name, _ in phases
        },
    }


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000, help="documents for the signature comparison")
    parser.add_argument(
        "--same-hash-docs",
        type=int,
        default=4_000,
        help="documents for the slower datasketch runs (our pure-Python hash, sha1)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="interleaved rounds of ours and datasketch with xxh32 (medians are reported)",
    )
    parser.add_argument("--scale", type=int, nargs="*", default=[100_000, 200_000], help="documents per scale run")
    parser.add_argument("--files", type=int, default=32, help="JSONL input files per scale run")
    args = parser.parse_args()
    if not WARC.is_dir():
        print(f"skipped: {WARC} not found (clone with ../shared beside the repo)")
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    load = os.getloadavg()[0]
    texts = extracted_texts()
    print(
        f"documents: made from the {len(texts)} texts extracted from {WARC.name}/*.warc.gz "
        f"(pipelines/extract-only.yaml): random real sentences up to a real text's length, 2 % of words replaced; "
        f"5 % near copies (0-3 % words replaced, a third with a boilerplate line), 2 % exact copies"
    )
    multi = MultilingualMaker(texts, seed=0)
    sets = {
        "multilingual": (multi.docs(args.docs), f"one language each, drawn evenly from {', '.join(multi.pools)}"),
        "English-heavy": (Maker(texts, seed=0).docs(args.docs), "the crawls' sentences as they come (mostly English)"),
    }
    sigs = {}
    for number, (name, (docs, what)) in enumerate(sets.items()):
        sig = sigs[name] = bench_signatures(docs, args.same_hash_docs, args.repeats)
        report_signatures(f"1{'ab'[number]}", name, what, docs, sig, load, goal=5 if name == "multilingual" else None)
    profile_ours(sets["multilingual"][0][:5000], with_cprofile=sigs["multilingual"]["ratios"]["bulk, xxh32"] < 5)

    results = {"signatures": sigs, "scale": []}
    for n in args.scale:
        r = bench_scale(texts, n, args.files)
        results["scale"].append(r)
        print(
            f"\n2. minhash_dedup pipeline on {r['docs']:,} documents ({r['text_mb']:,.0f} MB of text, {r['files']} "
            f"JSONL files), 2 workers: {r['wall_s']:.1f} s wall, {r['docs'] / r['wall_s']:,.0f} docs/s, "
            f"{r['removed']:,} removed"
        )
        print(f"  {'phase':<28}{'wall s':>8}{'peak RSS (tree)':>17}{'peak PSS (tree)':>17}{'largest process':>17}")
        for name, p in r["phases"].items():
            if p["samples"]:
                print(
                    f"  {name:<28}{p['wall_s']:>8.1f}{p['rss_mb']:>14,.0f} MB{p['pss_mb']:>14,.0f} MB"
                    f"{p['largest_process_mb']:>14,.0f} MB"
                )
            else:
                print(f"  {name:<28}{p['wall_s']:>8.1f}   (over before a 0.1 s sample)")
        secs = ", ".join(f"{k} {v:.1f} s" for k, v in r["stage_seconds"].items())
        print(f"  stats.json seconds (summed over tasks): {secs}")
    if len(results["scale"]) >= 2:
        a, b = results["scale"][0], results["scale"][-1]
        pa, pb = (max(p["rss_mb"] for p in x["phases"].values()) for x in (a, b))
        qa, qb = (max(p["pss_mb"] for p in x["phases"].values()) for x in (a, b))
        grow = b["docs"] / a["docs"]
        print(
            f"\n  peak RSS {pa:,.0f} MB → {pb:,.0f} MB (x{pb / pa:.2f}; PSS {qa:,.0f} → {qb:,.0f} MB, "
            f"x{qb / qa:.2f}) for "
            f"x{grow:.1f} documents: +{(pb - pa) * 2**20 / (b['docs'] - a['docs']):,.0f} bytes per added document"
        )
        print(
            f"  goals: peak RSS < 2 GB at {b['docs']:,}: {'PASS' if pb < 2048 else 'FALLS SHORT'}; "
            f"growing no faster than the documents: {'PASS' if pb / pa <= grow else 'FALLS SHORT'}"
        )
    (OUT / "dedup_speed.json").write_text(json.dumps(results, indent=2))
    print(
        f"\n({time.perf_counter() - began:.0f} s; load average {os.getloadavg()[0]:.2f} at the end; results in "
        f"{OUT / 'dedup_speed.json'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
