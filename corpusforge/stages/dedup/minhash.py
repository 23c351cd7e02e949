"""MinHash signatures, LSH bands and connected components, vectorized with numpy.

Signatures equal datasketch's value for value (datasketch stays the reference; a test proves
it): for the same `scheme`, `seed`, `num_perm` and shingles, `MinHasher.signatures()` returns
what `datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash_fn(scheme), scheme=scheme)`
holds after `update_batch(shingles)`. The difference is speed: a batch of documents is
normalized as one array of code points, each distinct word is hashed once, the shingle
hashes are folded from the word hashes with numpy, and the permutations of the whole batch
are matrix operations.

Schemes (datasketch 2.x): `affine32` (default; the shingle hash is pre-mixed with the
MurmurHash3 finalizer, then a·h + b in wrapping uint32), `affine64` (the same in uint64),
`legacy` ((a·h + b) mod 2^61−1, low 32 bits kept: inflates similarity on large sets,
datasketch issue 212).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from datasketch.lsh import _optimal_param

Scheme = Literal["affine32", "affine64", "legacy"]
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
_SPACE = np.uint32(32)
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


def _normalized(texts: Sequence[str]) -> tuple[str, np.ndarray]:
    """The texts normalized and joined by spaces into one string, and its word count per text.

    Normalization: Unicode NFKC, lowercase, every non-word character (not str.isalnum(),
    so also "_") to a space. The texts are joined and normalized as one UTF-32 array, where
    a table lookup lowercases or blanks each code point: several times faster than a regex
    on web text, whose curly quotes and dashes keep it off any ASCII-only fast path.
    """
    prepared = [_nfkc(t) for t in texts]
    prepared = [t.lower() if not t.isascii() and any(c in t for c in _CONTEXT_LOWER) else t for t in prepared]
    joined = " ".join(prepared)  # the space keeps the last word of a text apart from the next one's first
    cps = _fold_code_points(np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32))
    is_word = cps != _SPACE
    word_starts = np.flatnonzero(is_word & ~np.concatenate(([False], is_word[:-1])))
    text_starts = np.cumsum([0] + [len(t) + 1 for t in prepared[:-1]])
    counts = np.diff(np.searchsorted(word_starts, text_starts), append=len(word_starts)) if texts else []
    return cps.tobytes().decode("utf-32-le"), np.asarray(counts, dtype=np.int64)


def batch_words(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The normalized words of many texts: (all words in order, number of words per text)."""
    normalized, counts = _normalized(texts)
    return normalized.split(), counts


def batch_word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The xxh3-64 of the UTF-8 of every normalized word of many texts (in order), and the
    number of words per text.

    Python would make a str per word and hash it or look it up in a dict (~150 ns a word);
    Arrow splits the batch and finds its distinct words in C, so xxhash runs once per
    distinct word (about one word in ten) and nothing else is done per word in Python.
    """
    normalized, counts = _normalized(texts)
    data = normalized.strip(" ").encode("utf-8")  # no empty word before the first or after the last space
    if not data:
        return np.empty(0, dtype=np.uint64), counts
    text = pa.Array.from_buffers(
        pa.large_string(), 1, [None, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data)]
    )
    words = pc.ascii_split_whitespace(text).flatten().dictionary_encode()  # only " " separates words here
    distinct = words.dictionary.cast(pa.large_binary()).to_pylist()
    hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, distinct), dtype=np.uint64, count=len(distinct))
    return hashes[words.indices.to_numpy()], counts


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


_MULT = 0x9E3779B97F4A7C15  # odd: multiplying by it is a bijection on uint64
_MASK64 = (1 << 64) - 1


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def hash64(shingle: str) -> int:
    """The 64-bit hash of one shingle (words joined by single spaces).

    Each word is hashed with xxh3-64 and the shingle's word hashes are combined as
    fmix64(Σ h_j · M^(k-1-j) mod 2^64 ⊕ k): a function of the shingle's text alone, so
    datasketch can be given it as `hashfunc`, while `text_shingle_hashes` computes the same
    values for all shingles of a batch with a few numpy operations and one xxhash call per
    distinct word instead of one per shingle.
    """
    words = shingle.split(" ")
    acc = 0
    for w in words:
        acc = (acc * _MULT + xxhash.xxh3_64_intdigest(w.encode("utf-8"))) & _MASK64
    return _fmix64_int(acc ^ len(words))


def batch_shingle_hashes(word_hashes: np.ndarray, counts: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """`hash64` of every shingle of many documents, from their words' xxh3-64
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
        mult = np.uint64(_MULT)
        for j in range(1, ngram):
            acc *= mult
            acc += wh[j : j + span]
        source = np.arange(len(out), dtype=np.int64) + np.repeat(word_start - out_start, per_doc)
        in_full = np.repeat(full, per_doc)
        out[in_full] = acc[source[in_full]]
    for d in np.flatnonzero(~full & (counts > 0)):  # documents shorter than ngram: rare
        acc1 = 0
        for h in wh[word_start[d] : word_start[d] + counts[d]].tolist():
            acc1 = (acc1 * _MULT + h) & _MASK64
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

    def __init__(self, num_perm: int = 128, seed: int = 1, scheme: Scheme = "affine32") -> None:
        self.num_perm, self.seed, self.scheme = num_perm, seed, scheme
        gen = np.random.RandomState(seed)  # datasketch's generator, drawn in its order
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

        The permutations act on `chunk` shingles at a time, as a (num_perm × chunk) matrix
        in one reused buffer (a few thousand columns ran 1.4-1.6x faster than whole batches,
        and than 2,048 or 16,384); `minimum.reduceat` takes each document's part of a chunk,
        and a document cut by a chunk boundary keeps the minimum of its parts. A document
        without shingles gets the empty signature.
        """
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
        keys = fmix((keys * np.uint64(_MULT)) ^ sig[:, :, r], 64)
    return keys


def unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pairs (a[i], b[i]), sorted by (a, b)."""
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    new = np.ones(len(a), dtype=bool)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[new], b[new]


def connected_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components of the graph with edges a[i]—b[i] (int64 node keys).

    Returns (nodes, labels): the sorted distinct nodes and, for each, the smallest node index
    of its component, so a label is also the component's first member in key order. Memory
    is a few arrays over the nodes that have an edge and the distinct edges (the same pair
    comes from several bands, and several partitions); min-label propagation with pointer
    jumping converges in a few passes on near-duplicate clusters.
    """
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    u, v = inverse[: len(a)], inverse[len(a) :]
    packed = np.unique((np.minimum(u, v) << 32) | np.maximum(u, v))  # node indices < 2^32: one int64 a pair
    u, v = packed >> 32, packed & 0xFFFFFFFF
    labels = np.arange(len(nodes), dtype=np.int64)
    while True:
        m = np.minimum(labels[u], labels[v])
        new = labels.copy()
        np.minimum.at(new, u, m)
        np.minimum.at(new, v, m)
        while True:  # pointer jumping: follow labels to their root
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, labels):
            return nodes, labels
        labels = new
