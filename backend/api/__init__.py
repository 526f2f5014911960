"""The REST API's routers, one per resource, gathered in one place."""

from fastapi import APIRouter

from backend.api import (
    embeddings,
    health,
    importance,
    jobs,
    metrics,
    models,
    route,
    samples,
    training,
)

api_router = APIRouter()
for module in (health, models, embeddings, jobs, metrics, importance, samples, route, training):
    api_router.include_router(module.router)
api_router.include_router(metrics.measures_router)
api_router.include_router(models.groups_router)
