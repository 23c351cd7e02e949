"""Word n-grams as GPT-3 defined them for decontamination, and a compact index of them.

Normalization (GPT-3, Brown et al. 2020, appendix C: "a gram as a lowercase, whitespace
delimited word with no punctuation"): Unicode NFKC, case folding, then every punctuation,
symbol and format character is deleted (so "don't" → "dont", "48/2" → "482", a soft
hyphen disappears), and the text is split on whitespace; a token left empty is no word.

An n-gram's 64-bit hash is fmix64(Σ xxh3(w_j) · M^(k-1-j) mod 2^64 ⊕ k) over its k words
(MinHash's shingle hash with xxh3 word hashes): all windows of a document for every length
come from a few numpy operations, and the length is part of the hash (a short test item's
8-gram never equals a 13-gram).

The index (`NgramIndex`) holds every n-gram of the test sets as a sorted uint64 array with
a parallel uint32 array of owning items (an n-gram in several items appears once per item;
its *id* is the position of its first occurrence), the item tables (set, row in the test
file, distinct n-grams), and bitmaps of the hashes' top bits that reject ~96 % of a
document's n-grams before any binary search: one for all hashes (probed with the document's
n-grams), a small one, which stays in cache, for the grams of short test texts (probed with
the document's shorter windows). 12 bytes per n-gram plus the bitmap (2–4 bytes per n-gram):
a 10M n-gram index is ~150 MB, memory-mapped and shared by the workers of one machine.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import xxhash

from corpusforge.io.atomic import load_npy, save_npy, write_json_atomic
from corpusforge.io.paths import AnyPath
from corpusforge.stages.decontamination.testsets import TestSet, read_items
from corpusforge.stages.dedup.minhash import HASH64_MULT, fmix

_MULT = np.uint64(HASH64_MULT)  # the multiplier of corpusforge.stages.dedup.minhash.hash64
_TOKEN = re.compile(r"\S+")
_WORD_CACHE_MAX = 1 << 20
FILES = ("hashes", "owners", "item_set", "item_row", "item_ngrams", "bitmap", "bitmap_short")


@lru_cache(maxsize=1 << 16)
def is_deleted(ch: str) -> bool:
    """Punctuation (P*), symbols (S*), format characters (Cf, e.g. the soft hyphen) and
    control characters that are not whitespace are deleted by normalization."""
    cat = unicodedata.category(ch)
    return cat[0] in "PS" or cat == "Cf" or (cat == "Cc" and not ch.isspace())


_ASCII = bytes(range(128))
_ASCII_DELETED = bytes(c for c in range(128) if is_deleted(chr(c)))
_ASCII_TABLE = dict.fromkeys(_ASCII_DELETED)


def normalize_words(text: str) -> list[str]:
    """The GPT-3 words of a text (see the module docstring).

    Fast on web text: ASCII text goes through str.translate's ASCII fast path; other text
    loses its ASCII punctuation with bytes.translate, and only its few distinct non-ASCII
    characters are looked up.
    """
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    if text.isascii():
        return text.translate(_ASCII_TABLE).split()
    raw = text.encode("utf-8")
    odd = [ch for ch in set(raw.translate(None, _ASCII).decode("utf-8")) if is_deleted(ch)]
    text = raw.translate(None, _ASCII_DELETED).decode("utf-8")
    for ch in odd:
        text = text.replace(ch, "")
    return text.split()


def words_with_spans(text: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The same words as `normalize_words`, each with the [start, end) characters of the
    whitespace-delimited token of `text` it comes from (slower: for matched documents)."""
    found = [(w, m.start(), m.end()) for m in _TOKEN.finditer(text) for w in normalize_words(m.group())]
    starts = np.array([start for _, start, _ in found], dtype=np.int64)
    ends = np.array([end for _, _, end in found], dtype=np.int64)
    return [w for w, _, _ in found], starts, ends


def word_hashes(words: Sequence[str], cache: dict[str, int] | None = None) -> np.ndarray:
    """xxh3-64 of every word (utf-8); `cache` keeps the hashes of words seen before."""
    c: dict[str, int] = {} if cache is None else cache
    if len(c) > _WORD_CACHE_MAX:
        c.clear()
    new = set(words).difference(c)
    if new:
        c.update(zip(new, map(xxhash.xxh3_64_intdigest, map(str.encode, new))))
    return np.fromiter(map(c.__getitem__, words), dtype=np.uint64, count=len(words))


def gram_hashes(wh: np.ndarray, lengths: Iterable[int]) -> list[tuple[int, np.ndarray]]:
    """(k, hashes of the k-word windows at positions 0..L-k) for every k in `lengths`."""
    wanted = sorted(set(lengths))
    if not wanted or len(wh) < wanted[0]:
        return []
    acc = wh
    raw, ks = [], []
    with np.errstate(over="ignore"):
        for k in range(1, min(wanted[-1], len(wh)) + 1):
            if k > 1:
                acc = acc[:-1] * _MULT + wh[k - 1 :]
            if k in wanted:
                raw.append(acc ^ np.uint64(k))
                ks.append(k)
        mixed = fmix(np.concatenate(raw) if len(raw) > 1 else raw[0], 64)  # one pass for all lengths
    bounds = np.cumsum([len(r) for r in raw])[:-1]
    return list(zip(ks, np.split(mixed, bounds)))


