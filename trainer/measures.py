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
# Version 2: nearest-path agreement counts a tie at the k-th distance as the k - m
# neighbours it completes (version 1 counted every tied image, diluting models with few
# distinct paths); the linear probe is new. Figures saved under version 1 are dropped
# where the definition changed (upgrade_metrics) and recomputed by whoever has paths.
MEASURES_VERSION = 2
# The linear probe learns on at most this many samples (seeded): seconds on any split.
PROBE_MAX_SAMPLES = 10_000
PROBE_FOLDS = 5
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
            f"Share of an image's {KNN_K} nearest images by path (itself left out) that "
            f"are of its class, images tied at the {KNN_K}th distance sharing the places "
            "left (as if ties were broken at random): the class information near a path. "
            "Chance, for paths that ignore the class, is the chance that two images share "
            "a class (0.1 for ten balanced classes); 1 when each class has paths of its own.",
            True,
        ),
        Measure(
            "probe_accuracy",
            "Linear probe accuracy",
            "fraction",
            "higher",
            f"Accuracy of a logistic regression predicting the class from the path's bits, "
            f"{PROBE_FOLDS}-fold cross-validated (stratified, seeded; at most "
            f"{PROBE_MAX_SAMPLES:,} images): the class information a path carries, read "
            "linearly. Chance is the largest class's share.",
            True,
        ),
    )
}


def measure_definitions() -> list[dict]:
    return [asdict(m) for m in MEASURES.values()]


def routing_measures(
    paths: np.ndarray,
    labels: np.ndarray,
    view_paths: np.ndarray | None = None,
    probe: bool = True,
) -> dict:
    """Every measure of a split: ``paths`` (N, G), ``labels`` (N,), and ``view_paths``
    (images, views, G) of augmented views when measured. Ratios are None when all
    paths are equal (any-two distance 0). ``probe=False`` leaves the linear probe, by
    far the slowest measure (seconds on 2,000 images), None."""
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
        "probe_accuracy": probe_accuracy(paths, labels) if probe else None,
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

    The images strictly nearer than the k-th nearest count whole; those tied at its
    distance share the places left, each counting (places left) / (images tied): the
    expectation of breaking the tie at random, without a seed, and independent of the
    sample order. (Counting every tied image instead lets a large tie set, as a model
    with few distinct paths has, outweigh the nearer images.) Works on the distinct
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
    near, own_weight = _classes_within_k(unique, query_paths, class_counts, k)
    # Leave the image itself out: it counted, with its path's weight, in its class.
    rows, own = query_row.reshape(-1), label_index[queries]
    agreement = (near[rows, own] - own_weight[rows]) / k
    return float(agreement.mean())


def _classes_within_k(
    unique: np.ndarray, query_paths: np.ndarray, class_counts: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per query path: the weighted images of each class among its k nearest others
    (whole below the k-th distance, a share of a place at it), the query's own images
    included with the weight of distance 0; and that weight, to take the image itself
    out again."""
    bits = unique.astype(np.float32)
    sizes = class_counts.sum(axis=1)
    near = np.zeros((len(query_paths), class_counts.shape[1]))
    own_weight = np.ones(len(query_paths))
    for start in range(0, len(query_paths), 256):
        rows = bits[query_paths[start : start + 256]]
        # Hamming distances through one matrix product: the bits that differ.
        distance = np.rint(
            rows.sum(axis=1, keepdims=True) + bits.sum(axis=1) - 2 * rows @ bits.T
        ).astype(np.int32)
        block = slice(start, start + len(rows))
        taken = np.zeros(len(rows))  # neighbours counted so far, whole or in part
        for level in range(unique.shape[1] + 1):
            at_level = (distance == level).astype(np.float64)
            others = at_level @ sizes - (level == 0)  # the query image is no neighbour
            room = np.maximum(k - taken, 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                weight = np.where(others > 0, np.minimum(room / others, 1.0), 1.0)
            weight[room <= 0] = 0.0
            near[block] += weight[:, None] * (at_level @ class_counts)
            taken += weight * np.maximum(others, 0)
            if level == 0:
                own_weight[block] = weight
            if (taken >= k - 1e-9).all():
                break
    return near, own_weight


def probe_accuracy(
    paths: np.ndarray, labels: np.ndarray, folds: int = PROBE_FOLDS, seed: int = 0
) -> float | None:
    """Cross-validated accuracy of a logistic regression from path bits to class; None
    when a class has too few images for two folds, or there is one class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    paths = np.asarray(paths, dtype=bool)
    labels = np.asarray(labels)
    if len(labels) > PROBE_MAX_SAMPLES:
        chosen = np.random.default_rng(seed).choice(len(labels), PROBE_MAX_SAMPLES, replace=False)
        paths, labels = paths[chosen], labels[chosen]
    _, counts = np.unique(labels, return_counts=True)
    folds = min(folds, int(counts.min()))
    if len(counts) < 2 or folds < 2:
        return None
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(
        LogisticRegression(max_iter=1000), paths.astype(np.float64), labels, cv=split
    )
    return float(scores.mean())


def distance_ratio(numerator: float | None, denominator: float) -> float | None:
    """A distance over the any-two distance; None when it is undefined."""
    if numerator is None or denominator <= 0:
        return None
    return float(numerator / denominator)


def _mean_or_none(values: dict) -> float | None:
    return float(np.mean(list(values.values()))) if values else None


# Names that checkpoints and metrics.jsonl files of earlier versions used.
_RENAMED = {"consistency": "view_distance", "diversity": "any_two_distance"}


# Measures whose definition changed, by the version that changed it.
_REDEFINED = {"neighbor_agreement": 2}


def upgrade_metrics(metrics: dict) -> dict:
    """Metrics of an older checkpoint under today's names; a measure whose definition
    changed since they were saved is left out (it is another quantity)."""
    version = metrics.get("measures_version", 1)
    return {
        _RENAMED.get(name, name): value
        for name, value in metrics.items()
        if _REDEFINED.get(name, 0) <= version
    }
