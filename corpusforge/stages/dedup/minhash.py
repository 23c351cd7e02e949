"""MinHash signatures, LSH bands and connected components, vectorized with numpy.

A batch of documents is normalized as one array of code points (a table lookup for every
code point whose normalization needs no context), every word is hashed at once from a
running polynomial sum over the batch, and the shingle hashes are folded from the word
hashes with numpy. The permutations then act on those shingle hashes, by one of the schemes:

- `rminhash` (default): R-MinHash computed by rensa (Rust) from the flat array of shingle
  hashes, ~3x faster than the numpy permutations below. Its slots estimate the Jaccard
  like MinHash permutations (bench/dedup_quality.py compares the LSH candidates with the
  S-curve), but they are not datasketch's values, and they are tied to rensa's algorithm
  version (pinned in pyproject.toml).
- the datasketch 2.x schemes, in numpy, equal to datasketch's value for value (a test
  proves it): for the same `scheme`, `seed`, `num_perm` and shingles, `MinHasher.signatures()`
  returns what `datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash_fn(scheme),
  scheme=scheme)` holds after `update_batch(shingles)`: `affine32` (the shingle hash
  pre-mixed with the MurmurHash3 finalizer, then a·h + b in wrapping uint32), `affine64`
  (the same in uint64), `legacy` ((a·h + b) mod 2^61−1, low 32 bits kept: inflates
  similarity on large sets, datasketch issue 212).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
import rensa

Scheme = Literal["rminhash", "affine32", "affine64", "legacy"]
HASH64_MULT = 0x9E3779B97F4A7C15  # odd: multiplying by it is a bijection on uint64
_MASK64 = (1 << 64) - 1
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
_SPACE = np.uint32(32)
_SLOW = np.uint32(0xFFFFFFFF)  # in `_fast_table`: this code point needs the per-text path
_FMIX = {
    32: (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16)),
    64: (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(33), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33)),
}

# Compatibility characters common on the web, with their NFKD. Replacing a character by its
# full compatibility decomposition never changes the NFKC of a text, and it spares the full
# NFKC pass (~40 µs per kB) for most non-normalized texts, which have only these.
_COMPAT = [(ch, unicodedata.normalize("NFKD", ch)) for ch in "\u2026\u00a0\u00bd\u00bc\u00be\u00b2\u00b3\u00b9\u2122"]
# str.lower() of these is not one code point per code point (U+0130 → "i̇") or depends on
# context (a final capital sigma → "ς"): texts with them are lowercased by str.lower() first
_CONTEXT_LOWER = ("\u0130", "\u03a3")


@lru_cache(maxsize=1)
def _bmp_table() -> np.ndarray:
    """Code point → its lowercase if that is a word character (str.isalnum()), else a space."""
    return np.array([_fold_char(cp) for cp in range(0x10000)], dtype=np.uint32)


def _fold_char(cp: int) -> int:
    low = chr(cp).lower()
    return ord(low) if len(low) == 1 and low.isalnum() else 32


def _composition_seconds() -> set[str]:
    """Characters that canonical composition can merge into a BMP character before them (an
    astral one sends its text to the per-text path anyway)."""
    seconds = {chr(cp) for cp in [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]}  # Hangul: algorithmic
    for cp in range(0x10000):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<") and len(parts := d.split()) == 2:
            seconds.add(chr(int(parts[1], 16)))
    return seconds


@lru_cache(maxsize=1)
def _fast_table() -> np.ndarray:
    """BMP code point → its character of the normalized text (`_fold_char` of its NFKC), for
    the code points whose normalization does not depend on their neighbours; _SLOW for the
    others, and at index 0x10000 for every astral code point.

    A text made only of such code points normalizes one code point at a time: NFKC of each
    is one character with combining class 0 that nothing before it composes with, and its
    decomposition starts with such a character, so neither reordering nor composition reaches
    across code points. Combining marks, Hangul jamo, surrogates, and the characters whose
    lowercase is not one code point or depends on context (İ, Σ and what normalizes to them)
    are left to the per-text path (`_nfkc`, str.lower()).
    """
    seconds = _composition_seconds()
    table = np.full(0x10001, _SLOW, dtype=np.uint32)
    for cp in range(0x10000):
        ch = chr(cp)
        if 0xD800 <= cp < 0xE000:
            continue
        n, d = unicodedata.normalize("NFKC", ch), unicodedata.normalize("NFKD", ch)
        if (
            len(n) == 1
            and d
            and not unicodedata.combining(n)
            and not unicodedata.combining(d[0])
            and n not in seconds
            and d[0] not in seconds
            and n not in _CONTEXT_LOWER
            and len(n.lower()) == 1
        ):
            table[cp] = _fold_char(ord(n))
    return table


def _fold_code_points(cps: np.ndarray) -> np.ndarray:
    table = _bmp_table()
    if not len(cps) or cps.max() <= 0xFFFF:
        return table[cps]
    out = table[np.minimum(cps, 0xFFFF)]
    astral = np.flatnonzero(cps > 0xFFFF)  # emoji, historic scripts, math letters: rare, looked up one by one
    distinct, inverse = np.unique(cps[astral], return_inverse=True)
    out[astral] = np.array([_fold_char(cp) for cp in distinct.tolist()], dtype=np.uint32)[inverse]
    return out


def _nfkc(text: str) -> str:
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    for ch, decomposed in _COMPAT:
        if ch in text:
            text = text.replace(ch, decomposed)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def _slow_fold(text: str) -> np.ndarray:
    """One text's normalized code points the general way: NFKC, str.lower() where context
    matters, then the per-code-point table."""
    text = _nfkc(text)
    if not text.isascii() and any(c in text for c in _CONTEXT_LOWER):
        text = text.lower()
    return _fold_code_points(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32))


def _normalized(texts: Sequence[str]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The texts normalized and joined by spaces, as code points, with the start and end of
    every word in it, and the word count per text.

    Normalization: Unicode NFKC, lowercase, every non-word character (not str.isalnum(),
    so also "_") to a space. The texts are joined as one UTF-32 array and one table lookup
    (`_fast_table`) normalizes every code point whose normalization needs no context: on
    web text, in any script with precomposed letters, that is nearly every text. The few
    texts with other code points (combining marks, astral characters, İ, Σ) are redone one
    by one (`_slow_fold`) and spliced in.
    """
    joined = " ".join(texts)  # the space keeps the last word of a text apart from the next one's first
    raw = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = _fast_table()
    cps = table[raw] if not len(raw) or raw.max() <= 0xFFFF else table[np.minimum(raw, 0x10000)]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    text_starts = np.cumsum(lengths + 1) - lengths - 1
    slow = np.flatnonzero(cps == _SLOW)
    if len(slow):
        redo = np.unique(np.searchsorted(text_starts, slow, side="right") - 1)
        pieces, at = [], 0
        for t in redo.tolist():
            pieces += [cps[at : text_starts[t]], _slow_fold(texts[t])]
            at = text_starts[t] + lengths[t]
        pieces.append(cps[at:])
        cps = np.concatenate(pieces)
        lengths[redo] = [len(p) for p in pieces[1::2]]
        text_starts = np.cumsum(lengths + 1) - lengths - 1
    edges = np.diff((cps != _SPACE).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    counts = np.diff(np.searchsorted(starts, text_starts), append=len(starts)) if len(texts) else []
    return cps, (starts, ends), np.asarray(counts, dtype=np.int64)


def batch_words(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The normalized words of many texts: (all words in order, number of words per text)."""
    cps, _, counts = _normalized(texts)
    return cps.tobytes().decode("utf-32-le", "surrogatepass").split(), counts


_PIECE = 1 << 17  # code points normalized and hashed at a time
_POWERS_CACHED = (
    1 << 19
)  # code points (8 MB of powers kept per process); a longer piece (one long text) computes its own


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(M^k, M^-k mod 2^64) for k < n (M odd, so invertible)."""
    inv = pow(HASH64_MULT, -1, 1 << 64)
    up, down = np.full(n, HASH64_MULT, dtype=np.uint64), np.full(n, inv, dtype=np.uint64)
    up[0] = down[0] = 1
    return np.cumprod(up, dtype=np.uint64), np.cumprod(down, dtype=np.uint64)


_cached_powers = lru_cache(maxsize=1)(lambda: _powers(_POWERS_CACHED))


def batch_word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The 64-bit hash (`word_hash`) of every normalized word of many texts, in order, and
    the number of words per text.

    A word's hash is a polynomial in its code points, so it is computed for all words of a
    batch at once from one running sum over the batch's code points: no str per word, no
    hashing call per word. The batch goes in pieces of about `_PIECE` code points, whose
    arrays stay in the CPU cache (pieces of 1M ran about half as fast).
    """
    hashes, counts, lo, size = [], [], 0, 0
    for hi, text in enumerate(texts, start=1):
        size += len(text)
        if size >= _PIECE or hi == len(texts):
            h, c = _piece_word_hashes(texts[lo:hi])
            hashes.append(h)
            counts.append(c)
            lo, size = hi, 0
    if not hashes:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    return np.concatenate(hashes), np.concatenate(counts)


def _piece_word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    cps, (starts, ends), counts = _normalized(texts)
    if not len(starts):
        return np.empty(0, dtype=np.uint64), counts
    n = len(cps) + 1
    up, down = _cached_powers() if n <= _POWERS_CACHED else _powers(n)
    running = np.empty(n, dtype=np.uint64)
    running[0] = 0
    np.cumsum(np.multiply(cps, up[: n - 1], dtype=np.uint64), out=running[1:])
    return fmix((running[ends] - running[starts]) * down[starts], 64), counts


def normalize(text: str) -> str:
    """Unicode NFKC, lowercase, punctuation (every non-word character) to spaces, collapsed."""
    return " ".join(batch_words([text])[0])


def shingles(text: str, ngram: int) -> list[str]:
    """Word n-grams of the normalized text; a text shorter than `ngram` words is one shingle."""
    words = batch_words([text])[0]
    if not words:
        return []
    if len(words) <= ngram:
        return [" ".join(words)]
    return [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]


def fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def word_hash(word: str) -> int:
    """The 64-bit hash of one normalized word: fmix64(Σ c_j · M^j mod 2^64) over its code
    points c_j (what `batch_word_hashes` computes for all words of a batch at once)."""
    acc, power = 0, 1
    for ch in word:
        acc = (acc + ord(ch) * power) & _MASK64
        power = (power * HASH64_MULT) & _MASK64
    return fmix64_int(acc)


def hash64(shingle: str) -> int:
    """The 64-bit hash of one shingle (words joined by single spaces).

    The shingle's word hashes (`word_hash`) are combined as fmix64(Σ h_j · M^(k-1-j) mod
    2^64 ⊕ k): a function of the shingle's text alone, so datasketch can be given it as
    `hashfunc`, while `text_shingle_hashes` computes the same values for all shingles of a
    batch with a few numpy operations.
    """
    words = shingle.split(" ")
    acc = 0
    for w in words:
        acc = (acc * HASH64_MULT + word_hash(w)) & _MASK64
    return fmix64_int(acc ^ len(words))


def batch_shingle_hashes(word_hashes: np.ndarray, counts: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """`hash64` of every shingle of many documents, from their words' hashes
    (`batch_word_hashes`) and their word counts.

    Returns (the shingle hashes of all documents in order, shingles per document): a
    document of n >= `ngram` words has n − ngram + 1, a shorter non-empty one a single
    shingle of all its words (its hash folds that many words), an empty one none.
    """
    wh = np.asarray(word_hashes, dtype=np.uint64)
    counts = np.asarray(counts, dtype=np.int64)
    full = counts >= ngram
    per_doc = np.where(full, counts - ngram + 1, np.minimum(counts, 1))
    out = np.empty(int(per_doc.sum()), dtype=np.uint64)
    lengths = np.full(len(out), ngram, dtype=np.uint64)  # words per shingle, mixed into its hash
    word_start = np.cumsum(counts) - counts
    out_start = np.cumsum(per_doc) - per_doc
    if full.any():
        # the fold of every window of `ngram` consecutive words of the batch, then the
        # windows that lie inside one document are picked out
        span = len(wh) - ngram + 1
        acc = wh[:span].copy()
        mult = np.uint64(HASH64_MULT)
        for j in range(1, ngram):
            acc *= mult
            acc += wh[j : j + span]
        source = np.arange(len(out), dtype=np.int64) + np.repeat(word_start - out_start, per_doc)
        in_full = np.repeat(full, per_doc)
        out[in_full] = acc[source[in_full]]
    for d in np.flatnonzero(~full & (counts > 0)):  # documents shorter than ngram: rare
        acc1 = 0
        for h in wh[word_start[d] : word_start[d] + counts[d]].tolist():
            acc1 = (acc1 * HASH64_MULT + h) & _MASK64
        out[out_start[d]], lengths[out_start[d]] = acc1, counts[d]
    return fmix(out ^ lengths, 64), per_doc


def text_shingle_hashes(texts: Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """`hash64` of every shingle of many texts, and shingles per text (see `batch_shingle_hashes`)."""
    return batch_shingle_hashes(*batch_word_hashes(texts), ngram)


def shingle_hash_fn(scheme: Scheme) -> Callable[[bytes], int]:
    """The hash function to give datasketch so that it sees what `signatures` sees."""
    if scheme == "affine64":
        return lambda b: hash64(b.decode("utf-8"))
    return lambda b: hash64(b.decode("utf-8")) & 0xFFFFFFFF


def fmix(h: np.ndarray, width: int) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX[width]
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


class MinHasher:
    """Signatures for many documents at once."""

    def __init__(self, num_perm: int = 128, seed: int = 1, scheme: Scheme = "rminhash") -> None:
        self.num_perm, self.seed, self.scheme = num_perm, seed, scheme
        gen = np.random.RandomState(seed)  # datasketch's generator, drawn in its order
        if scheme == "rminhash":
            self.dtype, self.empty = np.uint32, np.iinfo(np.uint32).max
            return
        if scheme == "legacy":
            ab = np.array(
                [
                    (gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
                    for _ in range(num_perm)
                ],
                dtype=np.uint64,
            ).T
            self.dtype = np.uint64
        else:
            width = 32 if scheme == "affine32" else 64
            self.dtype = np.uint32 if width == 32 else np.uint64
            a = gen.randint(0, 1 << (width - 1), num_perm, dtype=self.dtype) * self.dtype(2) + self.dtype(1)
            b = gen.randint(0, 1 << width, num_perm, dtype=self.dtype)
            ab = np.array([a, b])
        self.a, self.b = ab[0][:, None], ab[1][:, None]
        self.empty = _MAX32 if scheme == "legacy" else np.iinfo(self.dtype).max

    def hash_values(self, hashes64: np.ndarray) -> np.ndarray:
        """Shingle hashes (uint64) → the values the permutations act on."""
        if self.scheme == "affine64":
            return fmix(hashes64, 64)
        low = hashes64 & _MAX32
        return low if self.scheme == "legacy" else fmix(low.astype(np.uint32), 32)

    def signatures(self, hashes: np.ndarray, counts: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """(documents × num_perm) signatures from the uint64 shingle hashes of documents, all
        in one array with `counts` per document (as `text_shingle_hashes` gives them).

        `rminhash`: rensa signs the whole batch from the flat hashes and their offsets.
        The datasketch schemes: the permutations act on `chunk` shingles at a time, as a (num_perm × chunk) matrix
        in one reused buffer (a few thousand columns ran 1.4-1.6x faster than whole batches,
        and than 2,048 or 16,384); `minimum.reduceat` takes each document's part of a chunk,
        and a document cut by a chunk boundary keeps the minimum of its parts. A document
        without shingles gets the empty signature.
        """
        if self.scheme == "rminhash":
            offsets = np.zeros(len(counts) + 1, dtype=np.uint64)
            np.cumsum(counts, out=offsets[1:])
            digests = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, self.num_perm, self.seed)
            return np.array(digests.to_rows(), dtype=np.uint32).reshape(len(counts), self.num_perm)
        out = np.full((len(counts), self.num_perm), self.empty, dtype=self.dtype)
        docs = np.flatnonzero(counts)
        ends = np.cumsum(counts[docs])
        starts = ends - counts[docs]
        values = self.hash_values(hashes)
        buf = np.empty((self.num_perm, min(chunk, len(values))), dtype=self.dtype)
        for lo in range(0, len(values), chunk):
            hi = min(lo + chunk, len(values))
            first, stop = np.searchsorted(ends, lo, side="right"), np.searchsorted(starts, hi)
            x = values[None, lo:hi]
            if self.scheme == "legacy":
                phv = ((self.a * x + self.b) % _MERSENNE) & _MAX32
            else:
                phv = np.multiply(self.a, x, out=buf[:, : hi - lo])
                phv += self.b
            mins = np.minimum.reduceat(phv, np.maximum(starts[first:stop], lo) - lo, axis=1).T
            rows = docs[first:stop]
            out[rows] = np.minimum(out[rows], mins)
        return out


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimizing the equally weighted false-positive and false-negative areas,
    computed by datasketch's own MinHashLSH routine."""
    from datasketch.lsh import _optimal_param  # imported when asked for: it brings scipy.integrate (~0.5 s)

    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def recall_bands(threshold: float, num_perm: int, above: float = 0.05, miss: float = 1e-4) -> tuple[int, int]:
    """(bands, rows) for a candidate net to be verified exactly: the most rows (the fewest
    false candidates) with which a pair of Jaccard `threshold + above` shares no band with
    probability at most `miss`, by the LSH S-curve (1 − J^rows)^bands."""
    j = min(threshold + above, 1.0)
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if (1 - j**rows) ** bands <= miss:
            return bands, rows
    return num_perm, 1


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents × bands) uint64 keys: each band's `rows` values folded into one hash."""
    sig = signatures[:, : bands * rows].astype(np.uint64).reshape(len(signatures), bands, rows)
    keys = np.zeros((len(signatures), bands), dtype=np.uint64)
    for r in range(rows):
        keys = fmix((keys * np.uint64(HASH64_MULT)) ^ sig[:, :, r], 64)
    return keys


def unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pairs (a[i], b[i]), sorted by (a, b)."""
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    new = np.ones(len(a), dtype=bool)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[new], b[new]


def component_minima(n: int, edge_batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]) -> np.ndarray:
    """Each node's component's smallest node, for nodes 0..n-1 and the edges a[i]—b[i] that
    `edge_batches()` yields in batches (int64 node numbers).

    Union-find in numpy over one parent array (4 bytes a node below 2^31 nodes): a parent is
    never larger than its child, so a root is its tree's smallest node. A pass finds the roots
    of each batch's endpoints (compressing their paths) and hooks the larger root of every
    edge whose roots differ under the smaller; a root that several edges hook keeps the
    smallest, so passes repeat (each calls `edge_batches()` again: the edges are re-read, never
    held together) until no edge joins two trees. Memory is the parents and one batch,
    whatever the number of edges; near-duplicate graphs settle in two or three passes.
    """
    parent = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)

    def roots(x: np.ndarray) -> np.ndarray:
        r = parent[x]
        while not np.array_equal(up := parent[r], r):
            r = up
        return r

    joined = True
    while joined:
        joined = False
        for a, b in edge_batches():
            ra, rb = roots(a), roots(b)
            parent[a], parent[b] = ra, rb
            hook = ra != rb
            if hook.any():
                joined = True
                np.minimum.at(parent, np.maximum(ra[hook], rb[hook]), np.minimum(ra[hook], rb[hook]))
    while not np.array_equal(up := parent[parent], parent):  # every node straight to its root
        parent = up
    return parent
