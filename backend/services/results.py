"""What the operations on a split's paths and embeddings return: the result's key (what
the caches name it by) and its response, a schema object of ``backend.schemas``, built
when a router encodes it (once per key, ``backend.api.encoding``).

The per-sample columns come from one method, which the JSON response and the CSV table
share, so each response's shape is written once.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backend.embeddings import Embedding, place_path
from backend.extraction import PathTable
from backend.schemas import EmbeddingOut, Paths, Placement
from trainer.paths import path_strings


@dataclass
class PathsResult:
    key: str  # identifies the model content, split and extraction (backend.keys)
    table: PathTable
    model_id: str
    split: str

    def columns(self) -> dict[str, list]:
        """One list per field of a sample, in the response's order: the CSV's columns."""
        table = self.table
        return {
            "sample_ids": table.sample_ids.tolist(),
            "labels": table.labels.tolist(),
            "predictions": table.predictions.tolist(),
            "confidences": [round(float(c), 6) for c in table.confidences],
            "paths": path_strings(table.paths),
            "executed_blocks": table.executed_blocks.tolist(),
            "macs": table.macs.tolist(),
        }

    def out(self) -> Paths:
        return Paths(model_id=self.model_id, split=self.split, **self.columns())


@dataclass
class EmbeddingResult:
    key: str  # identifies the model content, split, method and parameters
    embedding: Embedding
    reducer: object | None

    def place(self, bits: np.ndarray) -> Placement:
        """A path's point on this map, and how it was placed."""
        (x, y), placement = place_path(self.embedding, self.reducer, bits)
        return Placement(x=x, y=y, placement=placement)


@dataclass
class ServedEmbedding:
    """An embedding as one request serves it. ``table()`` is the split's paths from the
    checkpoint the embedding was read for: the same version from start to end, never a
    newer file the store loaded meanwhile (an encoded map with another model's
    predictions would be cached under this version's key)."""

    result: EmbeddingResult
    table: Callable[[], PathTable]
    model_id: str
    split: str

    @property
    def key(self) -> str:
        return self.result.key

    @property
    def embedding(self) -> Embedding:
        return self.result.embedding

    def columns(self) -> dict[str, list]:
        """One list per field of a sample, in the response's order: the CSV's columns."""
        embedding, table = self.embedding, self.table()
        xy = embedding.xy.round(5)
        return {
            "sample_ids": table.sample_ids.tolist(),
            "x": xy[:, 0].tolist(),
            "y": xy[:, 1].tolist(),
            "labels": table.labels.tolist(),
            "predictions": table.predictions.tolist(),
            "path_ids": embedding.inverse.tolist(),
        }

    def out(self) -> EmbeddingOut:
        embedding = self.embedding
        return EmbeddingOut(
            model_id=self.model_id,
            split=self.split,
            method=embedding.method,
            paths=path_strings(embedding.unique_paths),
            path_counts=embedding.counts.tolist(),
            params=embedding.params,
            **self.columns(),
        )
