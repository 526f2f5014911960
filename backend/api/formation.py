from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from backend.api.deps import ExplorerDep, errors
from backend.api.encoding import encode_json, respond
from backend.api.jobs import ACCEPTED, accepted
from backend.embeddings import METHODS
from backend.formation import formation_out
from backend.schemas import FormationOut
from backend.services import Job

router = APIRouter(prefix="/api/models", tags=["formation"])

MethodQuery = Annotated[
    Literal[METHODS], Query(description="layout of the distinct paths of all epochs")
]


@router.get(
    "/{model_id}/formation",
    response_model=FormationOut,
    responses={**ACCEPTED, **errors(404, 409, 422, 429)},
)
def get_formation(
    model_id: str, explorer: ExplorerDep, request: Request, method: MethodQuery = "umap"
):
    """How the routing space formed: the probe images' paths and predictions at every
    recorded epoch, in one layout shared by all epochs, with each epoch's measures, the
    share of paths changed and when each path settles. 404 for a run whose paths were
    not recorded; 202 with a job while it is computed."""
    found = explorer.splits.formation(model_id, method)
    if isinstance(found, Job):
        return accepted(found)
    parts = ("formation", found.result.key, model_id, found.class_names, found.checkpoint_epoch)
    return respond(explorer.encoded(parts, lambda: encode_json(formation_out(found))), request)
