"""The REST API's routers, one per resource, gathered in one place."""

from fastapi import APIRouter, Depends

from backend.api import (
    embeddings,
    formation,
    health,
    importance,
    jobs,
    metrics,
    models,
    neighbors,
    route,
    samples,
    training,
)
from backend.api.strict import refuse_undeclared_parameters

api_router = APIRouter(dependencies=[Depends(refuse_undeclared_parameters)])
for module in (
    health,
    models,
    embeddings,
    jobs,
    metrics,
    importance,
    samples,
    neighbors,
    route,
    training,
    formation,
):
    api_router.include_router(module.router)
api_router.include_router(metrics.measures_router)
api_router.include_router(models.groups_router)
