"""How a run's routing space formed, from the paths its trainer recorded each epoch
(``trainer.formation``).

The distinct paths of every epoch together are embedded once, so every epoch shares
the coordinates and a probe image's point moves exactly when its path changes. Each
epoch gets the measures of the probe set (``trainer.measures``, without augmented
views: the view distance needs them), its accuracy and cost; the linear probe, the
slowest measure by far, on at most ``PROBE_EPOCHS`` epochs spread evenly. What follows
from the paths alone (which images changed path, when each settles) is derived at
encoding time.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.cache import DiskCache
from backend.embeddings import (
    EMBEDDING_SPEC,
    Embedding,
    embed_paths,
    embedding_arrays,
    embedding_from_arrays,
)
from backend.errors import UnknownItem
from backend.schemas import FormationOut
from trainer.formation import (
    SETTLED_SHARE,
    Formation,
    path_changes,
    read_formation,
    settled_shares,
    settling,
)
from trainer.measures import routing_measures
from trainer.paths import path_strings

# The per-epoch columns, in the cached array's order.
COLUMNS = (
    "accuracy",
    "unique_paths",
    "mean_executed_blocks",
    "any_two_distance",
    "same_class_distance",
    "class_mean_distance",
    "same_class_ratio",
    "neighbor_agreement",
    "probe_accuracy",
)
# The linear probe takes about a second per epoch of 2,000 images on 2 cores: on
# 200 epochs it would take minutes, on 25 spread evenly it draws the same curve.
PROBE_EPOCHS = 25
# Share of the job's progress the measures take; the embedding takes the rest.
MEASURES_SHARE = 0.6


class NotRecorded(UnknownItem):
    """A run whose paths were not recorded during training."""


@dataclass(frozen=True)
class FormationResult:
    key: str
    epochs: np.ndarray  # (E,) completed epochs
    probe: np.ndarray  # (N,) test sample ids
    labels: np.ndarray  # (N,)
    predictions: np.ndarray  # (E, N)
    measures: np.ndarray  # (E, len(COLUMNS)) float, NaN where undefined or not measured
    embedding: Embedding  # of the E * N recorded paths, epoch by epoch

    @property
    def path_ids(self) -> np.ndarray:
        """(E, N): each image's path at each epoch, as an index into the distinct paths."""
        return self.embedding.inverse.reshape(len(self.epochs), len(self.probe))


@dataclass(frozen=True)
class ServedFormation:
    """A formation with what the page needs of the model it is served beside, read from
    one loaded version of it."""

    model_id: str
    result: FormationResult
    class_names: list[str]
    checkpoint_epoch: int


def read_recorded(run_dir: Path, model_id: str, num_gates: int, classes: int):
    """(Formation, digest of its files' content), or NotRecorded saying how to record."""
    formation = read_formation(run_dir)
    if formation is None or not len(formation.epochs):
        raise NotRecorded(
            f"model {model_id!r} has no recorded formation: its trainer did not record the "
            "paths of each epoch. Train it with this version's `python -m trainer train` "
            "(recording is on unless --no-formation) to record them"
        )
    if formation.paths.shape[2] != num_gates or formation.num_classes != classes:
        raise NotRecorded(
            f"the formation recorded beside model {model_id!r} is of another network "
            f"({formation.paths.shape[2]} gates, {formation.num_classes} classes; the model "
            f"has {num_gates} and {classes})"
        )
    digest = hashlib.sha256()
    for array in (formation.epochs, formation.probe, formation.paths, formation.predictions):
        digest.update(np.ascontiguousarray(array).tobytes())
    return formation, digest.hexdigest()


