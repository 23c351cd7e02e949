"""URL filter benchmark: loading the real UT1 lists, and URLs/s beside a naive scan of the lists.

Run from the repo root (`make bench`):  .venv/bin/python bench/url_filter.py [--urls 100000] [--naive 1000]

1. Load UT1's adult (urls + very_restrictive_expression), gambling and dating categories
   (../shared/data/blocklists/ut1: 38,751 domains, 1,090 URLs, one regex file) and LDNOOBW's
   English words as URL words: median of 5 loads (`check()`, which reads every file).
2. Make N URLs (default 100,000) from real ones, shuffled with a fixed seed: 70 % the page
   URLs of the sample crawls (../shared/data/warc) with a distinct path suffix each, 12 %
   listed domains under a random subdomain and path, 3 % UT1 urls entries with a deeper path,
   15 % lookalikes of listed domains (`not<domain>`, `<domain>.example.org`).
3. Time the stage on them (`run`, drop mode, median of 3), with the domain lists only and
   with all the lists; then a naive baseline of all the lists on the first
   `--naive` of them (default 1,000): the same rules written as a scan of every list entry per
   URL (endswith per domain, startswith per URL entry, each regex line, each word). The two
   must give the same decision on every URL the baseline sees (checked, mismatches printed).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpusforge.document import Document  # noqa: E402
from corpusforge.engine.stage import StageContext  # noqa: E402
from corpusforge.engine.stats import StageStats  # noqa: E402
from corpusforge.stages.filters.url_filter import UrlFilter  # noqa: E402
from corpusforge.stages.readers.warc_reader import WarcReader  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
UT1 = SHARED / "blocklists" / "ut1"
WORDS = SHARED / "blocklists" / "ldnoobw" / "en"
WARC = SHARED / "warc"
OUT = ROOT / "bench" / "out"
MIRROR = re.compile(r"^(?:www|web|ftp)[0-9]*\.")


def entries(path: Path) -> list[str]:
    return [s for s in (line.strip() for line in path.read_text().splitlines()) if s and not s.startswith("#")]


def make_stage(domains_only: bool = False) -> UrlFilter:
    if domains_only:
        stage = UrlFilter(blocklists=[str(UT1 / c) for c in ("gambling", "dating")])
    else:
        stage = UrlFilter(blocklists=[str(UT1 / c) for c in ("adult", "gambling", "dating")], url_words=[str(WORDS)])
    stage.check()  # reads and parses every list (as setup() does in each worker)
    return stage


def time_stage(stage: UrlFilter, urls: list[str]) -> tuple[float, int, dict[str, int]]:
    """Median seconds of 3 runs of the stage over the URLs; documents kept; drops per reason."""
    times = []
    for _ in range(3):
        docs = [Document(str(i), "", u) for i, u in enumerate(urls)]
        ctx = StageContext(task=0, source="bench", work_dir=OUT, stats=StageStats("url_filter"))
        t0 = time.perf_counter()
        kept = sum(1 for _ in stage.run(docs, ctx))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), kept, dict(ctx.stats.dropped)


def make_urls(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    reader, ctx = WarcReader(), StageContext(task=0, source="bench", work_dir=OUT, stats=StageStats("warc_reader"))
    pages = [d.url for p in sorted(WARC.glob("*.warc.gz")) for d in reader.read(str(p), ctx) if d.url]
    domains = entries(UT1 / "gambling" / "domains") + entries(UT1 / "dating" / "domains")
    listed_urls = entries(UT1 / "adult" / "urls")
    urls = []
    for i in range(n):
        r = rng.random()
        if r < 0.70:
            urls.append(f"{rng.choice(pages).rstrip('/')}/p{i}")
        elif r < 0.82:
            urls.append(f"https://{rng.choice(['www', 'm', 'shop.eu'])}.{rng.choice(domains)}/page/{i}")
        elif r < 0.85:
            urls.append(f"http://{rng.choice(listed_urls).rstrip('/')}/item{i}")
        else:
            d = rng.choice(domains)
            urls.append(f"https://not{d}/{i}" if rng.random() < 0.5 else f"https://{d}.example.org/{i}")
    rng.shuffle(urls)
    return urls


class NaiveScan:
    """The stage's rules as a scan of the lists: one comparison per entry per URL."""

    def __init__(self) -> None:
        self.domains = [(c, d) for c in ("gambling", "dating") for d in entries(UT1 / c / "domains")]
        self.urls = [MIRROR.sub("", e.lower()).split("#")[0].rstrip("/") for e in entries(UT1 / "adult" / "urls")]
        self.regexes = [re.compile(e, re.I) for e in entries(UT1 / "adult" / "very_restrictive_expression")]
        words = [tuple(t for t in re.split(r"[\W_]+", w.lower()) if t) for w in entries(WORDS)]
        self.words = [w for w in words if w]

    def reason(self, url: str) -> str | None:
        parts = urlsplit(url.lower())
        host, rest = parts.hostname, parts.path + (f"?{parts.query}" if parts.query else "")
        for category, d in self.domains:
            if host == d or host.endswith("." + d):
                return f"domain:{category}"
        key = MIRROR.sub("", host) + rest
        for e in self.urls:
            if key.rstrip("/") == e or key.startswith(e + "/") or key.startswith(e + "?"):
                return "url:adult"
        for regex in self.regexes:
            if regex.search(host + rest):
                return "expression:adult"
        tokens = [t for t in re.split(r"[\W_]+", f"{host} {unquote(parts.path)}") if t]
        for w in self.words:
            if any(tuple(tokens[i : i + len(w)]) == w for i in range(len(tokens))):
                return "word"
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (UT1 / "gambling" / "domains").is_file() or not WARC.is_dir() or not WORDS.is_file():
        print(f"skipped: {UT1}, {WORDS} or {WARC} not found (clone with ../shared beside the repo)")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)

    loads = []
    for i in range(5):
        t0 = time.perf_counter()
        stage = make_stage()
        loads.append(time.perf_counter() - t0)
        if i == 0:  # the malformed-line warning once, not five times
            logging.getLogger("corpusforge").setLevel(logging.ERROR)
    stage.setup()  # check() read everything and let it go; the workers' copy loads here
    lists = stage._lists
    load_s = statistics.median(loads)
    print(
        f"load: {len(lists.domains):,} domains, {len(lists.urls):,} URLs, {len(lists.expressions)} regex file(s), "
        f"{len(lists.words) + sum(map(len, lists.phrases.values())):,} words: {load_s * 1000:.0f} ms (median of 5)"
    )

    urls = make_urls(args.urls, args.seed)
    domains_only = make_stage(domains_only=True)
    domains_only.setup()
    domains_s, _, _ = time_stage(domains_only, urls)
    print(f"url_filter, gambling + dating domains only: {len(urls):,} URLs at {len(urls) / domains_s:,.0f} URLs/s")
    stage_s, kept, dropped = time_stage(stage, urls)
    print(f"url_filter, all the lists: {len(urls):,} URLs at {len(urls) / stage_s:,.0f} URLs/s; kept {kept:,}")
    for reason, n in sorted(dropped.items(), key=lambda kv: -kv[1]):
        print(f"    {reason:<36}{n:>8,}")

    naive = NaiveScan()
    sample = urls[: args.naive]
    t0 = time.perf_counter()
    expected = [naive.reason(u) for u in sample]
    naive_s = time.perf_counter() - t0
    got = [stage.filter(Document("d", "", u)) for u in sample]
    mismatches = [(u, e, g) for u, e, g in zip(sample, expected, got) if e != g]
    print(f"naive scan: {len(sample):,} URLs in {naive_s:.2f} s = {len(sample) / naive_s:,.0f} URLs/s")
    print(f"url_filter is {(len(urls) / stage_s) / (len(sample) / naive_s):,.0f}x the naive scan")
    print(f"same decision on {len(sample) - len(mismatches):,} of {len(sample):,} URLs")
    for u, e, g in mismatches[:10]:
        print(f"    MISMATCH {u}: naive {e}, url_filter {g}")

    (OUT / "url_filter.json").write_text(
        json.dumps(
            {
                "load_seconds": load_s,
                "urls": len(urls),
                "urls_per_s": len(urls) / stage_s,
                "domains_only_urls_per_s": len(urls) / domains_s,
                "naive_urls_per_s": len(sample) / naive_s,
                "dropped": dropped,
                "mismatches": len(mismatches),
            },
            indent=2,
        )
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
