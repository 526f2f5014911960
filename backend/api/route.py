from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from backend.api.deps import ExplorerDep
from backend.images import ImageRejected
from backend.schemas import RouteResult

router = APIRouter(prefix="/api/models", tags=["route"])


@router.post("/{model_id}/route", response_model=RouteResult)
def route_image(
    model_id: str,
    explorer: ExplorerDep,
    file: Annotated[UploadFile, File(description="an image: PNG, JPEG, GIF, BMP, TIFF, WebP")],
    views: Annotated[int, Query(ge=0, le=32, description="augmented views to route too")] = 0,
) -> RouteResult:
    """Route an uploaded image: prediction, path, cost, neighbours, place in embeddings."""
    limit = explorer.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise ImageRejected(413, f"the upload is larger than {limit:,} bytes")
    return RouteResult(**explorer.route(model_id, data, views))
