from fastapi import APIRouter

from backend.api.deps import ExplorerDep
from backend.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(explorer: ExplorerDep) -> Health:
    return explorer.models.health()
