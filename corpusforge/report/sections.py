"""One function per report section: read inputs, draw, and return the section's parts (HTML).

A section whose inputs are missing says what is missing and how to get it; it never fails
the report (corpusforge.report catches anything else and shows it in place of the section).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpusforge.engine.rejected import MAX_TEXT_CHARS
from corpusforge.io.paths import AnyPath, output_path
from corpusforge.report import absolute, inputs, plots
from corpusforge.report.html import Html, esc, excerpt, img, note, num, p, pct, slug, table
from corpusforge.stages.dedup.summary import summary_file
from corpusforge.stages.filters.quality_classifier import summary_file as quality_summary_file

TEXT_CHARS = 1200  # characters of a rejected document shown
MATCH_CHARS = 600  # characters of a contamination match shown
FIELD_CHARS = 300  # characters of a URL or metadata value shown


@dataclass
class Run:
    """Everything the sections share, read once."""

    output: AnyPath
    stats: dict | None
    config: dict | None
    rejected: list[inputs.Rejected]
    corpus: inputs.Corpus | None
    tokens: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    per_reason: int = 3

    @classmethod
    def load(cls, output: AnyPath, tokens: list[str], runs: list[str], max_bytes: int, per_reason: int) -> Run:
        stats = inputs.read_json(output / "stats.json")
        return cls(
            output=output,
            stats=stats if isinstance(stats, dict) else None,
            config=inputs.read_yaml(output / "config.yaml"),
            rejected=inputs.read_rejected(output / "rejected"),
            corpus=inputs.read_corpus(output / "data", max_bytes),
            tokens=list(tokens),
            runs=list(runs),
            per_reason=per_reason,
        )

    @property
    def stages(self) -> list[dict]:
        return list((self.stats or {}).get("stages") or [])

    def configured(self, kind: str) -> bool:
        return any(name == kind for name, _ in inputs.stage_names(self.config))

    def dropped(self, reason: str) -> int:
        return sum((s.get("dropped") or {}).get(reason, 0) for s in self.stages)


def _missing(text: str) -> Html:
    return note(text, "missing")


def _kv(pairs: list[tuple[str, Any]]) -> Html:
    return Html('<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs) + "</dl>")


# --- overview ---------------------------------------------------------------------------------


def overview(run: Run) -> list[Html]:
    cfg = run.config if isinstance(run.config, dict) else {}
    st = run.stats or {}
    last = run.stages[-1] if run.stages else {}
    ins = cfg.get("input") if isinstance(cfg.get("input"), list) else []
    pairs = [
        ("output folder", str(run.output)),
        ("config hash", cfg.get("hash") or st.get("config_hash") or "–"),
        (
            "input files",
            f"{len(ins):,}" + (f" ({', '.join(map(str, ins[:3]))}{', …' if len(ins) > 3 else ''})" if ins else ""),
        ),
        ("stages", " → ".join(label for _, label in inputs.stage_names(run.config)) or "–"),
        ("workers", st.get("workers", "–")),
        ("wall time", f"{st['wall_seconds']:,.1f} s" if isinstance(st.get("wall_seconds"), (int, float)) else "–"),
        ("documents in the corpus", num(last.get("out")) if last else "–"),
        ("MB of text in the corpus", num(last.get("bytes_out", 0) / 1e6, 2) if last else "–"),
        ("Parquet shards", num(run.corpus.shards) if run.corpus else "0"),
        ("report written", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    parts = [_kv(pairs)]
    if run.stats is None:
        parts.append(
            _missing(
                "stats.json not found or unreadable: the run has not finished (or this is not a "
                "`corpusforge run` output folder). Sections built from it are empty."
            )
        )
    if run.config is None:
        parts.append(_missing("config.yaml not found or unreadable."))
    else:
        import yaml

        text = yaml.safe_dump(run.config, sort_keys=False, allow_unicode=True)
        parts.append(Html(f"<details><summary>resolved config (config.yaml)</summary>{excerpt(text, 20000)}</details>"))
    return parts


# --- the funnel --------------------------------------------------------------------------------


def funnel(run: Run) -> list[Html]:
    if not run.stages:
        return [_missing("No stage statistics (stats.json is missing or empty).")]
    stages = run.stages
    names = [str(s.get("name")) for s in stages]
    docs = [int(s.get("out", 0)) for s in stages]
    nbytes = [int(s.get("bytes_out", 0)) for s in stages]
    rows = [
        [
            s.get("name"),
            num(s.get("in", 0)),
            num(s.get("out", 0)),
            num(sum((s.get("dropped") or {}).values())),
            pct(s.get("out", 0), s.get("in", 0)),
            pct(s.get("out", 0), docs[0]),
            num(s.get("bytes_in", 0) / 1e6, 2),
            num(s.get("bytes_out", 0) / 1e6, 2),
            num(float(s.get("seconds", 0.0)), 1),
        ]
        for s in stages
    ]
    parts = [
        p(
            "Documents and bytes after each stage (the `out` and `bytes_out` of stats.json). The reader's "
            "input counts WARC records or input rows; before extraction, bytes are HTML."
        ),
        img(plots.funnel(names, docs, nbytes), "documents and bytes after each stage"),
        table(
            [
                "stage",
                "docs in",
                "docs out",
                "dropped",
                "kept",
                f"of {stages[0].get('name')} out",
                "MB in",
                "MB out",
                "seconds",
            ],
            rows,
            numeric=range(1, 9),
        ),
        Html("<h3>Drop reasons</h3>"),
    ]

    reasons = [
        (str(s.get("name")), str(r), int(n))
        for s in stages
        for r, n in sorted((s.get("dropped") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
        if n
    ]
    if not reasons:
        return [*parts, note("No stage dropped a document.")]
    parts.append(img(plots.drop_reasons(reasons), "documents dropped per reason"))
    sampled = {r.reason: len(r.docs) for r in run.rejected}
    by_stage_in = {str(s.get("name")): int(s.get("in", 0)) for s in stages}
    rows = []
    for stage, reason, n in reasons:
        k = sampled.get(reason, 0)
        link = Html(f'<a href="#rej-{slug(reason)}">{k:,}</a>') if k else "–"
        rows.append([stage, reason, num(n), pct(n, by_stage_in.get(stage, 0)), link])
    parts.append(
        table(["stage", "reason", "documents", "of the stage's input", "sampled in rejected/"], rows, numeric=(2, 3, 4))
    )
    return parts


# --- languages ---------------------------------------------------------------------------------


def languages(run: Run) -> list[Html]:
    c = run.corpus
    if c is None:
        return [_missing("No output shards in data/: nothing to count.")]
    if not c.has_language:
        return [_missing("The output shards have no `language` column: add a `language` stage to the pipeline.")]
    kept = c.languages.most_common()
    dropped = sorted(inputs.weighted_languages(run.rejected, run.stats or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    parts = [
        p(
            f"Languages of the {num(c.documents)} documents in the output shards"
            + (
                f" (the first {num(c.documents)} of {num(c.total_documents)}: the report reads at most "
                f"{num(c.text_bytes / 1e6, 0)} MB of text)"
                if c.capped
                else ""
            )
            + ", and of the documents the language filter dropped."
        )
    ]
    lang_drops = sum(n for s in run.stages for r, n in (s.get("dropped") or {}).items() if r.startswith("language"))
    sampled = sum(len(r.docs) for r in run.rejected if r.reason.startswith("language"))
    if lang_drops and sampled:
        parts.append(
            note(
                f"Dropped: {num(lang_drops)} documents; languages read from the {num(sampled)} in "
                "rejected/"
                + (
                    "; every dropped document is in the sample, so the counts are exact."
                    if sampled >= lang_drops
                    else ", each standing for dropped ÷ sampled documents of its reason: an estimate."
                )
            )
        )
    elif lang_drops:
        parts.append(
            _missing(
                f"The language filter dropped {num(lang_drops)} documents, but rejected/ holds no "
                "sample of them (set `rejected: N` in the config) — only kept languages shown."
            )
        )
    parts.append(img(plots.languages(kept, dropped), "documents per language"))
    total = sum(c.languages.values())
    rows = [[lang, num(n), pct(n, total), num(c.language_bytes[lang] / 1e6, 2)] for lang, n in kept[:30]]
    parts += [Html("<h3>Kept</h3>"), table(["language", "documents", "share", "MB"], rows, numeric=(1, 2, 3))]
    if dropped:
        dtotal = sum(v for _, v in dropped)
        parts += [
            Html("<h3>Dropped by the language filter</h3>"),
            table(
                ["language", "documents", "share"],
                [[lang, num(round(v)), pct(v, dtotal)] for lang, v in dropped[:30]],
                numeric=(1, 2),
            ),
        ]
    if c.language_scores:
        scores = np.asarray(c.language_scores)
        parts += [
            Html("<h3>Language score of kept documents</h3>"),
            img(
                plots.histogram(scores, "language_score (fastText probability of the top language)"),
                "language score histogram",
            ),
            p(
                f"min {scores.min():.3f}, median {np.median(scores):.3f}, documents below 0.8: "
                f"{num(int((scores < 0.8).sum()))}"
            ),
        ]
    return parts


# --- document lengths ------------------------------------------------------------------------


def _quantiles(words: np.ndarray, weights: np.ndarray | None, qs=(0.1, 0.5, 0.9)) -> list[float]:
    if not len(words):
        return [float("nan")] * len(qs)
    w = np.ones(len(words)) if weights is None else weights
    order = np.argsort(words, kind="stable")
    cum = np.cumsum(w[order])
    return [float(words[order][min(np.searchsorted(cum, q * cum[-1]), len(words) - 1)]) for q in qs]


def lengths(run: Run) -> list[Html]:
    c = run.corpus
    if c is None:
        return [_missing("No output shards in data/: nothing to measure.")]
    after = c.words
    series, rows = [], []
    parts = [
        p(
            "Words per document (whitespace-separated). After filtering = the output shards"
            + (f" (the first {num(c.documents)} of {num(c.total_documents)} documents)" if c.capped else "")
            + "."
        )
    ]
    before = inputs.before_filtering(run.stats, run.config, run.rejected, after) if run.stats else None
    if before is not None and before.first_stage and (before.exact_reasons or before.weighted_reasons):
        where = f"entering `{before.first_stage}`" + (" (after extraction)" if run.configured("trafilatura") else "")
        text = (
            f"Before filtering = the documents {where}: the kept documents plus every document a later stage "
            "dropped, read from rejected/. "
        )
        if before.exact:
            text += "Every dropped document is in the sample, so this histogram is exact."
        else:
            text += (
                "Reasons with more drops than samples are estimated: each sampled document stands for "
                "dropped ÷ sampled documents of its reason ("
                + ", ".join(f"{r}: {num(n)} dropped, {num(k)} sampled" for r, n, k in before.weighted_reasons)
                + ")."
                if before.weighted_reasons
                else ""
            )
            if before.missing_reasons:
                text += (
                    " Left out, no sample in rejected/: "
                    + ", ".join(f"{r} ({num(n)})" for r, n in before.missing_reasons)
                    + "."
                )
        if before.truncated_docs:
            text += (
                f" {before.truncated_docs:,} sampled documents were cut at {MAX_TEXT_CHARS:,} characters "
                "when sampled; their word counts are lower bounds."
            )
        parts.append(note(text))
        series.append(("before filtering" + ("" if before.exact else " (estimated)"), before.words, before.weights))
        rows.append(
            [
                "before filtering",
                num(round(float(before.weights.sum()))),
                num(float(np.average(before.words, weights=before.weights)) if len(before.words) else None, 0),
                *[num(v, 0) for v in _quantiles(before.words, before.weights)],
            ]
        )
    else:
        parts.append(
            _missing(
                "Before filtering is not shown: rejected/ holds no sample of the dropped documents "
                "(set `rejected: N` in the pipeline config to keep N per reason)."
                if run.stats
                else "Before filtering is not shown: stats.json is missing."
            )
        )
    series.append(("after filtering (output shards)", after, None))
    rows.append(
        [
            "after filtering (output)",
            num(len(after)),
            num(float(after.mean()) if len(after) else None, 0),
            *[num(v, 0) for v in _quantiles(after, None)],
        ]
    )
    parts.append(img(plots.length_histograms(series), "words per document before and after filtering"))
    parts.append(table(["", "documents", "mean words", "10th pct", "median", "90th pct"], rows, numeric=range(1, 6)))

    sampled = [(r, np.array([inputs.word_count(d.get("text")) for d in r.docs])) for r in run.rejected if r.docs]
    reason_rows = [
        [
            r.reason,
            num(run.dropped(r.reason)),
            num(len(r.docs)),
            num(float(np.median(w)), 0),
            num(int(w.min())),
            num(int(w.max())),
        ]
        for r, w in sampled
    ]
    if reason_rows:
        html_reasons = [r.reason for r in run.rejected if r.reason.split(":")[0] in inputs.EXTRACTORS]
        parts += [
            Html("<h3>Length of the dropped documents, per reason (rejected/ sample)</h3>"),
            note(
                f"Documents dropped by the extractor ({', '.join(html_reasons)}) are HTML: their word "
                "counts are of HTML and they are left out of the histogram above."
            )
            if html_reasons
            else "",
            table(["reason", "dropped", "sampled", "median words", "min", "max"], reason_rows, numeric=range(1, 6)),
        ]
    return parts


# --- duplicates ------------------------------------------------------------------------------


def duplicates(run: Run) -> list[Html]:
    if not (run.configured("exact_dedup") or run.configured("minhash_dedup")):
        return [_missing("No exact_dedup or minhash_dedup stage in this pipeline.")]
    found, missing = inputs.read_clusters(run.output, run.config)
    parts = [
        p(
            "A cluster is a set of two or more documents with the same normalized text (exact_dedup) or "
            "linked by MinHash LSH (minhash_dedup); one document per cluster is kept. Read from the summary "
            "each stage writes into the output folder (exact_dedup.json, minhash_dedup.json)."
        )
    ]
    for label in missing:
        parts.append(
            _missing(
                f"{label}: no readable {summary_file(label)} in the output folder (the run has not "
                "finished, or it was made before the stages wrote summaries): run the same command "
                "again to write it."
            )
        )
    if not found:
        return parts
    drops = {str(s.get("name")): sum((s.get("dropped") or {}).values()) for s in run.stages}
    rows = [
        [
            c.stage,
            "exact text" if c.kind == "exact" else "near (MinHash)",
            num(c.documents),
            num(sum(c.sizes.values())),
            num(sum(k * n for k, n in c.sizes.items())),
            num(c.duplicates),
            num(drops.get(c.stage, 0)),
            num(max(c.sizes)) if c.sizes else "–",
        ]
        for c in found
    ]
    return [
        *parts,
        table(
            [
                "stage",
                "kind",
                "documents seen",
                "clusters",
                "documents in clusters",
                "beyond the first of each",
                "dropped (stats)",
                "largest cluster",
            ],
            rows,
            numeric=range(2, 8),
        ),
        img(plots.cluster_sizes([(f"{c.stage} ({c.kind})", c.sizes) for c in found]), "cluster size distribution"),
    ]


# --- quality classifier ------------------------------------------------------------------------


def quality(run: Run) -> list[Html]:
    labels = [label for name, label in inputs.stage_names(run.config) if name == "quality_classifier"]
    if not labels:
        return [_missing("No quality_classifier stage in this pipeline.")]
    parts = [
        p(
            "quality_score is the fastText classifier's probability that a document is reference text "
            "(corpusforge train-classifier). Histograms of every document the stage scored and of those "
            "kept (in annotate mode: would keep), read from the summary the stage (or corpusforge select) "
            "writes into the output folder."
        )
    ]
    for label in labels:
        summary = inputs.read_json(run.output / quality_summary_file(label))
        if not isinstance(summary, dict) or "before" not in summary:
            parts.append(
                _missing(
                    f"{label}: no readable {quality_summary_file(label)} in the output folder "
                    "(the run has not finished): run the same command again to write it."
                )
            )
            continue
        how = {
            "threshold": f"score ≥ {summary.get('value')}",
            "pareto": f"Pareto sampling, alpha {summary.get('value')}",
            "top_fraction": f"the top {summary.get('value')} of all scores",
        }.get(str(summary.get("select")), f"select {summary.get('value')}")
        parts += [
            _kv(
                [
                    ("stage", f"{label} ({summary.get('stage')})"),
                    ("selection", how + (" (annotate: nothing dropped)" if summary.get("mode") == "annotate" else "")),
                    ("documents scored", num(summary.get("documents"))),
                    ("kept", num(summary.get("kept"))),
                    ("kept fraction", pct(summary.get("kept") or 0, summary.get("documents") or 0)),
                ]
            ),
            img(
                plots.score_histograms(summary["bin_edges"], summary["before"], summary["after"], "quality_score"),
                "quality score before and after selection",
            ),
        ]
    return parts


# --- contamination ---------------------------------------------------------------------------


def contamination(run: Run) -> list[Html]:
    report = inputs.read_json(run.output / "contamination.json")
    if not isinstance(report, dict):
        why = (
            "contamination.json not found (the run did not finish?)"
            if run.configured("decontaminate")
            else "No decontaminate stage in this pipeline: nothing was checked against test sets."
        )
        return [_missing(why)]
    parts = [
        _kv(
            [
                ("action", report.get("action")),
                ("n-gram", report.get("ngram")),
                ("documents scanned", num(report.get("documents_scanned"))),
                ("documents affected", num(report.get("documents_affected"))),
                (
                    "dropped / redacted / annotated",
                    " / ".join(
                        num(report.get(k)) for k in ("documents_dropped", "documents_redacted", "documents_annotated")
                    ),
                ),
                ("characters removed", num(report.get("chars_removed"))),
                (
                    "boilerplate n-grams ignored",
                    (
                        f"{num(report.get('boilerplate_ngrams_ignored'))} (in more than "
                        f"{report.get('max_doc_frequency')} documents)"
                    ),
                ),
            ]
        )
    ]
    sets = [s for s in report.get("test_sets") or [] if isinstance(s, dict)]
    rows = [
        [
            s.get("name"),
            s.get("mode"),
            num(s.get("items")),
            f"{num(s.get('items_seen'))} ({100 * float(s.get('items_seen_fraction') or 0):.2f}%)",
            num(s.get("documents_affected")),
            num(s.get("documents_dropped")),
            num(s.get("documents_redacted")),
            num(s.get("documents_annotated")),
            num(s.get("boilerplate_ngrams_ignored")),
        ]
        for s in sets
    ]
    parts.append(
        table(
            [
                "test set",
                "mode",
                "items",
                "items seen in the corpus",
                "documents affected",
                "dropped",
                "redacted",
                "annotated",
                "boilerplate n-grams ignored",
            ],
            rows,
            numeric=range(2, 9),
        )
    )
    for s in sets:
        examples = [e for e in s.get("examples") or [] if isinstance(e, dict)]
        boiler = [b for b in s.get("boilerplate_examples") or [] if isinstance(b, dict)]
        if not examples and not boiler:
            continue
        parts.append(Html(f"<h3>{esc(s.get('name'))}</h3>"))
        if examples:
            erows = [
                [
                    esc(e.get("id"), FIELD_CHARS),
                    esc(e.get("url"), FIELD_CHARS),
                    ", ".join(map(str, e.get("items") or [])) or "–",
                    num(e.get("ngrams")),
                    excerpt(e["matched"], MATCH_CHARS)
                    if e.get("matched")
                    else f"Jaccard {e.get('jaccard')} with item {e.get('jaccard_item')}"
                    if "jaccard" in e
                    else "–",
                ]
                for e in examples
            ]
            parts.append(table(["document", "url", "test items (row)", "n-grams", "matched text"], erows, numeric=(3,)))
        if boiler:
            parts.append(
                table(
                    ["ignored boilerplate n-gram", "documents"],
                    [[esc(b.get("ngram"), FIELD_CHARS), num(b.get("documents"))] for b in boiler],
                    numeric=(1,),
                )
            )
    if not any(s.get("examples") for s in sets):
        parts.append(note("No document matched a test set."))
    return parts


# --- rejected samples ----------------------------------------------------------------------


def _meta(metadata: Any) -> str:
    if not isinstance(metadata, dict):
        return ""
    items = [f"{k}={v}" for k, v in metadata.items() if v is not None and k not in ("warc_record_id",)]
    return " · ".join(str(esc(i, 120)) for i in items[:12])


def rejected(run: Run) -> list[Html]:
    if not run.rejected:
        why = (
            "rejected/ is empty or missing: set `rejected: N` in the pipeline config to keep a sample of N "
            "dropped documents per reason."
            if not (run.config or {}).get("rejected")
            else "rejected/ holds no sample (no document was dropped, or the folder was removed)."
        )
        return [_missing(why)]
    order = {r: i for i, r in enumerate(reason for s in run.stages for reason in (s.get("dropped") or {}))}
    samples = sorted(run.rejected, key=lambda r: (order.get(r.reason, len(order)), r.reason))
    parts = [
        p(
            f"The first {run.per_reason} sampled documents of each reason, from rejected/. Text is shown as "
            f"text (HTML escaped, never rendered), cut at {TEXT_CHARS:,} characters; before extraction, it is "
            "the page's HTML source."
        )
    ]
    for r in samples:
        head = (
            f'<h3 id="rej-{slug(r.reason)}">{esc(r.reason)} <span class="muted">— {num(run.dropped(r.reason))} '
            f"dropped, {num(len(r.docs))} sampled</span></h3>"
        )
        cards = []
        for d in r.docs[: run.per_reason]:
            cut = f" (already cut at {MAX_TEXT_CHARS:,} characters in rejected/)" if d.get("truncated") else ""
            cards.append(
                f'<div class="doccard"><div class="meta"><b>{esc(d.get("id"), FIELD_CHARS)}</b> · '
                f'{esc(d.get("url"), FIELD_CHARS)}{esc(cut)}</div><div class="meta">{_meta(d.get("metadata"))}</div>'
                f"{excerpt(d.get('text'), TEXT_CHARS)}</div>"
            )
        if r.bad_lines:
            cards.append(str(note(f"{r.bad_lines} unreadable line(s) skipped in this file.", "error")))
        parts.append(Html(head + "".join(cards)))
    return parts


# --- token shards --------------------------------------------------------------------------


def tokens(run: Run) -> list[Html]:
    if not run.tokens:
        return [
            _missing(
                "No token shards named: pass `--tokens DIR ...` (folders written by `corpusforge tokenize`) to "
                "compare tokenizers."
            )
        ]
    found, problems = inputs.read_tokens(run.tokens)
    parts = [note(pr, "error") for pr in problems]
    if not found:
        return parts
    rows, bars = [], []
    for t in found:
        s = t.summary
        tr, va = s.get("train") or {}, s.get("val") or {}
        rows.append(
            [
                t.tokenizer,
                esc(str(t.path), FIELD_CHARS),
                num(t.vocab_size),
                s.get("dtype", "–"),
                num(tr.get("documents")),
                num(tr.get("tokens")),
                num((tr.get("text_bytes") or 0) / 1e6, 2),
                num(tr.get("bytes_per_token"), 3) if tr.get("bytes_per_token") else "–",
                num(va.get("bytes_per_token"), 3) if va.get("bytes_per_token") else "–",
            ]
        )
        bpt = tr.get("bytes_per_token") or va.get("bytes_per_token")
        if bpt:
            bars.append((t.tokenizer if t.path.name == t.tokenizer else f"{t.tokenizer} ({t.path.name})", float(bpt)))
    parts = [
        p(
            "Bytes of UTF-8 text per token of each tokenized corpus (EOS tokens not counted), from "
            "summary.json. The same text in fewer tokens means more text per training step."
        ),
        *parts,
        table(
            [
                "tokenizer",
                "folder",
                "vocabulary",
                "dtype",
                "train documents",
                "train tokens",
                "train MB",
                "train bytes/token",
                "val bytes/token",
            ],
            rows,
            numeric=(2, 4, 5, 6, 7, 8),
        ),
    ]
    if bars:
        parts.append(img(plots.bytes_per_token(bars), "bytes per token per tokenizer"))
    return parts


# --- training runs -------------------------------------------------------------------------


def training(run: Run) -> list[Html]:
    if not run.runs:
        return [
            _missing("No training runs named: pass `--runs DIR ...` (run folders with a log.csv) to plot loss curves.")
        ]
    found, problems = inputs.read_runs(run.runs)
    parts = [note(pr, "error") for pr in problems]
    if not found:
        return parts

    def last(a: np.ndarray | None) -> float | None:
        if a is None:
            return None
        ok = a[np.isfinite(a)]
        return float(ok[-1]) if len(ok) else None

    rows, curves = [], []
    for r in found:
        col = r.columns
        val = col.get("val_loss", np.full(r.rows, np.nan))
        best_val = float(np.nanmin(val)) if np.isfinite(val).any() else None
        tps = col.get("tokens_per_s")
        rows.append(
            [
                r.name,
                num(r.rows),
                num(last(col.get("step")), 0),
                num(last(col.get("tokens")), 0),
                num(last(col.get("loss")), 4),
                num(best_val, 4),
                num(float(np.nanmedian(tps)), 0) if tps is not None and np.isfinite(tps).any() else "–",
                num(last(col.get("mfu")), 3),
            ]
        )
        use_tokens = "tokens" in col and np.isfinite(col["tokens"]).any()
        x = col["tokens"] if use_tokens else col.get("step", np.arange(r.rows, dtype=float))
        curves.append((r.name, x, col["loss"], val, "tokens" if use_tokens else "step"))
    parts = [
        p("Training and validation loss from each run's log.csv (step,tokens,loss,val_loss,lr,tokens_per_s,mfu)."),
        *parts,
        table(
            ["run", "log rows", "last step", "tokens", "last loss", "best val_loss", "median tokens/s", "last MFU"],
            rows,
            numeric=range(1, 8),
        ),
    ]
    if any(np.isfinite(c[2]).any() for c in curves):
        parts.append(img(plots.loss_curves(curves), "loss curves"))
    else:
        parts.append(_missing("The logs hold no loss value yet."))
    for r in found:
        if r.mixture:
            parts += _mixture(r)
    return parts


def _mixture(r: inputs.TrainingRun) -> list[Html]:
    """A mixture run's sources: asked, planned and drawn (the last log row's tokens:<source>)."""
    m = r.mixture
    drawn = m["drawn"]
    total = sum(v for v in drawn.values() if np.isfinite(v)) or math.nan
    rows, bars = [], []
    for s in m["sources"]:
        got = drawn.get(s["name"], math.nan)
        epochs = got / s["train_tokens"] if s.get("train_tokens") else math.nan
        asked = f"weight {s['weight']:g}" if s.get("weight") is not None else f"{s.get('epochs'):g} epochs"
        rows.append(
            [
                str(s["name"]),
                asked,
                pct(s["share"], 1),
                num(s.get("planned_tokens")),
                num(s.get("planned_epochs"), 2),
                num(got, 0),
                pct(got, total) if np.isfinite(got) else "–",
                num(epochs, 2),
            ]
        )
        bars.append((str(s["name"]), float(s.get("planned_tokens") or 0), got, epochs))
    parts = [
        p(
            f"Run {r.name} trains on the mixture {m.get('data')}: each source's share of the "
            f"{num(m.get('budget'))} training tokens, what the run plans and what it has drawn so far "
            "(log.csv's tokens:<source> columns); epochs are tokens drawn over the source's tokens."
        ),
        table(
            ["source", "asked", "share", "planned tokens", "planned epochs", "drawn tokens", "drawn share", "epochs"],
            rows,
            numeric=range(2, 8),
        ),
    ]
    return [*parts, img(plots.mixture(bars), f"mixture of {r.name}")]


# --- ablation ----------------------------------------------------------------------------


def ablation(run: Run) -> list[Html]:
    data = inputs.read_json(run.output / "ablation.json")
    if not isinstance(data, dict) or not data.get("variants"):
        return [
            _missing(
                "No ablation for this output: `corpusforge ablate THIS_OUTPUT OTHER_OUTPUT --tokens N --eval HELDOUT` "
                "trains the same small model on each and writes its table here."
            )
        ]
    b = data.get("budget") or {}
    mine = str(run.output)
    best = min(v["heldout_loss"] for v in data["variants"])
    rows = [
        [
            v["variant"]
            + (" (this output)" if v.get("output") and str(absolute(output_path(v["output"]))) == mine else ""),
            num(v["documents"]),
            num(v["corpus_tokens"]),
            num(v["epochs"], 2),
            num(v["train_loss"], 4),
            num(v["heldout_loss"], 4) + (" ★" if v["heldout_loss"] == best else ""),
            num(v["heldout_bits_per_byte"], 4),
        ]
        for v in data["variants"]
    ]
    return [
        p(
            f"One tokenizer trained on the union of the variants; model {b.get('model')}, seed {b.get('seed')}, "
            f"{num(b.get('steps'))} steps of {num((b.get('seq_len') or 0) * (b.get('batch_size') or 0))} tokens "
            f"on each; every model scored on the same {num(data.get('heldout_tokens'))} held-out tokens "
            f"({', '.join(Path(h).name for h in data.get('heldout', []))}). Lower is better; differences of a few "
            "thousandths are within seed noise on a corpus this small."
        ),
        table(
            ["variant", "documents", "tokens", "epochs", "train loss", "held-out loss", "bits/byte"],
            rows,
            numeric=range(1, 7),
        ),
    ]


SECTIONS = [  # (anchor, name in the page's links, the section's title, what builds its parts)
    ("overview", "Overview", "Overview", overview),
    ("funnel", "Funnel", "The funnel", funnel),
    ("languages", "Languages", "Language distribution", languages),
    ("lengths", "Lengths", "Document length", lengths),
    ("quality", "Quality", "Quality classifier: scores and selection", quality),
    ("duplicates", "Duplicates", "Duplicate clusters", duplicates),
    ("contamination", "Contamination", "Test-set contamination", contamination),
    ("rejected", "Rejected", "Rejected documents", rejected),
    ("tokens", "Tokenizers", "Tokenizers: bytes per token", tokens),
    ("training", "Training", "Training runs: loss curves", training),
    ("ablation", "Ablation", "Ablation: held-out loss of the same model trained on each variant", ablation),
]
