from fastapi import APIRouter

from backend.api.deps import ExplorerDep, SplitQuery, errors
from backend.schemas import MeasureInfo, Metrics
from trainer.measures import measure_definitions

router = APIRouter(prefix="/api/models", tags=["metrics"])


@router.get("/{model_id}/metrics", response_model=Metrics, responses=errors(404, 409, 422))
def get_metrics(model_id: str, explorer: ExplorerDep, split: SplitQuery = "test") -> Metrics:
    """Overall and per-class routing measures, cost and execution rates."""
    return Metrics(**explorer.metrics(model_id, split))


measures_router = APIRouter(prefix="/api", tags=["metrics"])


@measures_router.get("/measures", response_model=list[MeasureInfo])
def list_measures() -> list[dict]:
    """What each routing measure is, its unit, and which direction is better."""
    return measure_definitions()
