"""Typed dependencies shared by the routers."""

from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from backend.services import Explorer


async def get_explorer(request: Request) -> Explorer:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop
    # per request for an attribute lookup.
    return request.app.state.explorer


ExplorerDep = Annotated[Explorer, Depends(get_explorer)]
SplitQuery = Annotated[Literal["test", "train"], Query(description="dataset split")]
FormatQuery = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
