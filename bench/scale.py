"""Dedup and decontamination at scale: millions of documents through one machine.

Run from the repo root:
    .venv/bin/python bench/scale.py --docs 100000 1000000 3000000 [--work /tmp/scale] [--keep]

Documents. Real sentences, recombined: the sentences of the shared text corpora
(../shared/data/text: brown with its `word/TAG` tags stripped, abc, state_union, inaugural,
webtext; read in place with zipfile) and of the texts the pipeline extracts from the shared
crawls (pipelines/extract-only.yaml on ../shared/data/warc, cached in bench/out/dedup-extract),
~150k distinct sentences of 4-100 words. Each document takes a length drawn from the extracted
pages' word counts (those of >= 50 words, clipped at 3,000, scaled so the mean is
`--mean-words`, 250 by default: the shape of real page lengths at a C4-like mean) and is filled
with random sentences to it. Planted, at random positions: 2 % exact copies of a document, 5 %
near copies (1 to 2 % of a document's words replaced by random corpus words, which puts the
copies' 13-gram Jaccard with their source between ~0.6 and 1; the bench measures each pair's
exact Jaccard with the stage's own shingle hashes), and one document in 20,000 (at least 10)
with a GSM8K test question inserted between two sentences, each a different question, so
`decontaminate` has work. Everything follows from `--seed`; a document's text is rebuilt from
its sentence numbers, so generation is a numpy plan plus one string join per document.

The run. `jsonl_reader → exact_dedup → minhash_dedup (ngram 13, threshold 0.8, verify) →
decontaminate (GSM8K + HumanEval, as pipelines/massivetext.yaml) → parquet_writer`, 2 workers,
over JSONL files of at most `--docs-per-file` documents (one streaming task each; at least 4), as a `corpusforge run`
subprocess. Every 0.5 s the bench reads VmRSS and Pss (smaps_rollup) of every process of the
run's tree (bench/dedup_speed.py's `tree_memory`) and charges the sample to the phase whose
completion markers (OUTPUT/work/markers/<phase>/) are not all written yet; every 5 s it adds up
the disk blocks of OUTPUT/work; the tree's CPU seconds (utime + stime) at a phase's last sample,
less the phase before's, are its CPU time (the machine is shared: CPU time is what the load
does not stretch). A phase's wall time runs from the last marker of the phase
before (or the start) to its own last marker; "finish" is the driver's summaries and dataset
card after the last phase. Then the outcome is checked against the plan: every exact copy
pair and every near pair by its measured Jaccard, and every planted GSM8K document.

Figures go to stdout and bench/out/scale.json; the generated data is deleted unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpusforge.engine.config import load_config  # noqa: E402
from corpusforge.engine.planner import GlobalPhase, plan_phases  # noqa: E402
from corpusforge.stages.dedup.minhash import text_shingle_hashes  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
TEXTS = SHARED / "text"
EVALSETS = SHARED / "evalsets"
OUT = ROOT / "bench" / "out"
CORPORA = ("brown.zip", "abc.zip", "state_union.zip", "inaugural.zip", "webtext.zip")
NGRAM, THRESHOLD = 13, 0.8
EXACT, NEAR, CONTAMINATED = 1, 2, 3  # document kinds; 0 is a fresh document
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_BROWN_PUNCT = re.compile(r" ([,.;:!?')])")


# --- the material: real sentences, real lengths ------------------------------------------------


def corpus_texts() -> list[str]:
    """The shared text corpora as plain text (brown's tags stripped), one string per file."""
    out = []
    for name in CORPORA:
        with zipfile.ZipFile(TEXTS / name) as z:
            for info in z.infolist():
                if info.is_dir() or info.filename.endswith("README"):
                    continue
                text = z.read(info).decode("utf-8", errors="replace").replace("\r\n", "\n")
                if name == "brown.zip":  # one sentence a line, `word/TAG` tokens, `` '' for quotes
                    lines = []
                    for line in text.split("\n"):
                        words = [t.rsplit("/", 1)[0] for t in line.split()]
                        s = " ".join(words).replace("``", '"').replace("''", '"')
                        lines.append(_BROWN_PUNCT.sub(r"\1", s))
                    text = "\n".join(lines)
                out.append(text)
    return out


def sentence_pool(texts: list[str]) -> list[str]:
    """Distinct sentences of 4-100 words, in first-seen order."""
    seen: dict[str, None] = {}
    for text in texts:
        for s in _SENTENCE.split(text):
            s = " ".join(s.split())
            if 4 <= s.count(" ") + 1 <= 100:
                seen.setdefault(s)
    return list(seen)


class Material:
    """Sentences (JSON-escaped, so a document's line is a join), their word counts, the
    extracted pages' word counts, corpus words for edits, and the GSM8K questions."""

    def __init__(self, pages: list[str]) -> None:
        sentences = sentence_pool(corpus_texts() + pages)
        self.escaped = [json.dumps(s, ensure_ascii=False)[1:-1] for s in sentences]
        self.words = np.array([s.count(" ") + 1 for s in sentences], dtype=np.int64)
        self.vocab = " ".join(self.escaped[::7]).split(" ")  # words as they occur (frequent ones often)
        lengths = np.array([len(t.split()) for t in pages])
        self.page_words = np.minimum(lengths[lengths >= 50], 3000)
        with open(EVALSETS / "gsm8k_test.jsonl") as f:
            self.questions = [json.dumps(json.loads(line)["question"], ensure_ascii=False)[1:-1] for line in f]


class Plan:
    """Which sentences make each document, and what is planted where (all from the seed)."""

    def __init__(self, m: Material, n: int, seed: int, mean_words: float) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.seed = n, seed
        target = rng.choice(m.page_words, n) * (mean_words / m.page_words.mean())
        per = np.maximum(1, np.rint(target / m.words.mean())).astype(np.int64)
        self.start = np.concatenate([[0], np.cumsum(per)])
        self.sentences = rng.integers(0, len(m.escaped), int(self.start[-1]), dtype=np.int32)
        u = rng.random(n)
        self.kind = np.where(u < 0.02, EXACT, np.where(u < 0.07, NEAR, 0)).astype(np.int8)
        self.kind[0] = 0
        fresh = np.flatnonzero(self.kind == 0)
        self.source = np.full(n, -1, dtype=np.int64)
        copies = np.flatnonzero(self.kind != 0)
        self.source[copies] = rng.choice(fresh, len(copies))
        untouched = np.setdiff1d(fresh, self.source[copies])  # no copy of a contaminated document
        n_q = min(len(m.questions), max(10, n // 20_000))
        self.contaminated = np.sort(rng.choice(untouched, n_q, replace=False))
        self.kind[self.contaminated] = CONTAMINATED
        self.question = np.full(n, -1, dtype=np.int64)
        self.question[self.contaminated] = rng.choice(len(m.questions), n_q, replace=False)

    def line(self, m: Material, i: int) -> str:
        kind = self.kind[i]
        j = int(self.source[i]) if kind in (EXACT, NEAR) else i
        parts = [m.escaped[s] for s in self.sentences[self.start[j] : self.start[j + 1]].tolist()]
        if kind == NEAR:  # 1-2 % of the words replaced, from a generator of this document alone
            rng = np.random.default_rng((self.seed, i))
            words = " ".join(parts).split(" ")
            k = int(rng.integers(1, max(2, round(0.02 * len(words)) + 1)))
            for at, w in zip(rng.integers(0, len(words), k).tolist(), rng.integers(0, len(m.vocab), k).tolist()):
                words[at] = m.vocab[w]
            parts = words
        elif kind == CONTAMINATED:
            at = int(np.random.default_rng((self.seed, i)).integers(0, len(parts) + 1))
            parts.insert(at, m.questions[self.question[i]])
        return f'{{"id":"{i}","text":"{" ".join(parts)}"}}\n'

    def write(self, m: Material, folder: Path, per_file: int) -> tuple[list[str], int]:
        """The JSONL files (documents in plan order) and their bytes."""
        folder.mkdir(parents=True, exist_ok=True)
        paths, size = [], 0
        for f, lo in enumerate(range(0, self.n, per_file)):
            path = folder / f"docs-{f:04d}.jsonl"
            with open(path, "w", encoding="utf-8") as out:
                out.writelines(self.line(m, i) for i in range(lo, min(lo + per_file, self.n)))
            paths.append(str(path))
            size += path.stat().st_size
        return paths, size

    def text(self, m: Material, i: int) -> str:
        return json.loads(self.line(m, i))["text"]

    def near_jaccard(self, m: Material) -> tuple[np.ndarray, np.ndarray]:
        """(near copies, the exact 13-gram Jaccard of each with its source), from the stage's
        own shingle hashes (64-bit, so no false collisions to speak of)."""
        near = np.flatnonzero(self.kind == NEAR)
        jac = np.empty(len(near))
        for lo in range(0, len(near), 1000):
            ids = near[lo : lo + 1000]
            texts = [self.text(m, i) for i in ids.tolist()] + [self.text(m, int(self.source[i])) for i in ids]
            hashes, counts = text_shingle_hashes(texts, NGRAM)
            sets = np.split(hashes, np.cumsum(counts)[:-1])
            for k in range(len(ids)):
                a, b = np.unique(sets[k]), np.unique(sets[len(ids) + k])
                common = len(np.intersect1d(a, b, assume_unique=True))
                union = len(a) + len(b) - common
                jac[lo + k] = common / union if union else 1.0
        return near, jac


# --- the run -------------------------------------------------------------------------------------


def pipeline(inputs: list[str], out: Path) -> dict:
    return {
        "input": inputs,
        "output": str(out),
        "workers": 2,
        "stages": [
            "jsonl_reader",
            "exact_dedup",
            {"minhash_dedup": {"ngram": NGRAM, "threshold": THRESHOLD, "verify": True}},
            {
                "decontaminate": {
                    "test_sets": [
                        {"name": "gsm8k", "path": str(EVALSETS / "gsm8k_test.jsonl"), "fields": ["question", "answer"]},
                        {
                            "name": "humaneval",
                            "path": str(EVALSETS / "humaneval.jsonl.gz"),
                            "fields": ["prompt", "canonical_solution"],
                        },
                    ],
                    "ngram": 13,
                    "max_doc_frequency": 10,
                    "mode": "drop",
                }
            },
            {"parquet_writer": {"max_rows": 100_000}},
        ],
    }


def phase_tasks(data: dict) -> list[tuple[str, int]]:
    """(phase name, tasks) in run order."""
    config = load_config(data=data)
    n = len(data["input"])
    out = []
    for p in plan_phases(config):
        if isinstance(p, GlobalPhase):
            out.append((p.name, config.stages[p.stage].stage.steps()[p.step].n_tasks(n)))  # type: ignore[attr-defined]
        else:
            out.append((p.name, n))
    return out


def disk_bytes(folder: Path) -> tuple[int, dict[str, int]]:
    """Blocks in use under `folder`, in all and per entry of its top level."""
    per: dict[str, int] = {}
    for top in folder.iterdir() if folder.is_dir() else []:
        total = 0
        for dirpath, _, files in os.walk(top):
            for name in files:
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
                except OSError:
                    pass
        per[top.name] = total
    return sum(per.values()), per


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living descendants (the
    run's workers live as long as the run, so this misses little)."""
    from dedup_speed import process_tree

    children, todo, ticks = process_tree(), [pid], 0
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def monitored_run(config_path: Path, data: dict, out: Path) -> dict:
    from dedup_speed import tree_memory  # the same sampler as the dedup scale runs

    phases = phase_tasks(data)
    names = [name for name, _ in phases] + ["finish"]
    peak = {name: [0, 0, 0, 0] for name in names}  # RSS, PSS, largest process, work disk
    samples = dict.fromkeys(names, 0)
    cpu_at = dict.fromkeys(names, 0.0)  # the tree's CPU seconds at the phase's last sample
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "corpusforge", "run", str(config_path), "--overwrite", "--quiet", "--no-report"],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    disk, disk_at = 0, 0.0
    while proc.poll() is None:
        running = "finish"
        for name, count in phases:
            folder = out / "work" / "markers" / name
            if not folder.is_dir() or sum(1 for _ in folder.glob("task-*.json")) < count:
                running = name
                break
        if time.time() - disk_at >= 5:
            disk, disk_at = disk_bytes(out / "work")[0], time.time()
        mem = (*tree_memory(proc.pid), disk)
        peak[running] = [max(a, b) for a, b in zip(peak[running], mem)]
        samples[running] += 1
        cpu_at[running] = tree_cpu(proc.pid)
        time.sleep(0.5)
    ended = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"corpusforge run failed ({proc.returncode}) on {config_path}")
    walls, start = {}, started
    for name, _ in phases:
        end = max(m.stat().st_mtime for m in (out / "work" / "markers" / name).glob("task-*.json"))
        walls[name], start = end - start, end
    walls["finish"] = ended - start
    cpu, before = {}, 0.0
    for name in names:  # a phase too short to be sampled has its CPU in the next one's
        cpu[name], before = max(cpu_at[name] - before, 0.0) if samples[name] else 0.0, max(before, cpu_at[name])
    work_total, work_parts = disk_bytes(out / "work")
    peak["finish"][3] = max(peak["finish"][3], work_total)
    return {
        "wall_s": ended - started,
        "phases": {
            name: {
                "wall_s": round(walls[name], 2),
                "cpu_s": round(cpu[name], 1),
                "samples": samples[name],
                "rss_mb": round(peak[name][0] / 2**20),
                "pss_mb": round(peak[name][1] / 2**20),
                "largest_process_mb": round(peak[name][2] / 2**20),
                "work_disk_mb": round(peak[name][3] / 2**20),
            }
            for name in names
        },
        "work_disk_mb": {k: round(v / 2**20) for k, v in sorted(work_parts.items())},
        "data_mb": round(disk_bytes(out)[1].get("data", 0) / 2**20),
    }


def outcome(plan: Plan, m: Material, out: Path) -> dict:
    """The planted copies and contaminations against what the run kept."""
    ids = pq.read_table(out / "data", columns=["id"])["id"].to_numpy(zero_copy_only=False).astype(np.int64)
    kept = np.zeros(plan.n, dtype=bool)
    kept[ids] = True
    stats = json.loads((out / "stats.json").read_text())
    dropped = {s["name"]: s["dropped"] for s in stats["stages"]}
    exact = np.flatnonzero(plan.kind == EXACT)
    near, jac = plan.near_jaccard(m)
    lost = ~(kept[near] & kept[plan.source[near]])  # the pair lost a member
    bins = {}
    for lo, hi in [(0.0, 0.7), (0.7, 0.75), (0.75, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 1.01)]:
        sel = (jac >= lo) & (jac < hi)
        bins[f"{lo:.2f}-{min(hi, 1):.2f}"] = {
            "pairs": int(sel.sum()),
            "lost_one": float(lost[sel].mean()) if sel.any() else None,
        }
    return {
        "kept": int(kept.sum()),
        "dropped": dropped,
        "exact_pairs": len(exact),
        "exact_pairs_lost_one": float((~(kept[exact] & kept[plan.source[exact]])).mean()) if len(exact) else None,
        "near_pairs": len(near),
        "near_jaccard_mean": float(jac.mean()) if len(jac) else None,
        "near_by_jaccard": bins,
        "contaminated": len(plan.contaminated),
        "contaminated_kept": int(kept[plan.contaminated].sum()),
    }


def bench_size(m: Material, n: int, args: argparse.Namespace) -> dict:
    work = Path(args.work) / f"docs-{n}"
    if work.exists():
        shutil.rmtree(work)
    t0 = time.perf_counter()
    plan = Plan(m, n, args.seed + n, args.mean_words)
    files = max(4, -(-n // args.docs_per_file))  # at least 4: both workers busy to the end
    inputs, size = plan.write(m, work / "input", -(-n // files))
    generate_s = time.perf_counter() - t0
    words = np.add.reduceat(m.words[plan.sentences], plan.start[:-1])
    print(
        f"\n{n:,} documents: {len(inputs)} JSONL files, {size / 2**20:,.0f} MB, mean {words.mean():.0f} words "
        f"(median {np.median(words):.0f}), generated in {generate_s:.1f} s "
        f"({(plan.kind == EXACT).sum():,} exact copies, {(plan.kind == NEAR).sum():,} near, "
        f"{len(plan.contaminated)} with a GSM8K question)",
        flush=True,
    )
    out = work / "run"
    data = pipeline(inputs, out)
    config_path = work / "scale.yaml"
    config_path.write_text(json.dumps(data, indent=1))
    load = os.getloadavg()
    run = monitored_run(config_path, data, out)
    result = {
        "docs": n,
        "files": len(inputs),
        "input_mb": round(size / 2**20),
        "mean_words": round(float(words.mean()), 1),
        "generate_s": round(generate_s, 1),
        "load_before": [round(x, 1) for x in load],
        "load_after": [round(x, 1) for x in os.getloadavg()],
        "command": f"corpusforge run {config_path} --overwrite --quiet --no-report",
        **run,
        "outcome": outcome(plan, m, out),
    }
    report(result)
    if not args.keep:
        shutil.rmtree(work)
    return result


def report(r: dict) -> None:
    print(
        f"  wall {r['wall_s']:,.1f} s ({r['docs'] / r['wall_s']:,.0f} docs/s), load {r['load_before'][0]} → "
        f"{r['load_after'][0]}"
    )
    print(f"  {'phase':<32}{'wall s':>9}{'CPU s':>9}{'peak RSS':>11}{'peak PSS':>11}{'largest':>10}{'work disk':>11}")
    for name, p in r["phases"].items():
        print(
            f"  {name:<32}{p['wall_s']:>9.1f}{p.get('cpu_s', 0):>9.1f}{p['rss_mb']:>8,} MB{p['pss_mb']:>8,} MB{p['largest_process_mb']:>7,} MB"
            f"{p['work_disk_mb']:>8,} MB" + ("" if p["samples"] else "  (no 0.5 s sample)")
        )
    print("  work files at the end: " + ", ".join(f"{k} {v:,} MB" for k, v in r["work_disk_mb"].items()))
    o = r["outcome"]
    print(f"  kept {o['kept']:,}; dropped {json.dumps(o['dropped'])}")
    print(f"  exact copy pairs that lost a member: {o['exact_pairs_lost_one']:.4f} of {o['exact_pairs']:,}")
    print(
        f"  near pairs ({o['near_pairs']:,}, mean J {o['near_jaccard_mean']:.3f}) that lost a member, by 13-gram J: "
        + ", ".join(
            f"{k}: {v['lost_one']:.3f} of {v['pairs']:,}" for k, v in o["near_by_jaccard"].items() if v["pairs"]
        )
    )
    print(f"  planted GSM8K documents kept: {o['contaminated_kept']} of {o['contaminated']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[100_000], help="documents per run (several: a curve)")
    parser.add_argument(
        "--docs-per-file",
        type=int,
        default=100_000,
        help="most documents per JSONL file (one task each; at least 4 files)",
    )
    parser.add_argument("--mean-words", type=float, default=250, help="mean document length in words")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/scale", help="where the inputs and the run go (outside the repo)")
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs and the run's output")
    args = parser.parse_args()
    if not TEXTS.is_dir() or not EVALSETS.is_dir():
        print(f"skipped: {SHARED} not found (clone with ../shared beside the repo)")
        return 0
    from dedup_quality import extracted_texts

    t0 = time.perf_counter()
    m = Material(extracted_texts())
    print(
        f"material: {len(m.escaped):,} distinct real sentences (mean {m.words.mean():.1f} words), lengths from "
        f"{len(m.page_words)} extracted pages, {len(m.questions):,} GSM8K questions ({time.perf_counter() - t0:.1f} s)"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    results_path = OUT / "scale.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for n in args.docs:
        results[str(n)] = bench_size(m, n, args)
        results_path.write_text(json.dumps(results, indent=1))  # after each size: a long curve keeps what it has
    print(f"\nfigures: {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
