"""Epoch metrics of a model's routing: accuracy, cost, and the routing measures."""

import numpy as np

from trainer.engine import RoutingResult
from trainer.flops import MacTable
from trainer.measures import MEASURES_VERSION, routing_measures
from trainer.paths import unique_paths


def routing_metrics(clean: RoutingResult, view_paths: np.ndarray | None, macs: MacTable) -> dict:
    """Metrics of a test split routed once (``clean``) and of augmented views of some of
    its images, (images, views, G); the measures are defined in trainer.measures."""
    paths = clean.paths[:, 0]
    executed = paths.sum(axis=1)
    per_sample_macs = macs.per_sample(paths).numpy()
    return {
        "accuracy": float((clean.predictions == clean.labels).mean()),
        "mean_executed_blocks": float(executed.mean()),
        "executed_fraction": float(executed.mean() / paths.shape[1]),
        "mean_macs": float(per_sample_macs.mean()),
        "full_macs": int(macs.full),
        "unique_paths": int(len(unique_paths(paths)[1])),
        **routing_measures(paths, clean.labels, view_paths),
        "measures_version": MEASURES_VERSION,  # how the measures were defined when saved
    }
