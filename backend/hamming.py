"""Exact nearest neighbours of binary paths under the Hamming distance.

Paths are packed 64 bits to a word, so a distance is a few XORs and popcounts: exact
brute force over ten thousand distinct paths takes about half a second, faster than an
approximate index and free of its randomness.
"""

import os
from concurrent.futures import ThreadPoolExecutor

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
    # Distances are small integers (at most G), so they fit in one byte for any network
    # of fewer than 256 gates, and a stable sort of bytes is a radix sort: linear in n,
    # and it keeps equal distances in index order, which is the tie-break.
    dtype = np.uint8 if np.shape(paths)[1] < 256 else np.uint16
    indices = np.empty((len(query_words), k), dtype=np.int64)
    distances = np.empty((len(query_words), k), dtype=np.int64)

    def search(start: int) -> None:
        block = query_words[start : start + BLOCK_ROWS]
        dist = np.zeros((len(block), n), dtype=dtype)
        for w in range(words.shape[1]):
            dist += np.bitwise_count(block[:, w, None] ^ words[None, :, w]).astype(
                dtype, copy=False
            )
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
        indices[start : start + len(block)] = nearest
        distances[start : start + len(block)] = np.take_along_axis(dist, nearest, axis=1)

    starts = range(0, len(query_words), BLOCK_ROWS)
    if len(starts) == 1:
        search(0)
    else:
        # numpy releases the GIL in these loops, so blocks run in parallel on threads.
        with ThreadPoolExecutor(max_workers=min(len(starts), len(os.sched_getaffinity(0)))) as pool:
            list(pool.map(search, starts))
    return indices, distances