def ngram_hash(words: Sequence[str]) -> int:
    """The hash of one n-gram given as its words (see the module docstring)."""
    ((_, h),) = gram_hashes(word_hashes(words), [len(words)])
    return int(h[0])


def text_grams(words: list[str], n: int, min_words: int, cache: dict[str, int] | None = None) -> np.ndarray:
    """A test text's n-gram hashes: every n-gram, or, for a text of min_words..n-1 words,
    its whole text as one gram; nothing for a shorter text."""
    if len(words) < min(n, min_words):
        return np.empty(0, dtype=np.uint64)
    k = min(n, len(words))
    return gram_hashes(word_hashes(words, cache), [k])[0][1]


@dataclass
class NgramIndex:
    hashes: np.ndarray  # uint64, sorted; an n-gram once per owning item
    owners: np.ndarray  # uint32 item of each entry
    item_set: np.ndarray  # uint16 test set of each item (its position in the config)
    item_row: np.ndarray  # uint32 item's record number in its file (from 0)
    item_ngrams: np.ndarray  # uint32 distinct grams of each item (for Jaccard)
    bitmap: np.ndarray  # uint8, bit (h >> (64 - bits)) set for every indexed hash
    bitmap_short: np.ndarray  # the same for the grams of texts shorter than n words (bits_short)
    meta: dict

    @property
    def lengths(self) -> list[int]:
        return self.meta["lengths"]

    @property
    def n(self) -> int:
        return self.meta["ngram"]

    # --- building ---------------------------------------------------------------------

    @classmethod
    def build(cls, test_sets: list[TestSet], n: int, min_words: int, folder: AnyPath) -> NgramIndex:
        """Read every test set, write the index files into `folder` (meta.json last)."""
        cache: dict[str, int] = {}
        parts: list[np.ndarray] = []  # the distinct grams of each indexed item
        item_set: list[int] = []
        item_row: list[int] = []
        lengths: set[int] = set()
        short_grams: list[np.ndarray] = []
        sets_meta = []
        for s, ts in enumerate(test_sets):
            items = texts = short = indexed_items = grams_total = 0
            for row, item_texts in enumerate(read_items(ts)):
                items += 1
                grams = []
                for text in item_texts:
                    words = normalize_words(text)
                    if not words:
                        continue
                    texts += 1
                    if ts.match == "jaccard" and len(words) < n:
                        short += 1  # a document-level set compares n-gram sets only
                        continue
                    g = text_grams(words, n, min_words, cache)
                    if g.size == 0:
                        short += 1
                        continue
                    lengths.add(min(n, len(words)))
                    grams.append(g)
                    if len(words) < n:
                        short_grams.append(g)
                if not grams:
                    continue
                g = np.unique(np.concatenate(grams))
                item_set.append(s)
                item_row.append(row)
                parts.append(g)
                indexed_items += 1
                grams_total += len(g)
            if items == 0:
                raise ValueError(f"test set {ts.name!r} ({ts.path}): the test set is empty (no records)")
            sets_meta.append(
                {
                    "name": ts.name,
                    "path": ts.path,
                    "fields": list(ts.fields),
                    "mode": ts.match,
                    "items": items,
                    "items_indexed": indexed_items,
                    "texts": texts,
                    "texts_too_short": short,
                    "ngrams": grams_total,
                }
            )
        item_ngrams = np.array([len(g) for g in parts], dtype=np.uint32)
        hashes = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
        owners = np.repeat(np.arange(len(parts), dtype=np.uint32), item_ngrams)  # each entry's item
        del parts
        if len(hashes) >= 2**32 - 1:
            raise ValueError(f"the test sets hold {len(hashes):,} n-grams; the index is limited to 2^32")
        order = np.argsort(hashes, kind="stable")  # owners ascend already: (hash, owner) order
        hashes, owners = hashes[order], owners[order]
        del order
        bits, bitmap = make_bitmap(hashes)
        bits_short, bitmap_short = make_bitmap(
            np.unique(np.concatenate(short_grams)) if short_grams else np.empty(0, dtype=np.uint64)
        )
        # distinct n-grams, overall and per set: entries are in (hash, owner) order and items
        # are numbered set by set, so a (hash, set) pair's entries are adjacent
        new_hash = np.ones(len(hashes), dtype=bool)
        np.not_equal(hashes[1:], hashes[:-1], out=new_hash[1:])
        per_set = np.asarray(item_set, dtype=np.uint16)[owners]
        new_pair = new_hash.copy()
        new_pair[1:] |= per_set[1:] != per_set[:-1]
        distinct = int(np.count_nonzero(new_hash))
        per_set_distinct = np.bincount(per_set[new_pair], minlength=len(sets_meta))
        del new_hash, new_pair, per_set
        for s, meta in enumerate(sets_meta):
            meta["ngrams_distinct"] = int(per_set_distinct[s])
        meta = {
            "ngram": n,
            "min_words": min_words,
            "lengths": sorted(lengths),
            "bits": bits,
            "bits_short": bits_short,
            "entries": int(len(hashes)),
            "ngrams_distinct": distinct,
            "items": len(item_set),
            "sets": sets_meta,
        }
        arrays = {
            "hashes": hashes,
            "owners": owners,
            "item_set": np.asarray(item_set, dtype=np.uint16),
            "item_row": np.asarray(item_row, dtype=np.uint32),
            "item_ngrams": item_ngrams,
            "bitmap": bitmap,
            "bitmap_short": bitmap_short,
        }
        for name, arr in arrays.items():
            save_npy(folder / f"{name}.npy", arr)
        write_json_atomic(folder / "meta.json", meta)
        return cls(**arrays, meta=meta)

    @classmethod
    def load(cls, folder: AnyPath) -> NgramIndex:
        meta = json.loads((folder / "meta.json").read_text())
        # memory-mapped (shared by the workers of a machine), as plain ndarrays (cheaper to index)
        arrays = {name: np.asarray(load_npy(folder / f"{name}.npy", mmap=True)) for name in FILES}
        return cls(**arrays, meta=meta)

    # --- lookups ----------------------------------------------------------------------

    def probe(self, grams: list[tuple[int, np.ndarray]] | np.ndarray) -> np.ndarray:
        """Ids (sorted, distinct) of the indexed grams among a document's windows, given as
        `gram_hashes` returns them (or one array of n-gram hashes)."""
        if isinstance(grams, np.ndarray):
            grams = [(self.n, grams)]
        if self.hashes.size == 0:
            return np.empty(0, dtype=np.int64)
        full = [g for k, g in grams if k == self.n]
        short = [g for k, g in grams if k != self.n]
        cand = [
            _passing(np.concatenate(arrays) if len(arrays) > 1 else arrays[0], bitmap, self.meta[bits])
            for arrays, bitmap, bits in ((full, self.bitmap, "bits"), (short, self.bitmap_short, "bits_short"))
            if arrays
        ]
        cand = np.concatenate(cand) if len(cand) > 1 else cand[0] if cand else np.empty(0, dtype=np.uint64)
        if cand.size == 0:
            return np.empty(0, dtype=np.int64)
        pos = np.searchsorted(self.hashes, cand)
        pos[pos == len(self.hashes)] = 0
        return np.unique(pos[self.hashes[pos] == cand])

    def matching_starts(self, grams: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """Start positions of the windows, of any length, whose hash is indexed (windows as
        `gram_hashes` returns them)."""
        found = []
        for k, g in grams if self.hashes.size else []:
            bitmap, bits = (self.bitmap, "bits") if k == self.n else (self.bitmap_short, "bits_short")
            pos = np.flatnonzero(_may_be_indexed(g, bitmap, self.meta[bits]))
            at = np.searchsorted(self.hashes, g[pos])
            at[at == len(self.hashes)] = 0
            found.append(pos[self.hashes[at] == g[pos]])
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

    def owners_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(id, item) for every owner of every id."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return ids, np.empty(0, dtype=np.uint32)
        ends = np.searchsorted(self.hashes, self.hashes[ids], side="right")
        counts = ends - ids
        rep = np.repeat(ids, counts)
        offsets = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
        return rep, np.asarray(self.owners[rep + offsets])


def _may_be_indexed(grams: np.ndarray, bitmap: np.ndarray, bits: int) -> np.ndarray:
    """Which grams have their top bits set in the bitmap (the only ones that may be indexed)."""
    top = grams >> np.uint64(64 - bits)
    return ((bitmap[top >> np.uint64(3)] >> (top & np.uint64(7)).astype(np.uint8)) & np.uint8(1)).astype(bool)


def _passing(grams: np.ndarray, bitmap: np.ndarray, bits: int) -> np.ndarray:
    return grams[_may_be_indexed(grams, bitmap, bits)]


def make_bitmap(sorted_hashes: np.ndarray, chunk: int = 1 << 20) -> tuple[int, np.ndarray]:
    """A bitmap of the top `bits` bits of the hashes, sized for ~16 bits per hash (≤ 4 %
    of random hashes pass); built in chunks so its temporaries stay small."""
    n = max(len(sorted_hashes), 1)
    bits = int(min(30, max(16, np.ceil(np.log2(n * 16)))))
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    for lo in range(0, len(sorted_hashes), chunk):
        top = sorted_hashes[lo : lo + chunk] >> np.uint64(64 - bits)  # sorted, since the hashes are
        byte = (top >> np.uint64(3)).astype(np.int64)
        bit = np.left_shift(np.uint8(1), (top & np.uint64(7)).astype(np.uint8))
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        bitmap[byte[starts]] |= np.bitwise_or.reduceat(bit, starts)
    return bits, bitmap
