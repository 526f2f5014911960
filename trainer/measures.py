"""Measures of a routing space, from binary paths alone: one definition per quantity.

The trainer (``metrics.jsonl``, checkpoint metrics), the backend (the metrics endpoint)
and the page (through ``GET /api/measures``) all use these names and these functions.

Raw distances are in blocks: the Hamming distance between two paths counts the blocks
one executes and the other skips. They shrink whenever a model uses fewer distinct
paths, so they cannot rank two models. The ratios divide by the distance between any
two images of the split, and the nearest-path class agreement asks how much of an
image's class its path tells; these can be compared across models, depths and costs.
"""

from dataclasses import asdict, dataclass

import numpy as np

from trainer.paths import mean_pairwise_hamming, mean_view_hamming, unique_paths

KNN_K = 10
# Above this many samples, the k-nearest-path accuracy is estimated on a seeded random
# subset of queries (every sample still counts as a neighbour): exact enough (its
# standard error is below 0.004) at a bounded cost.
KNN_MAX_QUERIES = 20_000


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    unit: str  # blocks | ratio | fraction
    better: str  # lower | higher
    description: str
    normalised: bool  # comparable across models


MEASURES = {
    m.name: m
    for m in (
        Measure(
            "any_two_distance",
            "Any-two distance",
            "blocks",
            "higher",
            "Mean Hamming distance between the paths of two different images of the split.",
            False,
        ),
        Measure(
            "same_class_distance",
            "Same-class distance",
            "blocks",
            "lower",
            "Mean Hamming distance between the paths of two images of the same class.",
            False,
        ),
        Measure(
            "view_distance",
            "View distance",
            "blocks",
            "lower",
            "Mean Hamming distance between the paths of augmented views of one image.",
            False,
        ),
        Measure(
            "class_mean_distance",
            "Class-mean distance",
            "blocks",
            "higher",
            "Mean L1 distance between a class's mean path and the other classes' mean paths.",
            False,
        ),
        Measure(
            "same_class_ratio",
            "Same-class ratio",
            "ratio",
            "lower",
            "Same-class distance over any-two distance: 1 when classes do not gather, "
            "0 when each class takes one path.",
            True,
        ),
        Measure(
            "view_ratio",
            "View ratio",
            "ratio",
            "lower",
            "View distance over any-two distance: 0 when the views of an image share its "
            "path, 1 when they differ as much as two random images.",
            True,
        ),
        Measure(
            "neighbor_agreement",
            "Nearest-path class agreement",
            "fraction",
            "higher",
            f"Share of an image's {KNN_K} nearest images by path (itself left out, ties at "
            "the last distance included) that are of its class: the class information a "
            "path carries. Chance, for paths that ignore the class, is the chance that "
            "two images share a class (0.1 for ten balanced classes); 1 when each class "
            "has paths of its own.",
            True,
        ),
    )
}


def measure_definitions() -> list[dict]:
    return [asdict(m) for m in MEASURES.values()]


def routing_measures(
    paths: np.ndarray, labels: np.ndarray, view_paths: np.ndarray | None = None
) -> dict:
    """Every measure of a split: ``paths`` (N, G), ``labels`` (N,), and ``view_paths``
    (images, views, G) of augmented views when measured. Ratios are None when all
    paths are equal (any-two distance 0)."""
    paths = np.asarray(paths, dtype=bool)
    labels = np.asarray(labels)
    any_two = mean_pairwise_hamming(paths)
    same_class = same_class_distance(paths, labels)
    result = {
        "any_two_distance": any_two,
        "same_class_distance": same_class,
        "view_distance": None,
        "class_mean_distance": _mean_or_none(class_mean_distances(paths, labels)),
        "same_class_ratio": distance_ratio(same_class, any_two),
        "view_ratio": None,
        "neighbor_agreement": neighbor_agreement(paths, labels),
    }
    if view_paths is not None and len(view_paths):
        result["view_distance"] = mean_view_hamming(view_paths)
        result["view_ratio"] = distance_ratio(result["view_distance"], any_two)
    return result


