"""Test-set decontamination: find benchmark text in the corpus by n-gram overlap, then drop,
redact or annotate the documents that hold it (the rules and modes: README, "Decontamination").

Matching follows GPT-3 (Brown et al. 2020, appendix C), words as in
corpusforge.stages.decontamination.ngram_index. A test text shorter than `ngram` words is one
gram if it has at least `min_words` words (GPT-3 found spurious collisions below 8 words;
`min_words: 1` is the literal rule), matched only as the same whole words: the scan hashes the
document's windows of every length the index holds. An n-gram found in more than
`max_doc_frequency` documents is boilerplate, not a leak (GPT-3: "common cultural phrases,
legal boilerplate"), and is ignored; the report counts those per test set.

`match: jaccard` sets hold documents (MassiveText's rule). Candidates are the test documents
that share an n-gram with the training document (the same index); their Jaccard similarity is
then computed exactly from the two sets of 64-bit n-gram hashes: exact, and cheaper than
MinHash at benchmark scale.

Phases:

1. the index (once per run, by the first task that needs it; the others wait on a lock):
   every test set's n-grams, hashed to 64 bits, in a sorted uint64 array with the owning
   items, under `work/<stage>/index/`;
2. `prepare` (per streaming task): scan each document, write (row, n-gram id) of every
   indexed n-gram it contains, and for Jaccard sets the best (row, item, similarity); the
   documents are probed in batches of ~65k words (the few that may match are then scanned
   alone), so the cost per document is a share of a few numpy calls, not a dozen of its own;
3. step `count` (one task): documents per n-gram over all tasks; the ids found in more
   than `max_doc_frequency` documents are written as boilerplate;
4. `run` (per streaming task): apply `mode` to the documents with a non-boilerplate
   match or a Jaccard similarity >= the threshold, and write the task's part of the report;
5. `finish` (after the last phase): merge the parts into `OUTPUT/contamination.json`.

`redact` widens each cut (a match plus `redact_margin` characters each side) to the next
whitespace, at most 50 characters further, so that no word is cut in two; a Jaccard match is
always dropped.
"""

from __future__ import annotations

import fcntl
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from corpusforge.document import Document
from corpusforge.engine.stage import GlobalStage, GlobalStep, StageContext
from corpusforge.io.atomic import load_npy, save_npy, write_json_atomic
from corpusforge.io.paths import AnyPath, RemotePath
from corpusforge.stages.decontamination.ngram_index import (
    NgramIndex,
    gram_hashes,
    normalize_words,
    word_hashes,
    words_with_spans,
)
from corpusforge.stages.decontamination.testsets import check, parse_test_sets, read_items

_HIT = [("row", "<u4"), ("ngram", "<u4")]
_JACCARD = [("row", "<u4"), ("item", "<u4"), ("jaccard", "<f4")]
_BOILER = [("ngram", "<u4"), ("docs", "<u4")]
_SCAN_WORDS = 1 << 16  # words of documents probed together (a few MB of window hashes)
_SNAP = 50  # widen a cut to whitespace by at most this many characters
_MATCHED_CHARS = 600  # longest matched text quoted in the report
_OUTCOMES = ("documents_affected", "documents_dropped", "documents_redacted", "documents_annotated")  # per test set


