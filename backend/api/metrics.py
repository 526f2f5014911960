from fastapi import APIRouter

from backend.api.deps import ExplorerDep, SplitQuery
from backend.schemas import Metrics

router = APIRouter(prefix="/api/models", tags=["metrics"])


@router.get("/{model_id}/metrics", response_model=Metrics)
def get_metrics(model_id: str, explorer: ExplorerDep, split: SplitQuery = "test") -> Metrics:
    """Overall and per-class consistency, diversity, cost and execution rates."""
    metrics = explorer.metrics(model_id, split)
    class_names = explorer.store.get(model_id).class_names
    return Metrics(model_id=model_id, split=split, class_names=class_names, **metrics)
