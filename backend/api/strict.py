"""Query parameters a route does not declare are refused, not ignored.

FastAPI drops parameters a route does not declare, so a client's typo (``metod=pca``)
or a parameter a route forgot to declare (``split`` on the upload route once) got a
confident answer to another question. Every API route depends on this check, which
answers 422 naming each undeclared parameter and those the route takes.
"""

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel


def _names(dependant) -> set[str]:
    names = set()
    for field in dependant.query_params:
        model = field.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):  # a query model
            names |= {f.alias or name for name, f in model.model_fields.items()}
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= _names(sub)
    return names


def declared_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameter names a route reads, its dependencies' included; kept on the
    route (routes are unhashable, and an id could be reused by another app's route)."""
    declared = getattr(route, "declared_query_parameters", None)
    if declared is None:
        declared = route.declared_query_parameters = frozenset(_names(route.dependant))
    return declared


async def refuse_undeclared_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_query_parameters(route)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        takes = ", ".join(sorted(declared)) or "none"
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": f"unknown query parameter {name!r}; this route takes: {takes}",
                    "type": "extra_forbidden",
                    "input": request.query_params.get(name),
                }
                for name in unknown
            ]
        )
