"""MinHash signatures, LSH bands and connected components, vectorized with numpy.

Signatures equal datasketch's value for value (datasketch stays the reference; a test proves
it): for the same `scheme`, `seed`, `num_perm` and shingles, `signatures()` returns what
`datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash_fn(scheme), scheme=scheme)`
holds after `update_batch(shingles)`. The difference is speed: each shingle is hashed once,
and the permutations of a whole batch of documents are one matrix operation.

Schemes (datasketch 2.x): `affine32` (default; the shingle hash is pre-mixed with the
MurmurHash3 finalizer, then a·h + b in wrapping uint32), `affine64` (the same in uint64),
`legacy` ((a·h + b) mod 2^61−1, low 32 bits kept: inflates similarity on large sets,
datasketch issue 212).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable, Literal

import numpy as np
import xxhash
from datasketch.lsh import _optimal_param

Scheme = Literal["affine32", "affine64", "legacy"]
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
_NON_WORD = re.compile(r"[\W_]+")
_FMIX = {
    32: (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16)),
    64: (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(33), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33)),
}


# ASCII fast path of `normalize`: bytes.translate maps every byte that `[\W_]` matches to a space
_ASCII_WORD = bytes(c if chr(c).isalnum() and c < 128 else 32 for c in range(256)).lower()


def normalize(text: str) -> str:
    """Unicode NFKC, lowercase, punctuation (every non-word character) to spaces, collapsed."""
    if text.isascii():  # most web text: NFKC is the identity, and translate beats the regex
        return " ".join(text.encode("ascii").translate(_ASCII_WORD).decode("ascii").split())
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def shingles(text: str, ngram: int) -> list[str]:
    """Word n-grams of the normalized text; a text shorter than `ngram` words is one shingle."""
    words = normalize(text).split()
    if not words:
        return []
    if len(words) <= ngram:
        return [" ".join(words)]
    return [" ".join(words[i:i + ngram]) for i in range(len(words) - ngram + 1)]


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
    datasketch can be given it as `hashfunc`, while `shingle_hashes` computes the same
    values for all shingles of a document with a few numpy operations and one xxhash call
    per distinct word instead of one per shingle.
    """
    words = shingle.split(" ")
    acc = 0
    for w in words:
        acc = (acc * _MULT + xxhash.xxh3_64_intdigest(w.encode("utf-8"))) & _MASK64
    return _fmix64_int(acc ^ len(words))


def shingle_hashes(words: list[str], ngram: int, cache: dict[str, int] | None = None) -> np.ndarray:
    """`hash64` of every shingle of a list of normalized words, vectorized."""
    if not words:
        return np.empty(0, dtype=np.uint64)
    cache = {} if cache is None else cache
    wh = np.empty(len(words), dtype=np.uint64)
    for i, w in enumerate(words):
        h = cache.get(w)
        if h is None:
            h = cache[w] = xxhash.xxh3_64_intdigest(w.encode("utf-8"))
        wh[i] = h
    k = min(ngram, len(words))
    count = len(words) - k + 1
    acc = np.zeros(count, dtype=np.uint64)
    mult = np.uint64(_MULT)
    for j in range(k):
        acc = acc * mult + wh[j:j + count]
    return fmix(acc ^ np.uint64(k), 64)


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
            ab = np.array([(gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
                           for _ in range(num_perm)], dtype=np.uint64).T
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
        low = (hashes64 & _MAX32)
        return low if self.scheme == "legacy" else fmix(low.astype(np.uint32), 32)

    def signatures(self, per_doc_hashes: list[np.ndarray], chunk_rows: int = 65536) -> np.ndarray:
        """(documents × num_perm) signatures from each document's uint64 shingle hashes.

        The hashes of a batch are concatenated and permuted as one (shingles × num_perm)
        matrix, in chunks bounded by `chunk_rows`, then reduced per document with
        `minimum.reduceat`. A document without shingles gets the empty signature.
        """
        n = len(per_doc_hashes)
        out = np.full((n, self.num_perm), self.empty, dtype=self.dtype)
        start = 0
        while start < n:
            stop, rows = start, 0
            while stop < n and (rows == 0 or rows + len(per_doc_hashes[stop]) <= chunk_rows):
                rows += len(per_doc_hashes[stop])
                stop += 1
            batch = per_doc_hashes[start:stop]
            sizes = np.fromiter((len(h) for h in batch), dtype=np.int64, count=len(batch))
            nonempty = sizes > 0
            if nonempty.any():
                # permutations × shingles, so each permutation's row is contiguous for reduceat
                hv = self.hash_values(np.concatenate([h for h in batch if len(h)]))[None, :]
                if self.scheme == "legacy":
                    phv = ((self.a * hv + self.b) % _MERSENNE) & _MAX32
                else:
                    phv = self.a * hv
                    phv += self.b
                offsets = np.concatenate(([0], np.cumsum(sizes[nonempty])[:-1]))
                out[start:stop][nonempty] = np.minimum.reduceat(phv, offsets, axis=1).T
            start = stop
        return out


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimizing the equally weighted false-positive and false-negative areas,
    computed by datasketch's own MinHashLSH routine."""
    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents × bands) uint64 keys: each band's `rows` values folded into one hash."""
    sig = signatures[:, : bands * rows].astype(np.uint64).reshape(len(signatures), bands, rows)
    keys = np.zeros((len(signatures), bands), dtype=np.uint64)
    for r in range(rows):
        keys = fmix((keys * np.uint64(0x9E3779B97F4A7C15)) ^ sig[:, :, r], 64)
    return keys


def connected_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components of the graph with edges a[i]—b[i] (int64 node keys).

    Returns (nodes, labels): the sorted distinct nodes and, for each, the smallest node index
    of its component, so a label is also the component's first member in key order. Memory
    is a few arrays over the nodes that have an edge; min-label propagation with pointer
    jumping converges in a few passes on near-duplicate clusters.
    """
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    u, v = inverse[: len(a)], inverse[len(a):]
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
