"""Statistics of binary routing paths, shared by the trainer and the backend."""

import numpy as np


def path_strings(paths: np.ndarray) -> list[str]:
    """(N, G) booleans -> bit strings, input side first, '1' = executed."""
    chars = np.where(np.asarray(paths, dtype=bool), "1", "0")
    return ["".join(row) for row in chars]


def parse_path(text: str, num_gates: int) -> np.ndarray:
    """A bit string of ``path_strings`` -> (G,) booleans; ValueError says what is wrong."""
    if len(text) != num_gates:
        raise ValueError(
            f"a path of this model has {num_gates} characters, one per gated block "
            f"(input side first), got {len(text)}"
        )
    wrong = sorted(set(text) - {"0", "1"})
    if wrong:
        raise ValueError(
            f"a path is written with '0' (skip) and '1' (execute) only, got {''.join(wrong)!r}"
        )
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")


def unique_paths(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct paths, how often each occurs, and each sample's index into them."""
    unique, inverse, counts = np.unique(
        np.asarray(paths, dtype=bool), axis=0, return_inverse=True, return_counts=True
    )
    return unique, counts, inverse.reshape(-1)


def mean_pairwise_hamming(paths: np.ndarray) -> float:
    """Mean Hamming distance over all pairs of distinct samples, in O(N * G).

    A block contributes k * (N - k) differing pairs when k of N samples execute it.
    """
    paths = np.asarray(paths, dtype=bool)
    n = paths.shape[0]
    if n < 2:
        return 0.0
    executed = paths.sum(axis=0).astype(np.float64)
    return float((executed * (n - executed)).sum() / (n * (n - 1) / 2))


def mean_view_hamming(view_paths: np.ndarray) -> float:
    """Mean Hamming distance between the paths of views of the same image.

    ``view_paths`` is (images, views, G); all pairs of views of an image count.
    """
    view_paths = np.asarray(view_paths, dtype=bool)
    images, views, _ = view_paths.shape
    if views < 2 or images == 0:
        return 0.0
    executed = view_paths.sum(axis=1).astype(np.float64)  # (images, G)
    pairs = views * (views - 1) / 2
    return float((executed * (views - executed)).sum(axis=1).mean() / pairs)
