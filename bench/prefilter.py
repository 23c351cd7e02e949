"""Prefilter benchmark: does filtering before extraction pay, and what does it lose?

Run from the repo root (`make bench`):  .venv/bin/python bench/prefilter.py [--repeats N] [--workers N]

Four crawls are built from real material under bench/out/prefilter/ (say so wherever a figure
is quoted): every response record of the shared WARCs (cc-sample-*, articles-181,
readability-130: real pages, ~20 not in English) and 30 pages of State of the Union paragraphs
put into the readability pages not in English (the hard case of an English article in a foreign
site's chrome), plus foreign pages made from the UDHR texts in ~380 languages. In the first
three, each is put into a real English news page of articles-181 in place of its article: the
other hard case, a site's English menus and links around a foreign article. Only template pages
whose article paragraphs hold at least half their visible text are used (a page whose own text
outweighs the transplant would not be the case it stands for).

- `half`: each UDHR text whole, one page per language: about half the pages are English;
- `mostly-foreign`: each UDHR text cut into 3 pages: about three pages in four are not English;
- `known-foreign`: only the UDHR texts in languages lid.176 knows (see `udhr_pages`), each cut
  into 10 pages: about three pages in four are not English, in languages like a web crawl's;
- `foreign-sites`: each English page of the shared WARCs 4 more times as a foreign site would
  have it (`relabel`: every text it shows in a language lid.176 knows, the markup untouched):
  four pages in five are not English, and a foreign page costs trafilatura what an English one
  does. On the first three the transplanted pages are cheaper to extract than the crawl's English
  pages (the usable templates are the simpler pages, and a UDHR piece is shorter than their
  articles), which caps what skipping them can save; the row's "extract ms" column says by how
  much (trafilatura's extract() in-process, interleaved, median of 3: the English pages against
  a sample of the crawl's made pages). On real pages the language does not change the cost.

For each crawl, `pipelines/massivetext.yaml` runs through the CLI with its pre-extraction
stages (`url_filter`, `html_language`) and without them (the same config, those entries
removed), interleaved, `--repeats` times: docs/s (input pages per second of wall time), the
CPU seconds of the run's whole process tree (driver, forkserver, workers: user + sys), the
share of pages trafilatura extracted, and the share of the documents the run without the
prefilter keeps that the prefiltered run keeps too (by document id). Two speedups: wall time
(what a user waits; noisy on a shared machine) and CPU time (the work done, which other
load on the machine barely changes). And a bound: the run without the prefilter on only the
pages it keeps (the `-oracle` crawl, written after its first run), against the same run on the
whole crawl, is the wall-time speedup of a prefilter that skipped every page the pipeline
drops, exactly and for free; no language prefilter does better on that crawl.

The tradeoff table: every page of each crawl scored by `html_language` (in-process, the
stage itself), against the documents the run without the prefilter keeps; for each
`min_score`, the pages it would skip and the kept documents it would lose.

`--copies N` adds a scaled row for each crawl: its records N times over (each copy's URLs end
in `#copy-k`; the pages are unchanged, so exact_dedup removes the copies after language and
quality filtering and the global phases see one copy), in 8 WARCs: what the speedup is once the
run's fixed cost (start-up, pool, the global phases) is small beside its pages, as it is on a
real crawl of many thousand pages.

Figures also go to bench/out/prefilter.json.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "prefilter"
SHARED = ROOT.parent / "shared" / "data"
CONFIG = ROOT / "pipelines" / "massivetext.yaml"
PREFILTER_STAGES = ("url_filter", "html_language")
THRESHOLDS = (0.0001, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5)
N_FILES = 4
CRAWLS = ["half", "mostly-foreign", "known-foreign", "foreign-sites"]


def real_records(pattern: str = "*.warc.gz") -> list[tuple[str, bytes, str]]:
    """(url, payload, content type) of every response record of the shared WARCs."""
    from warcio.archiveiterator import ArchiveIterator

    out = []
    for path in sorted((SHARED / "warc").glob(pattern)):
        with open(path, "rb") as stream:
            for rec in ArchiveIterator(stream):
                if rec.rec_type == "response" and rec.http_headers is not None:
                    ctype = rec.http_headers.get_header("Content-Type") or "text/html"
                    out.append((rec.rec_headers.get_header("WARC-Target-URI"), rec.content_stream().read(), ctype))
    return out


def foreign_readability_urls() -> set[str]:
    """The URLs of the readability-130 pages whose language (its ground truth) is not English."""
    truth = json.loads((SHARED / "warc" / "readability-130.ground-truth.json").read_text())
    return {t["url"] for t in truth if t.get("lang") and not t["lang"].lower().startswith("en")}


def lid_names_foreign(lid: Any, text: str) -> bool:
    """lid.176 names `text`, whole, as one language other than English with probability >= 0.5."""
    (label,), (prob,) = (x[0] for x in lid.model_predict([text], k=1))
    return label != "__label__en" and prob >= 0.5


def transplant(template: tuple[str, bytes, str], paragraphs: list[str], name: str) -> tuple[str, bytes, str] | None:
    """A real page with its article's paragraphs (every <p> of 80+ characters) replaced by
    `paragraphs`; the site's menus, links, scripts and footer stay as the site wrote them.
    None for a page whose article paragraphs hold under half its visible text."""
    from lxml import html as lxml_html

    url, payload, _ = template
    tree = lxml_html.document_fromstring(payload)
    article = [p for p in tree.iter("p") if len(p.text_content()) >= 80]
    shown = tree.xpath("//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript)]")
    visible = len(" ".join(" ".join(shown).split()))
    if not article or sum(len(" ".join(p.text_content().split())) for p in article) < visible / 2:
        return None  # the page's own text would outweigh the transplanted article: not the case we want
    per = -(-len(paragraphs) // len(article))
    for i, p in enumerate(article):
        p.clear()
        p.text = " ".join(paragraphs[i * per : (i + 1) * per])
    page = lxml_html.tostring(tree, encoding="utf-8", doctype="<!DOCTYPE html>")
    return f"{url.rstrip('/')}/{name}", page, "text/html; charset=utf-8"


def usable(templates: list[tuple[str, bytes, str]]) -> list[tuple[str, bytes, str]]:
    """The templates whose article paragraphs hold at least half their visible text."""
    return [t for t in templates if transplant(t, ["x" * 80], "probe") is not None]


def udhr_pages(
    pieces: int, templates: list[tuple[str, bytes, str]], known_only: bool = False
) -> list[tuple[str, bytes, str]]:
    """A foreign article in English chrome: each UDHR text cut into `pieces` pages, each put
    into a real English news page (the usable articles-181 pages in turn). `known_only`: only
    the texts lid.176 names, whole, as one language other than English with probability >= 0.5
    (the languages a web language-ID model knows, which make up the bulk of a web crawl; most of
    UDHR's ~380 are languages it does not know, and those score English 0.2-0.5 as often as not)."""
    from corpusforge.stages.filters.language import LanguageFilter

    lid = LanguageFilter(languages=["en"])
    templates, out = usable(templates), []
    with zipfile.ZipFile(SHARED / "text" / "udhr2.zip") as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".txt")):
            code = Path(name).stem
            lines = [ln.strip() for ln in z.read(name).decode("utf-8", "replace").splitlines() if ln.strip()]
            if len(lines) < 2 * pieces:
                continue
            if known_only and not lid_names_foreign(lid, " ".join(lines)):
                continue
            step = -(-len(lines) // pieces)
            for piece in range(pieces):
                chunk = lines[piece * step : (piece + 1) * step]
                out.append(transplant(templates[len(out) % len(templates)], chunk, f"udhr-{code}-{piece + 1}"))
    return out


def relabel(template: tuple[str, bytes, str], words: list[str], name: str) -> tuple[str, bytes, str]:
    """A real page as a foreign site would have it: every text it shows (title, menus, headings,
    article, footer) replaced by `words`, cycled, to the same length; the markup, attributes,
    scripts and styles stay as the site wrote them, so the page costs an extractor what the
    original does."""
    from lxml import html as lxml_html

    url, payload, _ = template
    tree = lxml_html.document_fromstring(payload)
    cursor = 0

    def same_length(text: str | None) -> str | None:
        nonlocal cursor
        if not text or not text.strip():
            return text
        out: list[str] = []
        size, want = 0, len(text.strip())
        while size < want:
            out.append(words[cursor % len(words)])
            size += len(out[-1]) + 1
            cursor += 1
        head, tail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
        return head + " ".join(out) + tail

    for el in tree.iter():
        if isinstance(el.tag, str) and el.tag not in ("script", "style", "noscript"):
            el.text = same_length(el.text)
        el.tail = same_length(el.tail)  # a tail is the parent's text, shown even after a script
    page = lxml_html.tostring(tree, encoding="utf-8", doctype="<!DOCTYPE html>")
    return f"{url.rstrip('/')}/{name}", page, "text/html; charset=utf-8"


def foreign_sites(templates: list[tuple[str, bytes, str]], per_page: int) -> list[tuple[str, bytes, str]]:
    """Each English HTML page of `templates` `per_page` times as a foreign site: `relabel`
    with the UDHR text of a language lid.176 knows (as `udhr_pages(known_only=True)`), the
    languages in turn."""
    from corpusforge.stages.filters.language import LanguageFilter

    lid = LanguageFilter(languages=["en"])
    texts = []
    with zipfile.ZipFile(SHARED / "text" / "udhr2.zip") as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".txt")):
            words = z.read(name).decode("utf-8", "replace").split()
            if len(words) >= 200 and lid_names_foreign(lid, " ".join(words)):
                texts.append((Path(name).stem, words))
    out = []
    for i, page in enumerate(t for t in templates if "html" in t[2].lower()):
        for k in range(per_page):
            code, words = texts[(i * per_page + k) % len(texts)]
            out.append(relabel(page, words, f"site-{code}"))
    return out