class Decontaminator(GlobalStage):
    """Drop, redact or annotate documents that contain benchmark text (see the module docstring)."""

    name = "decontaminate"

    def __init__(
        self,
        test_sets: list[dict[str, Any]],
        ngram: int = 13,
        min_words: int = 8,
        max_doc_frequency: int | None = 10,
        mode: Literal["drop", "redact", "annotate"] = "drop",
        redact_margin: int = 200,
        min_piece_chars: int = 200,
        max_pieces: int = 10,
        jaccard_threshold: float = 0.8,
        examples: int = 5,
    ) -> None:
        if not 1 <= ngram <= 64:
            raise ValueError(f"ngram must be between 1 and 64, got {ngram}")
        if not 1 <= min_words <= ngram:
            raise ValueError(f"min_words must be between 1 and ngram ({ngram}), got {min_words}")
        if max_doc_frequency is not None and max_doc_frequency < 1:
            raise ValueError("max_doc_frequency must be >= 1 (or null: never ignore an n-gram)")
        if redact_margin < 0 or min_piece_chars < 0 or max_pieces < 1 or examples < 0:
            raise ValueError("need redact_margin >= 0, min_piece_chars >= 0, max_pieces >= 1, examples >= 0")
        if not 0 < jaccard_threshold <= 1:
            raise ValueError(f"jaccard_threshold must be in (0, 1], got {jaccard_threshold}")
        self.sets = parse_test_sets(test_sets)
        self.ngram, self.min_words, self.max_doc_frequency = ngram, min_words, max_doc_frequency
        self.mode = mode
        self.redact_margin, self.min_piece_chars, self.max_pieces = redact_margin, min_piece_chars, max_pieces
        self.jaccard_threshold, self.examples = jaccard_threshold, examples
        self.has_jaccard = any(ts.match == "jaccard" for ts in self.sets)
        self._ngram_mode = np.array([ts.match == "ngram" for ts in self.sets], dtype=bool)
        self._indexes: dict[AnyPath, NgramIndex] = {}
        self._words: dict[str, int] = {}

    def check(self) -> None:
        for ts in self.sets:
            check(ts)

    def depends_on(self) -> list[str]:
        return [ts.path for ts in self.sets]

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_indexes": {}, "_words": {}}

    def columns(self) -> dict[str, pa.DataType]:
        if self.mode != "annotate":
            return {}
        cols = {f"{self.name}_sets": pa.string(), f"{self.name}_ngrams": pa.int64()}
        if self.has_jaccard:
            cols[f"{self.name}_jaccard"] = pa.float64()
        return cols

    # --- the index ----------------------------------------------------------------------

    def index(self, work_dir: AnyPath) -> NgramIndex:
        """The test-set index of this run: loaded from the work folder, or built there once
        (one process builds, the others wait on the lock and then load it; on object storage,
        without a lock)."""
        if work_dir in self._indexes:
            return self._indexes[work_dir]
        folder = work_dir / "index"
        if not (folder / "meta.json").is_file():
            if isinstance(work_dir, RemotePath):
                # no locks on object storage: the first tasks may each build it, to the same
                # bytes, and meta.json is uploaded last, so a reader always finds it whole
                NgramIndex.build(self.sets, self.ngram, self.min_words, folder)
            else:
                work_dir.mkdir(parents=True, exist_ok=True)
                with open(work_dir / "index.lock", "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    if not (folder / "meta.json").exists():
                        NgramIndex.build(self.sets, self.ngram, self.min_words, folder)
        idx = self._indexes[work_dir] = NgramIndex.load(folder)
        return idx

    # --- phase 2: scan -------------------------------------------------------------------

    def prepare(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        idx = self.index(ctx.work_dir)
        hits: list[tuple[int, int]] = []
        jaccard: list[tuple[int, int, float]] = []
        batch: list[Document] = []
        words: list[list[str]] = []
        row = size = 0
        for doc in docs:
            batch.append(doc)
            words.append(normalize_words(doc.text) if idx.lengths else [])
            size += len(words[-1])
            if size >= _SCAN_WORDS:
                self._scan(idx, words, row, hits, jaccard)
                row += len(batch)
                yield from batch
                batch, words, size = [], [], 0
        self._scan(idx, words, row, hits, jaccard)
        yield from batch
        save_npy(ctx.work_dir / "hits" / f"task-{ctx.task:05d}.npy", np.array(hits, dtype=_HIT))
        save_npy(ctx.work_dir / "jaccard" / f"task-{ctx.task:05d}.npy", np.array(jaccard, dtype=_JACCARD))

    def _scan(self, idx: NgramIndex, words: list[list[str]], first_row: int, hits: list, jaccard: list) -> None:
        """Record the matches of a batch of documents, given their words. The windows of the
        batch's words laid end to end are probed at once (a document's own windows are among
        them, with the same hashes), which finds the few documents that may match: a window
        across two documents can only add one; each of those is then scanned alone."""
        flat = list(chain.from_iterable(words))
        if not idx.lengths or len(flat) < min(idx.lengths):
            return
        starts = idx.matching_starts(gram_hashes(word_hashes(flat, self._words), idx.lengths))
        ends = np.cumsum([len(w) for w in words])
        for r in np.unique(np.searchsorted(ends, starts, side="right")).tolist():
            self._scan_one(idx, words[r], first_row + r, hits, jaccard)

    def _scan_one(self, idx: NgramIndex, words: list[str], row: int, hits: list, jaccard: list) -> None:
        if len(words) < min(idx.lengths):
            return
        grams = gram_hashes(word_hashes(words, self._words), idx.lengths)
        ids = idx.probe(grams)
        if ids.size:
            rep, items = idx.owners_of(ids)
            is_jac = ~self._ngram_mode[idx.item_set[items]]
            hits += [(row, int(i)) for i in np.unique(rep[~is_jac])]
            if is_jac.any():
                best = self._best_jaccard(idx, items[is_jac], grams)
                if best is not None:
                    jaccard.append((row, *best))

    @staticmethod
    def _best_jaccard(
        idx: NgramIndex, items: np.ndarray, grams: list[tuple[int, np.ndarray]]
    ) -> tuple[int, float] | None:
        """The test document most similar to this one: (item, exact n-gram Jaccard)."""
        doc_grams = next((g for k, g in grams if k == idx.n), None)
        if doc_grams is None:
            return None
        a = len(np.unique(doc_grams))
        cand, shared = np.unique(items, return_counts=True)  # an item owns each id once
        b = idx.item_ngrams[cand].astype(np.int64)
        sim = shared / (a + b - shared)
        best = int(np.argmax(sim))  # ties: the lowest item
        return int(cand[best]), float(sim[best])

    # --- phase 3: count -------------------------------------------------------------------

    def steps(self) -> list[GlobalStep]:
        return [GlobalStep("count", n_tasks=lambda n_stream_tasks: 1, run=self._count)]

    def _count(self, _task: int, work_dir: AnyPath, n_stream_tasks: int) -> None:
        ids = [load_npy(work_dir / "hits" / f"task-{t:05d}.npy")["ngram"] for t in range(n_stream_tasks)]
        found = np.concatenate(ids) if ids else np.empty(0, dtype=np.uint32)
        ngram, docs = np.unique(found, return_counts=True)  # each (task, row, ngram) is written once
        limit = self.max_doc_frequency
        common = docs > limit if limit is not None else np.zeros(len(docs), dtype=bool)
        out = np.empty(int(common.sum()), dtype=_BOILER)
        out["ngram"], out["docs"] = ngram[common], docs[common]
        save_npy(work_dir / "boilerplate.npy", out)

    # --- phase 4: apply --------------------------------------------------------------------

    def run(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        idx = self.index(ctx.work_dir)
        boiler = load_npy(ctx.work_dir / "boilerplate.npy")["ngram"]
        hits = load_npy(ctx.work_dir / "hits" / f"task-{ctx.task:05d}.npy")
        hits = hits[~np.isin(hits["ngram"], boiler)]
        by_row: dict[int, list[int]] = defaultdict(list)
        for row, ngram in zip(hits["row"].tolist(), hits["ngram"].tolist()):
            by_row[row].append(ngram)
        jac = {
            int(r["row"]): (int(r["item"]), float(r["jaccard"]))
            for r in load_npy(ctx.work_dir / "jaccard" / f"task-{ctx.task:05d}.npy")
        }
        report = _TaskReport(len(self.sets))
        annotate = self.mode == "annotate"
        for row, doc in enumerate(docs):
            report.documents += 1
            ids = by_row.get(row)
            near = jac.get(row)
            if annotate and near is not None:
                doc.metadata[f"{self.name}_jaccard"] = round(near[1], 4)
            if near is not None and near[1] < self.jaccard_threshold:
                near = None
            if ids is None and near is None:
                if annotate:
                    doc.metadata[f"{self.name}_sets"] = None
                    doc.metadata[f"{self.name}_ngrams"] = 0
                yield doc
                continue
            out = self._apply(doc, idx, np.array(ids or [], dtype=np.int64), near, report, ctx)
            if out is not None:
                yield out
        write_json_atomic(ctx.work_dir / "report" / f"task-{ctx.task:05d}.json", report.to_json(self.examples))

    def _apply(
        self,
        doc: Document,
        idx: NgramIndex,
        ids: np.ndarray,
        near: tuple[int, float] | None,
        report: _TaskReport,
        ctx: StageContext,
    ) -> Document | None:
        """Act on one contaminated document; record it in the task's report."""
        rep, items = idx.owners_of(ids)
        item_sets = idx.item_set[items].astype(np.int64)
        keep = self._ngram_mode[item_sets]  # an id may also belong to a Jaccard set's document
        rep, items, item_sets = rep[keep], items[keep], item_sets[keep]
        sets = set(item_sets.tolist())
        near_set = int(idx.item_set[near[0]]) if near is not None else None
        if near_set is not None:
            sets.add(near_set)
        order = sorted(sets)
        names = [self.sets[s].name for s in order]
        need_spans = self.mode == "redact" or any(len(report.sets[s]["examples"]) < self.examples for s in order)
        spans = self._spans(doc.text, idx, rep, items, item_sets) if need_spans and ids.size else []
        report.affected += 1

        outcome, dropped_for, new_text = "annotated", None, None
        if self.mode == "drop":
            dropped_for = names[0]
        elif self.mode == "redact":
            if near_set is not None:
                dropped_for = self.sets[near_set].name
            elif not spans:  # a match the span search cannot place: be safe
                dropped_for = names[0]
            else:
                pieces, n_pieces = redact(
                    doc.text, [(s, e) for s, e, _ in spans], self.redact_margin, self.min_piece_chars
                )
                if n_pieces > self.max_pieces:
                    dropped_for = "too_many_pieces"
                elif not pieces:
                    dropped_for = "nothing_left"
                else:
                    outcome = "redacted"
                    new_text = "\n\n".join(pieces)
                    report.chars_removed += len(doc.text) - len(new_text)
        else:
            doc.metadata[f"{self.name}_sets"] = ",".join(names)
            doc.metadata[f"{self.name}_ngrams"] = int(len(np.unique(rep)))
        if dropped_for is not None:
            outcome = "dropped"
            ctx.drop(f"{self.name}:{dropped_for}", doc)
        report.outcomes[outcome] += 1

        for s in order:
            per = report.sets[s]
            per["documents_affected"] += 1
            per[f"documents_{outcome}"] += 1
            mine = item_sets == s
            per["items"].update(idx.item_row[items[mine]].tolist())
            if near_set == s:
                per["items"].add(int(idx.item_row[near[0]]))
            if len(per["examples"]) < self.examples:
                example: dict[str, Any] = {"id": doc.id, "url": doc.url}
                if mine.any():
                    example["items"] = sorted(set(idx.item_row[items[mine]].tolist()))[:10]
                    example["ngrams"] = int(len(np.unique(rep[mine])))
                    example["matched"] = matched_text(doc.text, [(a, b) for a, b, ss in spans if s in ss])
                if near_set == s:
                    example["jaccard_item"] = int(idx.item_row[near[0]])
                    example["jaccard"] = round(near[1], 4)
                per["examples"].append(example)
        if new_text is not None:
            doc.text = new_text
        return None if outcome == "dropped" else doc

    def _spans(
        self, text: str, idx: NgramIndex, rep: np.ndarray, items: np.ndarray, item_sets: np.ndarray
    ) -> list[tuple[int, int, set[int]]]:
        """(start, end, sets) in characters of every occurrence of the matching n-grams."""
        sets_of: dict[int, set[int]] = defaultdict(set)
        for i, s in zip(rep.tolist(), item_sets.tolist()):
            sets_of[int(idx.hashes[i])].add(s)
        wanted = np.fromiter(sets_of, dtype=np.uint64, count=len(sets_of))
        words, starts, ends = words_with_spans(text)
        spans = [
            (int(starts[i]), int(ends[i + k - 1]), sets_of[int(g[i])])
            for k, g in gram_hashes(word_hashes(words, self._words), idx.lengths)
            for i in np.flatnonzero(np.isin(g, wanted)).tolist()
        ]
        return sorted(spans, key=lambda s: (s[0], s[1]))

    # --- phase 5: the report ----------------------------------------------------------------

    def finish(self, work_dir: AnyPath, output_dir: AnyPath, n_stream_tasks: int, label: str) -> None:
        if not (work_dir / "index" / "meta.json").is_file():
            return
        idx = self.index(work_dir)
        parts = [json.loads((work_dir / "report" / f"task-{t:05d}.json").read_text()) for t in range(n_stream_tasks)]
        boiler = load_npy(work_dir / "boilerplate.npy")
        b_rep, b_items = idx.owners_of(boiler["ngram"].astype(np.int64))
        b_docs = dict(zip(boiler["ngram"].tolist(), boiler["docs"].tolist()))
        totals = {key: sum(p[key] for p in parts) for key in ("documents_scanned", *_OUTCOMES, "chars_removed")}
        sets = []
        for s, ts in enumerate(self.sets):
            meta = idx.meta["sets"][s]
            items: set[int] = set()
            counts = defaultdict(int)
            examples: list[dict] = []
            for p in parts:
                per = p["sets"][s]
                items.update(per["items"])
                for key in _OUTCOMES:
                    counts[key] += per[key]
                examples += per["examples"]
            mine = idx.item_set[b_items] == s  # boilerplate concerns n-gram sets, not Jaccard ones
            common = sorted(set(b_rep[mine].tolist()), key=lambda i: (-b_docs[i], i)) if ts.match == "ngram" else []
            entry = {
                "name": ts.name,
                "mode": ts.match,
                "path": ts.path,
                "fields": list(ts.fields),
                "items": meta["items"],
                "items_indexed": meta["items_indexed"],
                "texts_too_short": meta["texts_too_short"],
                "ngrams_indexed": meta["ngrams_distinct"],
                "items_seen": len(items),
                "items_seen_fraction": round(len(items) / max(meta["items"], 1), 6),
                **counts,
                "boilerplate_ngrams_ignored": len(common),
                "boilerplate_examples": self._boilerplate_examples(idx, s, common[: self.examples], b_docs),
                "items_seen_rows": sorted(items),
                "examples": examples[: self.examples],
            }
            sets.append(entry)
        # the file's field names predate the keys' names (action = mode, a set's mode = match); the report reads them
        report = {
            "stage": self.name,
            "action": self.mode,
            "ngram": self.ngram,
            "min_words": self.min_words,
            "max_doc_frequency": self.max_doc_frequency,
            "jaccard_threshold": self.jaccard_threshold,
            **totals,
            "boilerplate_ngrams_ignored": int(len(boiler)),
            "test_sets": sets,
        }
        write_json_atomic(output_dir / "contamination.json", report)

    def _boilerplate_examples(self, idx: NgramIndex, s: int, ids: list[int], docs: dict[int, int]) -> list[dict]:
        """The words of the most common ignored n-grams of one set, found again in its items."""
        if not ids:
            return []
        want = {int(idx.hashes[i]): i for i in ids}
        found: dict[int, str] = {}
        for item_texts in read_items(self.sets[s]):
            for text in item_texts:
                words = normalize_words(text)
                for k, g in gram_hashes(word_hashes(words), [min(self.ngram, len(words))] if words else []):
                    for j in np.flatnonzero(np.isin(g, list(want))).tolist():
                        found.setdefault(want[int(g[j])], " ".join(words[j : j + k]))
            if len(found) == len(want):
                break
        return [{"ngram": found.get(i, ""), "documents": docs[i]} for i in ids]


class _TaskReport:
    """What one `run` task saw, merged by `finish`."""

    def __init__(self, n_sets: int) -> None:
        self.documents = self.affected = self.chars_removed = 0
        self.outcomes: dict[str, int] = defaultdict(int)
        self.sets: list[dict[str, Any]] = [
            dict.fromkeys(_OUTCOMES, 0) | {"items": set(), "examples": []} for _ in range(n_sets)
        ]

    def to_json(self, limit: int) -> dict[str, Any]:
        return {
            "documents_scanned": self.documents,
            "documents_affected": self.affected,
            "documents_dropped": self.outcomes["dropped"],
            "documents_redacted": self.outcomes["redacted"],
            "documents_annotated": self.outcomes["annotated"],
            "chars_removed": self.chars_removed,
            "sets": [per | {"items": sorted(per["items"]), "examples": per["examples"][:limit]} for per in self.sets],
        }


def redact(text: str, spans: list[tuple[int, int]], margin: int, min_piece: int) -> tuple[list[str], int]:
    """GPT-3's redaction: cut every span plus `margin` characters on both sides (widened to
    whitespace), and return (the pieces of at least `min_piece` characters, the number of
    pieces the cuts split the text into)."""
    size = len(text)
    cuts: list[list[int]] = []
    for s, e in sorted(spans):
        a, b = max(0, s - margin), min(size, e + margin)
        stop = max(0, a - _SNAP)
        while a > stop and not text[a - 1].isspace():
            a -= 1
        stop = min(size, b + _SNAP)
        while b < stop and not text[b].isspace():
            b += 1
        if cuts and a <= cuts[-1][1]:
            cuts[-1][1] = max(cuts[-1][1], b)
        else:
            cuts.append([a, b])
    pieces, start = [], 0
    for a, b in cuts:
        pieces.append(text[start:a].strip())
        start = b
    pieces.append(text[start:].strip())
    pieces = [p for p in pieces if p]
    return [p for p in pieces if len(p) >= min_piece], len(pieces)


def matched_text(text: str, spans: list[tuple[int, int]]) -> str:
    """The first run of overlapping matched spans, as it stands in the document."""
    if not spans:
        return ""
    a, b = spans[0]
    for s, e in spans[1:]:
        if s > b:
            break
        b = max(b, e)
    quote = text[a:b]
    return quote if len(quote) <= _MATCHED_CHARS else quote[:_MATCHED_CHARS] + "…"
