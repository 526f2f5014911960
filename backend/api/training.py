from fastapi import APIRouter

from backend.api.deps import ExplorerDep, errors
from backend.schemas import TrainingLog

router = APIRouter(prefix="/api/models", tags=["training"])


@router.get("/{model_id}/training", response_model=TrainingLog, responses=errors(404, 409, 422))
def get_training(model_id: str, explorer: ExplorerDep) -> TrainingLog:
    """The training curves: every epoch's metrics from the run's ``metrics.jsonl`` (empty
    when the run has none), with the epoch of the served checkpoint."""
    return explorer.models.training(model_id)
