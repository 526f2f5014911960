from fastapi import APIRouter

from backend.api.deps import ExplorerDep, SplitQuery, errors
from backend.api.jobs import ACCEPTED, accepted
from backend.schemas import BlockImportance
from backend.services import Job

router = APIRouter(prefix="/api/models", tags=["importance"])


@router.get(
    "/{model_id}/importance",
    response_model=BlockImportance,
    responses={**ACCEPTED, **errors(404, 409, 422, 429)},
)
def get_importance(model_id: str, explorer: ExplorerDep, split: SplitQuery = "test"):
    """Per class and gated block: accuracy and mean probability of the true class when
    the block is flipped in each image's own path (forced off where the image executes
    it, on where it skips it), beside the same images on their own paths. 202 with a
    job while it is computed."""
    result = explorer.splits.importance(model_id, split)
    if isinstance(result, Job):
        return accepted(result)
    return result
