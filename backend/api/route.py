from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from backend.api.deps import ExplorerDep, ForcePathQuery, SplitQuery, ViewsQuery, errors
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
    views: ViewsQuery = 0,
    split: SplitQuery = "test",
) -> Response:
    """Route an uploaded image (multipart field ``file``): prediction, path, cost, its
    neighbours in ``split`` and its place in that split's computed embeddings. With the
    field ``force_path`` the image takes that path instead, and ``unforced`` holds its
    own. The upload is held for a while: the answer's ``upload_id`` routes it again
    (``GET .../uploads/{upload_id}/route``) without sending it again."""
    limit = explorer.max_upload_bytes
    body = await read_body(request, limit + MULTIPART_SLACK)
    content_type = request.headers.get("content-type", "")

    def answer() -> Response:
        data, fields = form_from_multipart(content_type, body)
        if len(data) > limit:
            raise TooLarge(f"the upload is larger than {limit:,} bytes")
        force_path = fields.get(FORCE_FIELD)
        result = explorer.images.upload(model_id, data, views, split, force_path)
        # Serialised here, in the worker thread, not on the event loop.
        return Response(result.model_dump_json(), media_type="application/json")

    return await run_in_threadpool(answer)


@router.get(
    "/{model_id}/uploads/{upload_id}/route",
    response_model=RouteResult,
    responses=errors(404, 409, 422),
)
def route_held_upload(
    model_id: str,
    upload_id: Annotated[str, Path(max_length=64, pattern="^[0-9a-f]+$")],
    explorer: ExplorerDep,
    split: SplitQuery = "test",
    force_path: ForcePathQuery = None,
    views: ViewsQuery = 0,
) -> RouteResult:
    """Route an upload the server still holds again (``upload_id`` from its ``POST
    .../route``), along its own path or ``force_path``, with ``views``; 404 once it is
    no longer held (15 minutes after its last use) or the model's checkpoint changed."""
    return explorer.images.held_upload(model_id, upload_id, views, split, force_path)
