from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from backend.api.deps import ExplorerDep, SplitQuery, errors
from backend.api.uploads import (
    FORCE_FIELD,
    MULTIPART_SLACK,
    OPENAPI_BODY,
    form_from_multipart,
    read_body,
)
from backend.errors import TooLarge
from backend.schemas import RouteResult

router = APIRouter(prefix="/api/models", tags=["route"])


@router.post(
    "/{model_id}/route",
    response_model=RouteResult,
    responses=errors(404, 408, 409, 413, 415, 422),
    openapi_extra=OPENAPI_BODY,
)
async def route_image(
    model_id: str,
    explorer: ExplorerDep,
    request: Request,
    views: Annotated[int, Query(ge=0, le=32, description="augmented views to route too")] = 0,
    split: SplitQuery = "test",
) -> Response:
    """Route an uploaded image (multipart field ``file``): prediction, path, cost, its
    neighbours in ``split`` and its place in that split's computed embeddings. With the
    field ``force_path`` the image takes that path instead, and ``unforced`` holds its
    own."""
    limit = explorer.max_upload_bytes
    body = await read_body(request, limit + MULTIPART_SLACK)
    content_type = request.headers.get("content-type", "")

    def route() -> Response:
        data, fields = form_from_multipart(content_type, body)
        if len(data) > limit:
            raise TooLarge(f"the upload is larger than {limit:,} bytes")
        force_path = fields.get(FORCE_FIELD)
        result = RouteResult(**explorer.route(model_id, data, views, split, force_path))
        # Serialised here, in the worker thread, not on the event loop.
        return Response(result.model_dump_json(), media_type="application/json")

    return await run_in_threadpool(route)