def same_class_distance(paths: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean distance over all pairs of images of one class, pooled over the classes."""
    total, pairs = 0.0, 0
    for c in np.unique(labels):
        members = paths[labels == c]
        n = len(members)
        if n < 2:
            continue
        executed = members.sum(axis=0).astype(np.float64)
        total += float((executed * (n - executed)).sum())
        pairs += n * (n - 1) // 2
    return total / pairs if pairs else None


def class_mean_distances(paths: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Per class: mean L1 distance from its mean path to each other class's mean path."""
    classes = np.unique(labels)
    if len(classes) < 2:
        return {}
    rates = np.stack([paths[labels == c].mean(axis=0) for c in classes])
    distance = np.abs(rates[:, None, :] - rates[None, :, :]).sum(axis=2)
    return {int(c): float(distance[i].sum() / (len(classes) - 1)) for i, c in enumerate(classes)}


def neighbor_agreement(
    paths: np.ndarray, labels: np.ndarray, k: int = KNN_K, seed: int = 0
) -> float | None:
    """Mean share of an image's k nearest images (Hamming distance between paths,
    leave-one-out) that are of its class.

    Every other image at most as far as the k-th nearest one counts, so ties at that
    distance all count and the sample order does not matter. Works on the distinct
    paths, since images on one path have the same neighbours.
    """
    paths = np.asarray(paths, dtype=bool)
    labels = np.asarray(labels)
    n = len(labels)
    if n < 2:
        return None
    k = min(k, n - 1)
    classes, label_index = np.unique(labels, return_inverse=True)
    unique, _, inverse = unique_paths(paths)
    # Images per (distinct path, class).
    class_counts = np.zeros((len(unique), len(classes)), dtype=np.float64)
    np.add.at(class_counts, (inverse, label_index), 1)

    queries = np.arange(n)
    if n > KNN_MAX_QUERIES:
        queries = np.random.default_rng(seed).choice(n, KNN_MAX_QUERIES, replace=False)
    query_paths, query_row = np.unique(inverse[queries], return_inverse=True)
    near, count = _classes_within_k(unique, query_paths, class_counts, k)
    # Leave the image itself out of its own neighbours.
    rows, own = query_row.reshape(-1), label_index[queries]
    agreement = (near[rows, own] - 1) / (count[rows] - 1)
    return float(agreement.mean())


def _classes_within_k(
    unique: np.ndarray, query_paths: np.ndarray, class_counts: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per query path: images of each class within the distance of its k-th nearest
    other image, and their number (the query's own images included)."""
    bits = unique.astype(np.float32)
    sizes = class_counts.sum(axis=1)
    near = np.zeros((len(query_paths), class_counts.shape[1]))
    count = np.zeros(len(query_paths))
    for start in range(0, len(query_paths), 256):
        rows = bits[query_paths[start : start + 256]]
        # Hamming distances through one matrix product: the bits that differ.
        distance = np.rint(
            rows.sum(axis=1, keepdims=True) + bits.sum(axis=1) - 2 * rows @ bits.T
        ).astype(np.int32)
        block = slice(start, start + len(rows))
        pending = np.ones(len(rows), dtype=bool)
        for level in range(unique.shape[1] + 1):
            at_level = (distance[pending] == level).astype(np.float64)
            near[block][pending] += at_level @ class_counts
            count[block][pending] += at_level @ sizes
            pending &= count[block] - 1 < k  # the image itself is not its neighbour
            if not pending.any():
                break
    return near, count


def distance_ratio(numerator: float | None, denominator: float) -> float | None:
    """A distance over the any-two distance; None when it is undefined."""
    if numerator is None or denominator <= 0:
        return None
    return float(numerator / denominator)


def _mean_or_none(values: dict) -> float | None:
    return float(np.mean(list(values.values()))) if values else None


# Names that checkpoints and metrics.jsonl files of earlier versions used.
_RENAMED = {"consistency": "view_distance", "diversity": "any_two_distance"}


def upgrade_metrics(metrics: dict) -> dict:
    """Metrics of an older checkpoint under today's names (the values are unchanged)."""
    return {_RENAMED.get(name, name): value for name, value in metrics.items()}
