"""Exact nearest neighbours of binary paths under the Hamming distance.

Paths are packed 64 bits to a word, so a distance is a few XORs and popcounts: exact
brute force over ten thousand distinct paths takes about a second, faster than an
approximate index and free of its randomness.
"""

import numpy as np

BLOCK_ROWS = 512


def pack_bits(paths: np.ndarray) -> np.ndarray:
    """(N, G) booleans -> (N, ceil(G / 64)) uint64 words."""
    packed = np.packbits(np.asarray(paths, dtype=bool), axis=1)
    padded = np.pad(packed, ((0, 0), (0, (-packed.shape[1]) % 8)))
    return np.ascontiguousarray(padded).view(np.uint64)


def hamming_knn(
    paths: np.ndarray, k: int, queries: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Hamming distances (in bits) of each query's k nearest paths.

    Without ``queries`` the paths query themselves, so each row starts with the path
    itself at distance 0. Ties are broken by index, so the result is deterministic.
    """
    words = pack_bits(paths)
    query_words = words if queries is None else pack_bits(queries)
    n, k = len(words), min(k, len(words))
    indices = np.empty((len(query_words), k), dtype=np.int64)
    distances = np.empty((len(query_words), k), dtype=np.int64)
    for start in range(0, len(query_words), BLOCK_ROWS):
        block = query_words[start : start + BLOCK_ROWS]
        dist = np.zeros((len(block), n), dtype=np.int64)
        for w in range(words.shape[1]):
            dist += np.bitwise_count(block[:, w, None] ^ words[None, :, w])
        # Sorting by distance then index: one key, distance major.
        keys = dist * n + np.arange(n)
        nearest = (
            np.argpartition(keys, k - 1, axis=1)[:, :k]
            if k < n
            else np.tile(np.arange(n), (len(block), 1))
        )
        nearest = np.take_along_axis(
            nearest, np.argsort(np.take_along_axis(keys, nearest, axis=1), axis=1), axis=1
        )
        indices[start : start + len(block)] = nearest
        distances[start : start + len(block)] = np.take_along_axis(dist, nearest, axis=1)
    return indices, distances