def probed_epochs(count: int, limit: int = PROBE_EPOCHS) -> np.ndarray:
    """Indices of the epochs whose linear probe is measured: all of them up to ``limit``,
    else ``limit`` spread evenly, the first and the last among them."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, limit)).astype(np.int64))


def compute_formation(
    key: str, formation: Formation, method: str, progress: Callable[[float], None]
) -> FormationResult:
    epochs = len(formation.epochs)
    probed = set(probed_epochs(epochs).tolist())
    measures = np.full((epochs, len(COLUMNS)), np.nan)
    for e in range(epochs):
        paths, predictions = formation.paths[e], formation.predictions[e]
        row = {
            "accuracy": float((predictions == formation.labels).mean()),
            "unique_paths": float(len(np.unique(paths, axis=0))),
            "mean_executed_blocks": float(paths.sum(axis=1).mean()),
            **routing_measures(paths, formation.labels, probe=e in probed),
        }
        measures[e] = [np.nan if row[c] is None else row[c] for c in COLUMNS]
        progress(MEASURES_SHARE * (e + 1) / epochs)
    stacked = formation.paths.reshape(-1, formation.paths.shape[2])
    embedding, _ = embed_paths(
        stacked,
        method,
        {},
        lambda f: progress(MEASURES_SHARE + (1 - MEASURES_SHARE) * f),
    )
    return FormationResult(
        key,
        formation.epochs,
        formation.probe,
        formation.labels,
        formation.predictions,
        measures,
        embedding,
    )


def save_formation(cache: DiskCache, result: FormationResult) -> None:
    cache.save(
        result.key,
        epochs=result.epochs,
        probe=result.probe,
        labels=result.labels,
        predictions=result.predictions,
        measures=result.measures,
        **embedding_arrays(result.embedding),
    )


_SPEC = {
    "epochs": ("iu", ("epochs",)),
    "probe": ("iu", ("images",)),
    "labels": ("iu", ("images",)),
    "predictions": ("iu", ("epochs", "images")),
    "measures": ("f", ("epochs", len(COLUMNS))),
    **EMBEDDING_SPEC,
}


def load_formation(cache: DiskCache, key: str) -> FormationResult | None:
    """A cached result, or None when not cached or unusable (then removed)."""
    arrays = cache.load(key, _SPEC)
    if arrays is None:
        return None
    try:
        embedding = embedding_from_arrays(arrays)
        epochs, images = arrays["predictions"].shape
        if embedding.inverse.shape != (epochs * images,):
            raise ValueError(f"{embedding.inverse.shape} paths for {epochs} x {images}")
    except (KeyError, ValueError, TypeError) as error:
        cache.discard(key, f"{type(error).__name__}: {error}")
        return None
    return FormationResult(
        key,
        arrays["epochs"],
        arrays["probe"],
        arrays["labels"],
        arrays["predictions"],
        arrays["measures"],
        embedding,
    )


def formation_out(served: ServedFormation) -> FormationOut:
    """The API's answer: the cached arrays, and what follows from the paths alone."""
    result, embedding = served.result, served.result.embedding
    epochs, ids = result.epochs.tolist(), result.path_ids
    changed, per_class = path_changes(ids, result.labels, len(served.class_names))
    settle_index = settling(ids)
    shares = settled_shares(settle_index, len(epochs))
    settled = next(i for i, share in enumerate(shares) if share >= SETTLED_SHARE)
    xy = embedding.unique_xy.round(5)
    return FormationOut(
        model_id=served.model_id,
        method=embedding.method,
        params=embedding.params,
        checkpoint_epoch=served.checkpoint_epoch,
        class_names=served.class_names,
        epochs=epochs,
        sample_ids=result.probe.tolist(),
        labels=result.labels.tolist(),
        paths=path_strings(embedding.unique_paths),
        x=xy[:, 0].tolist(),
        y=xy[:, 1].tolist(),
        path_ids=ids.tolist(),
        predictions=result.predictions.tolist(),
        measures={
            name: [None if np.isnan(v) else float(v) for v in result.measures[:, i]]
            for i, name in enumerate(COLUMNS)
        },
        probe_epochs=[epochs[i] for i in probed_epochs(len(epochs))],
        changed=changed,
        changed_per_class=per_class,
        settled=shares,
        settle_epochs=[epochs[i] for i in settle_index],
        settled_90_epoch=epochs[settled],
    )
