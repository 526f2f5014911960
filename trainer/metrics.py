"""Epoch metrics of a model's routing: accuracy, cost, and how paths spread."""

from trainer.engine import RoutingResult
from trainer.flops import MacTable
from trainer.paths import mean_pairwise_hamming, mean_view_hamming, unique_paths


def routing_metrics(clean: RoutingResult, augmented: RoutingResult | None, macs: MacTable) -> dict:
    """Metrics of a test split routed once (``clean``) and, optionally, in augmented views.

    consistency: mean Hamming distance between the paths of augmented views of one
    image (lower is more consistent). diversity: mean Hamming distance between the
    paths of two different test images (higher is more diverse). Both in blocks.
    """
    paths = clean.paths[:, 0]
    executed = paths.sum(axis=1)
    per_sample_macs = macs.per_sample(paths).numpy()
    metrics = {
        "accuracy": float((clean.predictions == clean.labels).mean()),
        "mean_executed_blocks": float(executed.mean()),
        "executed_fraction": float(executed.mean() / paths.shape[1]),
        "mean_macs": float(per_sample_macs.mean()),
        "full_macs": int(macs.full),
        "unique_paths": int(len(unique_paths(paths)[1])),
        "diversity": mean_pairwise_hamming(paths),
    }
    if augmented is not None:
        metrics["consistency"] = mean_view_hamming(augmented.paths)
    return metrics
