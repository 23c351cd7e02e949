"""pipelines/massivetext.yaml on the real sample: every stage's counts are sane."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from conftest import ROOT, sample_warcs

from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline


def test_massivetext_on_the_real_crawls(warc_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the config's test-set paths are relative to the repo root
    out = tmp_path / "out"
    config = load_config(
        ROOT / "pipelines" / "massivetext.yaml", inputs=[str(p) for p in sample_warcs()], output=str(out), workers=2
    )
    stats = {s.name: s for s in run_pipeline(config, quiet=True)}
    assert list(stats) == [
        "warc_reader",
        "url_filter",
        "html_language",
        "trafilatura",
        "language",
        "gopher_quality",
        "gopher_repetition",
        "exact_dedup",
        "minhash_dedup",
        "decontaminate",
        "parquet_writer",
    ]
    for s in stats.values():
        assert s.docs_in == s.docs_out + sum(s.dropped.values()), s.name

    # the two Dolma crawls are multilingual; the 181 articles are English news and blogs: the
    # prefilter skips some foreign pages before extraction, the language stage the rest
    assert set(stats["language"].dropped) <= {"language:wrong_language"}
    skipped = stats["html_language"].dropped["html_language:not_wanted_language"]
    foreign = skipped + stats["language"].dropped.get("language:wrong_language", 0)
    assert skipped >= 1 and 5 <= foreign <= 60
    assert stats["gopher_quality"].docs_out >= 0.9 * stats["gopher_quality"].docs_in
    assert stats["gopher_repetition"].docs_out >= 0.85 * stats["gopher_repetition"].docs_in

    table = pq.read_table(out / "data")
    assert table.num_rows == stats["parquet_writer"].docs_out
    assert set(table["language"].to_pylist()) == {"en"}
    assert min(table["language_score"].to_pylist()) >= 0.65
    texts = table["text"].to_pylist()
    assert len(texts) == len(set(texts))

    articles = {p["url"] for p in json.loads((warc_dir / "articles-181.ground-truth.json").read_text()).values()}
    kept_articles = articles & set(table["url"].to_pylist())
    english = len(articles) - foreign  # a lower bound
    assert len(kept_articles) >= 0.9 * english, "English article pages are overwhelmingly kept"

    # no benchmark text in the sample crawls; the report names both test sets
    assert not stats["decontaminate"].dropped
    report = json.loads((out / "contamination.json").read_text())
    assert [s["name"] for s in report["test_sets"]] == ["gsm8k", "humaneval"]
    assert report["documents_scanned"] == stats["minhash_dedup"].docs_out and report["documents_affected"] == 0

    rejected = {p.stem for p in (out / "rejected").glob("*.jsonl")}
    assert "html_language-not_wanted_language" in rejected
    path = out / "rejected" / "html_language-not_wanted_language.jsonl"
    sample = [json.loads(line) for line in path.read_text().splitlines()]
    assert 1 <= len(sample) <= 20 and all(d["text"].lstrip().startswith("<") for d in sample)  # raw HTML
