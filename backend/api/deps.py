"""Typed dependencies and documented error answers shared by the routers."""

from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from backend.schemas import ErrorOut, Split
from backend.services import Explorer


async def get_explorer(request: Request) -> Explorer:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop
    # per request for an attribute lookup.
    return request.app.state.explorer


ExplorerDep = Annotated[Explorer, Depends(get_explorer)]
SplitQuery = Annotated[Split, Query(description="dataset split")]
FormatQuery = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
ForcePathQuery = Annotated[
    str | None,
    Query(
        max_length=4096,
        description="route through this path instead of the gates' choice: one "
        "character per gated block, input side first, 1 = execute",
    ),
]
ViewsQuery = Annotated[
    int,
    Query(
        ge=0,
        le=32,
        description="augmented views of the image to route too (by its own gates): "
        "their paths, distances to its path and places on the computed maps",
    ),
]
CSV = {200: {"content": {"text/csv": {}}, "description": "json, or csv with format=csv"}}

_ERRORS = {
    404: "unknown model, sample or job",
    408: "the request's body did not arrive within CODINET_BODY_TIMEOUT_S",
    409: "a checkpoint or dataset the server cannot use",
    413: "the upload is too large, or its image too large to decode",
    415: "the upload is no decodable image",
    422: "invalid parameters or body",
    429: "too many jobs wait already; retry after Retry-After seconds",
}


def errors(*statuses: int) -> dict:
    """The OpenAPI ``responses`` of an operation's error statuses, all ``ErrorOut``."""
    documented = {}
    for status in statuses:
        documented[status] = {"model": ErrorOut, "description": _ERRORS[status]}
        if status == 429:
            documented[status]["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
            }
    return documented
