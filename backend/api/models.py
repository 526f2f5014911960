from fastapi import APIRouter

from backend.api.deps import ExplorerDep, FormatQuery, SplitQuery
from backend.api.tables import csv_response
from backend.schemas import ModelInfo, Paths
from backend.store import LoadedModel
from trainer.paths import path_strings

router = APIRouter(prefix="/api/models", tags=["models"])


def model_info(loaded: LoadedModel) -> ModelInfo:
    meta, prep = loaded.meta, loaded.preprocessing
    return ModelInfo(
        id=loaded.id,
        arch=meta["arch"],
        dataset=prep["dataset"],
        num_classes=len(loaded.class_names),
        class_names=loaded.class_names,
        num_gates=loaded.num_gates,
        stage_blocks=loaded.model.stage_blocks,
        image_size=prep["image_size"],
        channels=prep["channels"],
        full_macs=loaded.macs.full,
        epoch=meta.get("epoch", 0) + 1,
        metrics=meta.get("metrics", {}),
        content_hash=loaded.content_hash,
    )


@router.get("", response_model=list[ModelInfo])
def list_models(explorer: ExplorerDep) -> list[ModelInfo]:
    """Every loadable checkpoint under the runs directory (rescanned on each call)."""
    models, _ = explorer.store.load_all()
    return [model_info(m) for m in models]


@router.get("/{model_id}", response_model=ModelInfo)
def get_model(model_id: str, explorer: ExplorerDep) -> ModelInfo:
    return model_info(explorer.store.get(model_id))


@router.get(
    "/{model_id}/paths", response_model=Paths, responses={200: {"content": {"text/csv": {}}}}
)
def get_paths(
    model_id: str, explorer: ExplorerDep, split: SplitQuery = "test", format: FormatQuery = "json"
):
    """Every sample's routing path with its label, prediction and cost."""
    _, table = explorer.paths(model_id, split)
    columns = {
        "sample_ids": table.sample_ids.tolist(),
        "labels": table.labels.tolist(),
        "predictions": table.predictions.tolist(),
        "confidences": [round(float(c), 6) for c in table.confidences],
        "paths": path_strings(table.paths),
        "executed_blocks": table.executed_blocks.tolist(),
        "macs": table.macs.tolist(),
    }
    if format == "csv":
        return csv_response(columns, f"{model_id}-{split}-paths.csv")
    return Paths(model_id=model_id, split=split, **columns)
