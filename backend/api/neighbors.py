from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import ExplorerDep, SplitQuery, errors
from backend.schemas import Neighbors

router = APIRouter(prefix="/api/models", tags=["samples"])


@router.get("/{model_id}/neighbors", response_model=Neighbors, responses=errors(404, 409, 422))
def neighbors(
    model_id: str,
    path: Annotated[
        str,
        Query(
            max_length=4096,
            description="one character per gated block, input side first, 1 = execute",
        ),
    ],
    explorer: ExplorerDep,
    split: SplitQuery = "test",
    other_paths: Annotated[
        bool, Query(description="leave out the images on the path itself")
    ] = False,
    leave_out: Annotated[
        int | None, Query(ge=0, description="a sample id to leave out (the one shown)")
    ] = None,
) -> Neighbors:
    """The split's images whose paths are nearest to ``path``: the rule the page's
    neighbour lists and an upload's ``neighbors`` follow."""
    return explorer.neighbors.of_path(model_id, split, path, other_paths, leave_out)