def english_in_foreign_pages(n_pages: int) -> list[tuple[str, bytes, str]]:
    """The other hard case, an English article in a foreign site's chrome: State of the Union
    paragraphs put into the (usable) readability-130 pages whose language is not English."""
    foreign = foreign_readability_urls()
    templates = usable([r for r in real_records("readability-130.warc.gz") if r[0] in foreign])
    with zipfile.ZipFile(SHARED / "text" / "state_union.zip") as z:
        speeches = sorted(n for n in z.namelist() if n.endswith(".txt"))
        out = []
        for k in range(n_pages):
            text = z.read(speeches[k % len(speeches)]).decode("utf-8", "replace")
            paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 80][:20]
            out.append(transplant(templates[k % len(templates)], paragraphs, f"speech-{k}"))
    return out


def write_crawl(folder: Path, records: list[tuple[str, bytes, str]], n_files: int = N_FILES) -> list[Path]:
    """The records round-robin over `n_files` gzip WARCs (so every worker gets the same mix)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"crawl-{i:02d}.warc.gz" for i in range(n_files)]
    if all(p.is_file() for p in paths):
        return paths
    handles = [open(p, "wb") for p in paths]
    writers = [WARCWriter(h, gzip=True) for h in handles]
    for i, (url, payload, ctype) in enumerate(records):
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        rec = writers[i % n_files].create_warc_record(
            url, "response", payload=io.BytesIO(payload), length=len(payload), http_headers=http
        )
        writers[i % n_files].write_record(rec)
    for h in handles:
        h.close()
    return paths


def extract_options() -> dict[str, Any]:
    """The keyword arguments the shipped config's `trafilatura` stage passes to extract()."""
    from corpusforge.stages.trafilatura_extractor import TrafilaturaExtractor

    raw = yaml.safe_load(CONFIG.read_text())
    entry = next(s for s in raw["stages"] if (s if isinstance(s, str) else next(iter(s))) == "trafilatura")
    keys = {} if isinstance(entry, str) else entry["trafilatura"] or {}
    return TrafilaturaExtractor(**keys).options | {"output_format": "txt"}


