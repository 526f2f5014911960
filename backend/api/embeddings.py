from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from backend.api.deps import ExplorerDep, FormatQuery, SplitQuery
from backend.api.encoding import encode_csv, encode_json, respond
from backend.api.jobs import ACCEPTED, accepted
from backend.cache import cache_key
from backend.jobs import Job
from backend.schemas import EmbeddingOut
from trainer.paths import path_strings

router = APIRouter(prefix="/api/models", tags=["embeddings"])

APPLIES_TO = {
    "n_neighbors": "umap",
    "min_dist": "umap",
    "n_epochs": "umap",
    "perplexity": "tsne",
    "n_iter": "tsne",
}


@router.get(
    "/{model_id}/embeddings/{method}",
    response_model=EmbeddingOut,
    responses={
        **ACCEPTED,
        200: {"content": {"text/csv": {}}},
    },
)
def get_embedding(
    model_id: str,
    method: Literal["umap", "tsne", "pca"],
    explorer: ExplorerDep,
    request: Request,
    split: SplitQuery = "test",
    format: FormatQuery = "json",
    n_neighbors: Annotated[int | None, Query(ge=2, le=200, description="UMAP")] = None,
    min_dist: Annotated[float | None, Query(ge=0.0, le=1.0, description="UMAP")] = None,
    n_epochs: Annotated[
        int | None, Query(ge=10, le=2000, description="UMAP; default by number of paths")
    ] = None,
    perplexity: Annotated[float | None, Query(ge=2.0, le=100.0, description="t-SNE")] = None,
    n_iter: Annotated[
        int | None,
        Query(ge=50, le=5000, description="t-SNE, after early exaggeration (half as many)"),
    ] = None,
):
    """The 2-D embedding of the split's paths; 202 with a job while it is computed."""
    given = {
        "n_neighbors": n_neighbors,
        "min_dist": min_dist,
        "n_epochs": n_epochs,
        "perplexity": perplexity,
        "n_iter": n_iter,
    }
    params = {}
    for name, value in given.items():
        if value is None:
            continue
        if APPLIES_TO[name] != method:
            raise ValueError(f"{name} applies to {APPLIES_TO[name]}, not {method}")
        params[name] = value
    result = explorer.embedding(model_id, split, method, params)
    if isinstance(result, Job):
        return accepted(result)

    def encode():
        embedding, (_, table) = result.embedding, explorer.paths(model_id, split)
        xy = embedding.xy.round(5)
        columns = {
            "sample_ids": table.sample_ids.tolist(),
            "x": xy[:, 0].tolist(),
            "y": xy[:, 1].tolist(),
            "labels": table.labels.tolist(),
            "predictions": table.predictions.tolist(),
            "path_ids": embedding.inverse.tolist(),
        }
        if format == "csv":
            return encode_csv(columns, f"{model_id}-{split}-{method}.csv")
        return encode_json(
            EmbeddingOut(
                model_id=model_id,
                split=split,
                method=method,
                paths=path_strings(embedding.unique_paths),
                path_counts=embedding.counts.tolist(),
                params=embedding.params,
                **columns,
            )
        )

    key = cache_key("embedding", result.key, model_id, format)
    return respond(explorer.payloads.get_or_compute(key, encode), request)
