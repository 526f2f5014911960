from fastapi import APIRouter, Request

from backend.api.deps import ExplorerDep, FormatQuery, SplitQuery
from backend.api.encoding import encode_csv, encode_json, respond
from backend.cache import cache_key
from backend.schemas import ModelInfo, Paths, SeedGroup
from backend.store import LoadedModel
from trainer.measures import upgrade_metrics
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
        metrics=upgrade_metrics(meta.get("metrics", {})),
        content_hash=loaded.content_hash,
        group=loaded.group,
        variant=loaded.variant,
        seed=loaded.seed,
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
    model_id: str,
    explorer: ExplorerDep,
    request: Request,
    split: SplitQuery = "test",
    format: FormatQuery = "json",
):
    """Every sample's routing path with its label, prediction and cost."""
    loaded, table = explorer.paths(model_id, split)

    def encode():
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
            return encode_csv(columns, f"{model_id}-{split}-paths.csv")
        return encode_json(Paths(model_id=model_id, split=split, **columns))

    key = cache_key("paths", loaded.content_hash, model_id, split, format)
    return respond(explorer.payloads.get_or_compute(key, encode), request)


groups_router = APIRouter(prefix="/api/groups", tags=["models"])


@groups_router.get("", response_model=list[SeedGroup])
def list_groups(explorer: ExplorerDep) -> list[dict]:
    """The ablations among the runs: each variant's mean and spread over seeds, and the
    reference variant's differences from each baseline, paired by seed."""
    return explorer.groups()
