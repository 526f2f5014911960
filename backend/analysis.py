"""Overall and per-class statistics of a split's routing.

Distances are in blocks: the Hamming distance between two paths is the number of
blocks one executes and the other skips.
"""

import numpy as np

from backend.extraction import PathTable
from trainer.measures import class_mean_distances, distance_ratio, routing_measures
from trainer.metrics import routing_summary
from trainer.paths import mean_pairwise_hamming, mean_view_hamming, unique_paths


def path_entropy(paths: np.ndarray) -> float:
    """Shannon entropy (bits) of the distribution of distinct paths."""
    if len(paths) == 0:
        return 0.0
    _, counts, _ = unique_paths(paths)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def class_metrics(
    table: PathTable, class_names: list[str], view_paths: dict[int, np.ndarray] | None = None
) -> dict:
    """Per-class and overall metrics; ``view_paths[c]`` is (images, K, G) augmented paths.

    The routing measures (their names, definitions and directions) are trainer.measures'.
    """
    view_paths = view_paths or {}
    num_classes = len(class_names)
    num_gates = table.paths.shape[1]
    all_views = [v for v in view_paths.values() if len(v)]
    overall = {
        "count": int(len(table.labels)),
        **routing_summary(table.labels, table.predictions, table.paths, table.macs),
        "path_entropy": path_entropy(table.paths),
        **routing_measures(
            table.paths, table.labels, np.concatenate(all_views) if all_views else None
        ),
    }
    any_two = overall["any_two_distance"]
    class_means = class_mean_distances(table.paths, table.labels)
    rates = np.zeros((num_classes, num_gates))
    per_class = []
    for c, name in enumerate(class_names):
        members = table.labels == c
        paths = table.paths[members]
        if members.any():
            rates[c] = paths.mean(axis=0)
        views = view_paths.get(c)
        same_class = mean_pairwise_hamming(paths) if members.sum() > 1 else None
        view_distance = None if views is None else mean_view_hamming(views)
        per_class.append(
            {
                "class_index": c,
                "class_name": name,
                "count": int(members.sum()),
                **routing_summary(
                    table.labels[members], table.predictions[members], paths, table.macs[members]
                ),
                "path_entropy": path_entropy(paths),
                "same_class_distance": same_class,
                "same_class_ratio": distance_ratio(same_class, any_two),
                "view_distance": view_distance,
                "view_ratio": distance_ratio(view_distance, any_two),
                "class_mean_distance": class_means.get(c),
            }
        )
    # L1 distance between class mean paths (execution-rate vectors), in blocks.
    distance = np.abs(rates[:, None, :] - rates[None, :, :]).sum(axis=2)
    return {
        "overall": overall,
        "per_class": per_class,
        "class_distance": distance.round(6).tolist(),
        "block_execution_rate": rates.round(6).tolist(),
    }
