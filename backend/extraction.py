"""Routing extraction: every sample of a split, routed with conditional execution."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backend.context import Context
from backend.settings import Settings, admits
from backend.store import LoadedModel, split_of
from trainer.data import ViewsDataset, build_transform
from trainer.distributed import SINGLE_PROCESS, DistInfo
from trainer.engine import ViewProtocol, route_dataset, route_views


@dataclass
class PathTable:
    """Per-sample routing of one split, in dataset order (sample id = index)."""

    labels: np.ndarray  # (N,) int64
    predictions: np.ndarray  # (N,) int64
    confidences: np.ndarray  # (N,) float32, probability of the prediction
    paths: np.ndarray  # (N, G) bool, input side first, True = executed
    macs: np.ndarray  # (N,) int64

    @property
    def sample_ids(self) -> np.ndarray:
        return np.arange(len(self.labels))

    @property
    def executed_blocks(self) -> np.ndarray:
        return self.paths.sum(axis=1)

    def nearest(
        self, path: np.ndarray, count: int, other_paths: bool = False, leave_out: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The neighbour rule, for the API and the page alike: the ``count`` samples whose
        paths are nearest to ``path`` by Hamming distance, ties by sample id; with
        ``other_paths``, only samples on another path; never ``leave_out``. Their ids
        and distances."""
        distances = (self.paths != path).sum(axis=1)
        keep = np.ones(len(distances), dtype=bool)
        if other_paths:
            keep &= distances > 0
        if leave_out is not None and 0 <= leave_out < len(keep):
            keep[leave_out] = False
        ids = self.sample_ids[keep]
        order = np.lexsort((ids, distances[keep]))[:count]
        return ids[order], distances[keep][order]

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            k: getattr(self, k) for k in ("labels", "predictions", "confidences", "paths", "macs")
        }


def _table_spec() -> dict:
    return {
        "labels": ("iu", ("n",)),
        "predictions": ("iu", ("n",)),
        "confidences": ("f", ("n",)),
        "paths": ("b", ("n", "gates")),
        "macs": ("iu", ("n",)),
    }


def extract_paths(
    context: Context,
    loaded: LoadedModel,
    split: str,
    cache_file: str,
    progress: Callable[[float], None] | None = None,
    dist_info: DistInfo = SINGLE_PROCESS,
) -> PathTable:
    """Route a split through the model; cached on disk as ``cache_file`` (see
    ``backend.keys.paths``). ``progress`` hears the fraction routed after each batch.

    Under torchrun (``dist_info``) each process routes its shard of the split, every
    process gets the whole table, and only rank 0 writes the file (atomically).
    """
    cached = context.cache.load(cache_file, _table_spec(), {"gates": loaded.num_gates})
    if cached is not None:
        return PathTable(**{name: cached[name] for name in _table_spec()})
    bundle = context.store.dataset(loaded)
    dataset = ViewsDataset(
        split_of(bundle, split), build_transform(loaded.preprocessing, train=False), 1
    )
    result = route_dataset(
        loaded.model,
        dataset,
        context.runtime,
        batch_size=context.batch_size,
        dist_info=dist_info,
        description=f"{loaded.id}/{split}",
        progress=progress,
    )
    paths = result.paths[:, 0]
    table = PathTable(
        labels=result.labels.astype(np.int64),
        predictions=result.predictions.astype(np.int64),
        confidences=result.probabilities.max(axis=1).astype(np.float32),
        paths=paths,
        macs=loaded.macs.per_sample(paths).numpy(),
    )
    if dist_info.is_main:
        context.cache.save(cache_file, **table.arrays())
    return table


def view_protocol(loaded: LoadedModel, settings: Settings) -> ViewProtocol:
    """The protocol the checkpoint's saved view figures were measured with (its training
    config), so that the served figures equal them; the server's settings for a
    checkpoint that records none (imported, hand-made) or one they would not admit."""
    config = loaded.meta.get("config") or {}
    views, per_class = config.get("eval_views"), config.get("view_images_per_class")
    if admits("eval_views", views) and admits("view_images_per_class", per_class):
        return ViewProtocol(views, per_class)
    return ViewProtocol(settings.eval_views, settings.view_images_per_class)


def augmented_view_paths(
    context: Context, loaded: LoadedModel, split: str, protocol: ViewProtocol, cache_file: str
) -> dict[int, np.ndarray]:
    """Paths of the protocol's augmented views (the trainer measures them alike).

    Returns class index -> (images, views, G). Seeded, and cached like the paths (see
    ``backend.keys.views``).
    """
    spec = {"labels": ("iu", ("n",)), "paths": ("b", ("n", "views", "gates"))}
    cache = context.cache
    cached = cache.load(cache_file, spec, {"views": protocol.views, "gates": loaded.num_gates})
    if cached is None:
        data = split_of(context.store.dataset(loaded), split)
        labels, paths = route_views(
            loaded.model,
            data,
            loaded.preprocessing,
            protocol,
            context.runtime,
            batch_size=context.batch_size,
        )
        cached = {"labels": labels, "paths": paths}
        cache.save(cache_file, **cached)
    return {int(c): cached["paths"][cached["labels"] == c] for c in np.unique(cached["labels"])}
