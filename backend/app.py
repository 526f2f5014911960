"""The app factory: wires settings, services, routers, error handlers and the page."""

from contextlib import asynccontextmanager
from pathlib import Path

import plotly
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from backend.api import api_router
from backend.api.uploads import MULTIPART_SLACK
from backend.connections import BodyDeadline
from backend.errors import ServiceError
from backend.services import Explorer
from backend.settings import Settings, get_settings
from trainer.checkpoint import CheckpointError
from trainer.data import DatasetError
from trainer.formation import FormationError


def _frontend_dir() -> Path:
    """The dashboard's files: package data beside this module once installed from a
    wheel (``backend/frontend``), else the repository's ``frontend/`` (a source checkout
    or an editable install)."""
    here = Path(__file__).resolve().parent
    installed = here / "frontend"
    return installed if installed.is_dir() else here.parent / "frontend"


FRONTEND_DIR = _frontend_dir()


async def _service_error(_request: Request, error: ServiceError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=error.status, headers=error.headers)


async def _unusable_file(_request: Request, error: Exception) -> JSONResponse:
    """A checkpoint or dataset the server cannot use: the request is fine, the file not."""
    return JSONResponse({"detail": str(error)}, status_code=409)


class RefuseLargeBodies:
    """Answers 413 before reading a body whose announced length is over the limit.

    A plain ASGI middleware: Starlette's decorator-style middleware would add a
    noticeable cost to every request.
    """

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length", b"")
            limit = self.limit()
            if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
                response = JSONResponse(
                    {"detail": f"the upload is larger than {limit:,} bytes"}, status_code=413
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        resolved = settings or app.dependency_overrides.get(get_settings, get_settings)()
        explorer = Explorer(resolved)
        app.state.explorer = explorer
        if resolved.warmup:
            explorer.start_warm_up()
        yield
        explorer.close()

    app = FastAPI(
        title="CoDiNet routing-space explorer",
        description="Routing paths, embeddings and metrics of per-block gated networks: "
        "CoDiNet checkpoints trained here, imported SkipNet, BlockDrop, ConvNet-AIG and "
        "CoDiNet public-code checkpoints, and your own.",
        version="0.1.0",
        lifespan=lifespan,
    )

    app.add_middleware(RefuseLargeBodies, limit=lambda: app.state.explorer.max_upload_bytes)
    app.add_middleware(BodyDeadline, seconds=lambda: app.state.explorer.body_timeout_s)
    app.add_exception_handler(ServiceError, _service_error)
    for error_type in (CheckpointError, DatasetError, FormationError):
        app.add_exception_handler(error_type, _unusable_file)
    app.include_router(api_router)
    mount_frontend(app)
    return app


def mount_frontend(app: FastAPI) -> None:
    """The dashboard at ``/``: static files, plus plotly.js from the installed package."""
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(FRONTEND_DIR / "index.html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> FileResponse:
        return FileResponse(
            plotly_js,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=FRONTEND_DIR), name="static")