def configs() -> tuple[Path, Path]:
    """The shipped config, and the same without its pre-extraction stages."""
    raw = yaml.safe_load(CONFIG.read_text())
    names = [s if isinstance(s, str) else next(iter(s)) for s in raw["stages"]]
    if not set(PREFILTER_STAGES) & set(names):
        sys.exit(f"{CONFIG} has none of {', '.join(PREFILTER_STAGES)}: nothing to compare")
    raw["stages"] = [s for s, n in zip(raw["stages"], names) if n not in PREFILTER_STAGES]
    OUT.mkdir(parents=True, exist_ok=True)
    plain = OUT / "massivetext-no-prefilter.yaml"
    plain.write_text(yaml.safe_dump(raw, sort_keys=False))
    return CONFIG, plain


def adopt_orphans() -> None:
    """Make this process the subreaper of the runs' process trees (Linux): the forkserver and
    its workers outlive the CLI process by a moment and would be reparented to init, their
    CPU time counted nowhere; as our children they are counted once `reap_orphans` waits."""
    if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER) failed (errno {ctypes.get_errno()}): CPU times need Linux")


def reap_orphans() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def tree_cpu() -> float:
    """User + sys seconds of every descendant waited for so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(config: Path, inputs: list[Path], output: Path, workers: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "corpusforge.cli", "run", str(config), "--input", *map(str, inputs)]
    cmd += ["--output", str(output), "--workers", str(workers), "--overwrite", "--quiet", "--no-report"]
    cpu0, t0 = tree_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    reap_orphans()
    cpu = tree_cpu() - cpu0
    stats = {s["name"]: s for s in json.loads((output / "stats.json").read_text())["stages"]}
    ids, urls = set(), set()
    for shard in sorted((output / "data").glob("*.parquet")):
        table = pq.read_table(shard, columns=["id", "url"])
        ids.update(table.column("id").to_pylist())
        urls.update(table.column("url").to_pylist())
    inside = json.loads((output / "stats.json").read_text())["wall_seconds"]  # without interpreter start-up
    return {
        "wall": wall,
        "cpu": cpu,
        "inside": inside,
        "pages": stats["warc_reader"]["out"],
        "extracted": stats["trafilatura"]["in"],
        "ids": ids,
        "urls": urls,
    }


def fixed_cost(config: Path, workers: int, repeats: int) -> dict[str, float]:
    """What a run costs beside its pages: the prefiltered config on the two small shared
    WARCs (cc-sample-*, 48 records), median wall and CPU seconds of `repeats` runs."""
    inputs = sorted((SHARED / "warc").glob("cc-sample-*.warc.gz"))
    runs = [run(config, inputs, OUT / "out-fixed", workers) for _ in range(repeats)]
    return {
        "pages": runs[0]["pages"],
        "wall": statistics.median(r["wall"] for r in runs),
        "inside": statistics.median(r["inside"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
    }


def extraction_ms(
    groups: dict[str, list[tuple[str, bytes, str]]], rounds: int = 3, limit: int = 400
) -> dict[str, float]:
    """ms per page of trafilatura's extract() (the pipeline's options, in-process) on up to
    `limit` pages of each group, evenly spaced: the groups interleaved, median of `rounds`."""
    from trafilatura import extract

    from corpusforge.stages.readers.warc_reader import decode_html

    pages = {
        name: [(url, decode_html(payload, ctype)[0]) for url, payload, ctype in records[:: -(-len(records) // limit)]]
        for name, records in groups.items()
    }
    options = extract_options()
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(rounds):
        for name, sample in pages.items():
            t0 = time.perf_counter()
            for url, page in sample:
                extract(page, url=url, **options)
            times[name].append((time.perf_counter() - t0) / len(sample) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def html_scores(inputs: list[Path]) -> dict[str, float | None]:
    """Every page's html_language score (best English probability of its running text)."""
    from corpusforge.engine.stage import StageContext
    from corpusforge.engine.stats import StageStats
    from corpusforge.stages.filters.html_language import HtmlLanguageFilter
    from corpusforge.stages.readers.warc_reader import WarcReader

    stage = HtmlLanguageFilter(languages=["en"], mode="annotate")
    scores = {}
    for path in inputs:
        ctx = StageContext(0, str(path), OUT, StageStats("bench"))
        for doc in stage.run(WarcReader().read(str(path), ctx), ctx):
            scores[doc.id] = doc.metadata.get("html_language_score")  # None: no running text, always kept
    return scores


