from fastapi import APIRouter, Request

from backend.api.deps import CSV, ExplorerDep, FormatQuery, SplitQuery, errors
from backend.api.encoding import encode_csv, respond
from backend.schemas import ClassMetrics, MeasureInfo, Metrics
from trainer.measures import measure_definitions

router = APIRouter(prefix="/api/models", tags=["metrics"])


@router.get(
    "/{model_id}/metrics", response_model=Metrics, responses={**CSV, **errors(404, 409, 422)}
)
def get_metrics(
    model_id: str,
    explorer: ExplorerDep,
    request: Request,
    split: SplitQuery = "test",
    format: FormatQuery = "json",
):
    """Overall and per-class routing measures, cost and execution rates; as CSV, the
    per-class table (one row per class)."""
    metrics = explorer.splits.metrics(model_id, split)
    if format == "json":
        return metrics
    columns = {
        name: [getattr(row, name) for row in metrics.per_class]
        for name in ClassMetrics.model_fields
    }
    return respond(encode_csv(columns, f"{model_id}-{split}-metrics.csv"), request)


measures_router = APIRouter(prefix="/api", tags=["metrics"])


@measures_router.get("/measures", response_model=list[MeasureInfo])
def list_measures() -> list[dict]:
    """What each routing measure is, its unit, and which direction is better."""
    return measure_definitions()
