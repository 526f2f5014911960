from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from backend.api.deps import ExplorerDep, ForcePathQuery, SplitQuery, ViewsQuery, errors
from backend.schemas import RouteResult

router = APIRouter(prefix="/api/models", tags=["samples"])


@router.get(
    "/{model_id}/samples/{sample_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **errors(404, 409, 422)},
)
def sample_image(
    model_id: str,
    sample_id: Annotated[int, Path(ge=0)],
    explorer: ExplorerDep,
    split: SplitQuery = "test",
    size: Annotated[int, Query(ge=8, le=512, description="longer side, pixels")] = 64,
) -> Response:
    png = explorer.splits.thumbnail(model_id, split, sample_id, size)
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


@router.get(
    "/{model_id}/samples/{sample_id}/route",
    response_model=RouteResult,
    responses=errors(404, 409, 422),
)
def route_sample(
    model_id: str,
    sample_id: Annotated[int, Path(ge=0)],
    explorer: ExplorerDep,
    split: SplitQuery = "test",
    force_path: ForcePathQuery = None,
    views: ViewsQuery = 0,
) -> RouteResult:
    """A dataset sample's routing: prediction, probabilities, path, cost, neighbours and
    place in the computed embeddings; with ``force_path``, for that path, and
    ``unforced`` holds its own; with ``views``, its augmented views' paths and places."""
    return explorer.images.sample(model_id, split, sample_id, force_path, views)