def page_costs(repeats: int = 3) -> dict[str, float]:
    """ms per page over the shared WARCs' pages, interleaved, median of `repeats`: trafilatura's
    extract(); trafilatura's parse (load_html) alone, which a prefilter on the tree would pay for
    every page; and html_language's whole work on a page (the running-text scan and lid.176),
    which is all a skipped page costs beside reading it."""
    from trafilatura import extract
    from trafilatura.utils import load_html

    from corpusforge.document import Document
    from corpusforge.stages.filters.html_language import HtmlLanguageFilter
    from corpusforge.stages.readers.warc_reader import decode_html

    pages = [decode_html(payload, ctype)[0] for _, payload, ctype in real_records()]
    options = extract_options()
    stage = HtmlLanguageFilter(languages=["en"])
    stage.setup()
    work = {
        "extract": lambda: [extract(p, **options) for p in pages],
        "parse": lambda: [load_html(p) is not None for p in pages],
        "html_language": lambda: [stage.filter_batch([Document("p", p)]) for p in pages],
    }
    times: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(repeats):
        for name, fn in work.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) / len(pages) * 1000)
    return {name: statistics.median(t) for name, t in times.items()} | {"pages": len(pages)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=1, help="interleaved runs of each config (median reported)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--crawls", nargs="+", choices=CRAWLS, default=CRAWLS, help="which crawls to run (default: all)")
    ap.add_argument("--copies", type=int, default=0, help="also run each crawl repeated N times (0: not)")
    args = ap.parse_args()
    if not (SHARED / "warc").is_dir() or not (SHARED / "text" / "udhr2.zip").is_file():
        sys.exit(f"needs {SHARED}/warc and {SHARED}/text/udhr2.zip (the shared data)")
    adopt_orphans()
    with_pre, without = configs()
    real = real_records()
    templates = real_records("articles-181.warc.gz")
    foreign = foreign_readability_urls()
    english = [r for r in real if r[0] not in foreign]
    speeches = english_in_foreign_pages(30)
    real += speeches
    make = {
        "half": lambda: udhr_pages(1, templates),
        "mostly-foreign": lambda: udhr_pages(3, templates),
        "known-foreign": lambda: udhr_pages(10, templates, known_only=True),
        "foreign-sites": lambda: foreign_sites(english, 4),
    }
    made = {name: make[name]() for name in CRAWLS if name in args.crawls}
    crawls = {name: real + pages for name, pages in made.items()}
    costs = extraction_ms({"English": english + speeches} | made)
    for name in list(crawls) if args.copies > 0 else []:
        crawls[f"{name}-x{args.copies}"] = [
            (f"{url}#copy-{k}", payload, ctype) for k in range(args.copies) for url, payload, ctype in crawls[name]
        ]
    figures: dict[str, Any] = {}
    kept_plain: dict[str, set[str]] = {}
    inputs_of: dict[str, list[Path]] = {}
    for name, records in crawls.items():
        scaled = name not in CRAWLS
        inputs = inputs_of[name] = write_crawl(OUT / name, records, 8 if scaled else N_FILES)
        runs: dict[str, list[dict[str, Any]]] = {"with": [], "without": [], "oracle": []}
        oracle: list[Path] = []
        for _ in range(args.repeats):
            for label, config in (("without", without), ("with", with_pre)):
                runs[label].append(run(config, inputs, OUT / f"out-{name}-{label}", args.workers))
            if scaled:  # the bound is the small crawl's; the copies add nothing to it
                continue
            if not oracle:  # the pages the plain run keeps, and only those
                shutil.rmtree(OUT / f"{name}-oracle", ignore_errors=True)
                oracle = write_crawl(OUT / f"{name}-oracle", [r for r in records if r[0] in runs["without"][0]["urls"]])
            runs["oracle"].append(run(without, oracle, OUT / f"out-{name}-oracle", args.workers))
        w, wo = runs["with"][0], runs["without"][0]
        kept_plain[name] = wo["ids"]
        row = {
            "pages": wo["pages"],
            "docs_s_without": wo["pages"] / statistics.median(r["wall"] for r in runs["without"]),
            "docs_s_with": w["pages"] / statistics.median(r["wall"] for r in runs["with"]),
            "cpu_s_without": statistics.median(r["cpu"] for r in runs["without"]),
            "cpu_s_with": statistics.median(r["cpu"] for r in runs["with"]),
            "extracted_without": wo["extracted"] / wo["pages"],
            "extracted_with": w["extracted"] / w["pages"],
            "kept_without": len(wo["ids"]),
            "kept_with": len(w["ids"]),
            "kept_share": len(w["ids"] & wo["ids"]) / max(len(wo["ids"]), 1),
        }
        if name in made:
            row["extract_ms_english"], row["extract_ms_made"] = costs["English"], costs[name]
        row["speedup"] = row["docs_s_with"] / row["docs_s_without"]
        row["speedup_oracle"] = (
            statistics.median(r["wall"] for r in runs["without"]) / statistics.median(r["wall"] for r in runs["oracle"])
            if runs["oracle"]
            else float("nan")
        )
        row["speedup_cpu"] = row["cpu_s_without"] / row["cpu_s_with"]
        row["speedup_inside"] = statistics.median(r["inside"] for r in runs["without"]) / statistics.median(
            r["inside"] for r in runs["with"]
        )
        figures[name] = row

    print(
        f"\nmassivetext with vs without url_filter + html_language ({args.workers} workers, median of {args.repeats})"
    )
    print(
        "speedup: wall time (in run: stats.json's wall_seconds, without interpreter start-up); CPU: the process tree's"
    )
    print(
        f"{'crawl':18} {'pages':>6} {'docs/s without':>15} {'docs/s with':>12} {'speedup':>8} {'(in run)':>8} "
        f"{'CPU s without':>14} {'CPU s with':>11} {'CPU speedup':>11} {'extracted':>14} {'kept':>11} {'kept share':>10} {'bound':>6} {'extract ms':>11}"
    )
    for name, r in figures.items():
        print(
            f"{name:18} {r['pages']:6d} {r['docs_s_without']:15.1f} {r['docs_s_with']:12.1f} {r['speedup']:7.2f}x "
            f"{r['speedup_inside']:7.2f}x {r['cpu_s_without']:14.1f} {r['cpu_s_with']:11.1f} {r['speedup_cpu']:10.2f}x "
            f"{r['extracted_without']:6.0%} → {r['extracted_with']:4.0%} {r['kept_without']:5d}/{r['kept_with']:<5d} {r['kept_share']:10.2%} {r['speedup_oracle']:5.2f}x "
            + (f"{r['extract_ms_english']:5.1f}/{r['extract_ms_made']:<5.1f}" if "extract_ms_made" in r else "")
        )

    table = []
    scores = {name: html_scores(inputs_of[name]) for name in crawls if name in CRAWLS}
    for t in THRESHOLDS:
        row: dict[str, Any] = {"min_score": t}
        for name, sc in scores.items():
            row[name] = {
                "skipped": sum(v is not None and v < t for v in sc.values()) / len(sc),
                "lost": sum(sc[i] is not None and sc[i] < t for i in kept_plain[name] if i in sc),
                "kept": len(kept_plain[name]),
            }
        table.append(row)
    print("\nhtml_language min_score tradeoff: pages it skips, and documents the run without it keeps that it loses")
    print(f"{'min_score':>9} " + " ".join(f"{name + ' skipped':>22} {'lost':>12}" for name in scores))
    for r in table:
        cells = [
            f"{r[n]['skipped']:22.1%} {r[n]['lost']:4d} ({r[n]['lost'] / max(r[n]['kept'], 1):.2%})" for n in scores
        ]
        print(f"{r['min_score']:9g} " + " ".join(cells))
    first = next(iter(scores))
    lowest = sorted((v, i) for i in kept_plain[first] if (v := scores[first].get(i)) is not None)[:5]
    print(f"lowest scores of kept documents ('{first}'):", ", ".join(f"{v:.3f}" for v, _ in lowest))
    figures["tradeoff"] = table
    cost = page_costs()
    print(
        f"\nms per page on the {cost['pages']} shared pages (1 process, median of 3): extract(html) "
        f"{cost['extract']:.1f}; its parse (load_html) alone {cost['parse']:.2f}; "
        f"html_language (running-text scan + lid.176) {cost['html_language']:.2f}"
    )
    figures["page_ms"] = cost
    fixed = figures["fixed"] = fixed_cost(with_pre, args.workers, args.repeats)
    print(
        f"fixed cost: the prefiltered run on {fixed['pages']} pages (cc-sample-*), median of {args.repeats}: "
        f"{fixed['wall']:.2f} s wall ({fixed['inside']:.2f} s inside the run), {fixed['cpu']:.2f} CPU s"
    )
    (OUT.parent / "prefilter.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
