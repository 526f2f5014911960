"""Metrics of routed images: accuracy, cost and distinct paths, and an epoch's metrics
with the routing measures."""

import numpy as np

from trainer.engine import RoutingResult
from trainer.flops import MacTable
from trainer.measures import MEASURES_VERSION, routing_measures
from trainer.paths import unique_paths


def routing_summary(
    labels: np.ndarray, predictions: np.ndarray, paths: np.ndarray, macs: np.ndarray
) -> dict:
    """Accuracy, executed blocks, MACs and distinct paths of routed images, one row each
    (``paths`` (N, G) booleans, ``macs`` (N,) per image); means are None for no image.
    The trainer's epochs and the server's splits and classes count them alike."""

    def mean(values) -> float | None:
        values = np.asarray(values, dtype=np.float64)
        return float(values.mean()) if values.size else None

    return {
        "accuracy": mean(predictions == labels),
        "mean_executed_blocks": mean(paths.sum(axis=1)),
        "mean_macs": mean(macs),
        "unique_paths": int(len(unique_paths(paths)[1])) if len(paths) else 0,
    }


def epoch_metrics(clean: RoutingResult, view_paths: np.ndarray | None, macs: MacTable) -> dict:
    """Metrics of a test split routed once (``clean``) and of augmented views of some of
    its images, (images, views, G); the measures are defined in trainer.measures."""
    paths = clean.paths[:, 0]
    summary = routing_summary(
        clean.labels, clean.predictions, paths, macs.per_sample(paths).numpy()
    )
    return {
        **summary,
        "executed_fraction": summary["mean_executed_blocks"] / paths.shape[1],
        "full_macs": int(macs.full),
        **routing_measures(paths, clean.labels, view_paths),
        "measures_version": MEASURES_VERSION,  # how the measures were defined when saved
    }
