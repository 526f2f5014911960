import inspect
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from backend.api.deps import CSV, ExplorerDep, FormatQuery, SplitQuery, errors
from backend.api.encoding import encode_csv, encode_json, respond
from backend.api.jobs import ACCEPTED, accepted
from backend.embeddings import METHODS, PARAMETERS
from backend.schemas import EmbeddingOut
from backend.services import Job

router = APIRouter(prefix="/api/models", tags=["embeddings"])


def _given_parameters(**values) -> dict:
    """The methods' settings a request gives (one query parameter each)."""
    return {name: value for name, value in values.items() if value is not None}


def _described(parameter) -> str:
    if parameter.default is None:
        return parameter.description
    return f"{parameter.description} (default {parameter.default})"


# The query parameters, their bounds and descriptions are those of
# ``backend.embeddings.PARAMETERS``; the service checks which method each applies to.
_given_parameters.__signature__ = inspect.Signature(
    [
        inspect.Parameter(
            p.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                p.type | None,
                Query(ge=p.low, le=p.high, description=_described(p)),
            ],
        )
        for p in PARAMETERS
    ]
)


@router.get(
    "/{model_id}/embeddings/{method}",
    response_model=EmbeddingOut,
    responses={**ACCEPTED, **CSV, **errors(404, 409, 422, 429)},
)
def get_embedding(
    model_id: str,
    method: Literal[METHODS],
    explorer: ExplorerDep,
    request: Request,
    params: Annotated[dict, Depends(_given_parameters)],
    split: SplitQuery = "test",
    format: FormatQuery = "json",
):
    """The 2-D embedding of the split's paths; 202 with a job while it is computed."""
    result = explorer.splits.embedding(model_id, split, method, params)
    if isinstance(result, Job):
        return accepted(result)

    def encode():
        if format == "csv":
            return encode_csv(result.columns(), f"{model_id}-{split}-{method}.csv")
        return encode_json(result.out())

    return respond(explorer.encoded(("embedding", result.key, model_id, format), encode), request)
