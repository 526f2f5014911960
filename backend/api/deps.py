"""Typed dependencies shared by the routers."""

from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from backend.services import Explorer


def get_explorer(request: Request) -> Explorer:
    return request.app.state.explorer


ExplorerDep = Annotated[Explorer, Depends(get_explorer)]
SplitQuery = Annotated[Literal["test", "train"], Query(description="dataset split")]
FormatQuery = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
