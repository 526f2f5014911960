from fastapi import APIRouter, Request

from backend.api.deps import CSV, ExplorerDep, FormatQuery, SplitQuery, errors
from backend.api.encoding import encode_csv, encode_json, respond
from backend.schemas import ModelInfo, Paths, SeedGroup

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=list[ModelInfo])
def list_models(explorer: ExplorerDep) -> list[ModelInfo]:
    """Every loadable checkpoint under the runs directory (rescanned on each call)."""
    return explorer.models.all()


@router.get("/{model_id}", response_model=ModelInfo, responses=errors(404, 409, 422))
def get_model(model_id: str, explorer: ExplorerDep) -> ModelInfo:
    return explorer.models.get(model_id)


@router.get("/{model_id}/paths", response_model=Paths, responses={**CSV, **errors(404, 409, 422)})
def get_paths(
    model_id: str,
    explorer: ExplorerDep,
    request: Request,
    split: SplitQuery = "test",
    format: FormatQuery = "json",
):
    """Every sample's routing path with its label, prediction and cost."""
    result = explorer.splits.paths(model_id, split)

    def encode():
        if format == "csv":
            return encode_csv(result.columns(), f"{model_id}-{split}-paths.csv")
        return encode_json(result.out())

    return respond(explorer.encoded(("paths", result.key, model_id, format), encode), request)


groups_router = APIRouter(prefix="/api/groups", tags=["models"])


@groups_router.get("", response_model=list[SeedGroup])
def list_groups(explorer: ExplorerDep) -> list[SeedGroup]:
    """The ablations among the runs: each variant's mean and spread over seeds, and the
    reference variant's differences from each baseline, paired by seed."""
    return explorer.models.groups()
