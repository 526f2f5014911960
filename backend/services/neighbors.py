"""The images of a split nearest to a path: the neighbour rule (``PathTable.nearest``)
answered for any path, and for a routed image's result."""

import numpy as np

from backend.extraction import PathTable
from backend.schemas import Neighbor, Neighbors
from backend.services.shared import Shared, client_path
from backend.services.splits import SplitResults
from backend.store import LoadedModel
from trainer.paths import path_strings


class NearestImages:
    def __init__(self, shared: Shared, splits: SplitResults):
        self.shared, self.splits = shared, splits

    def of_path(
        self,
        model_id: str,
        split: str,
        path: str,
        other_paths: bool = False,
        leave_out: int | None = None,
    ) -> Neighbors:
        """The split's images nearest to ``path``, as many as ``CODINET_NEIGHBORS``."""
        loaded = self.shared.store.get(model_id)
        bits = client_path(path, loaded.num_gates)
        table = self.splits.table(loaded, split)
        return Neighbors(
            model_id=loaded.id,
            split=split,
            path=path,
            other_paths=other_paths,
            neighbors=self.listed(loaded, table, bits, other_paths, leave_out),
        )

    def listed(
        self,
        loaded: LoadedModel,
        table: PathTable,
        path: np.ndarray,
        other_paths: bool = False,
        leave_out: int | None = None,
    ) -> list[Neighbor]:
        ids, distances = table.nearest(path, self.shared.settings.neighbors, other_paths, leave_out)
        return [
            Neighbor(
                sample_id=int(i),
                label=int(table.labels[i]),
                class_name=loaded.class_names[table.labels[i]],
                prediction=int(table.predictions[i]),
                distance=int(distance),
                path=path_strings(table.paths[i][None])[0],
            )
            for i, distance in zip(ids, distances, strict=True)
        ]
