from fastapi import APIRouter, Request

from backend.api.deps import ExplorerDep
from backend.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(explorer: ExplorerDep, request: Request) -> Health:
    models, errors = explorer.store.load_all()
    return Health(
        status="ok",
        models=len(models),
        unloadable=errors,
        runs_dir=str(explorer.store.runs_dir),
        warmup=request.app.state.warmup,
    )
