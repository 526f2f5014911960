"""The explorer's operations, free of HTTP: routers translate these to responses.

Routers call ``Explorer`` alone, through its four parts: ``models`` (the server and
its models), ``splits`` (results derived from a model's split: its routing, embeddings,
measures, block importance, the run's formation, samples), ``neighbors`` (a split's
images nearest to a path) and ``images`` (one image routed: an upload or a sample,
along its own path or a forced one). Operations return the API's schema objects
(``backend.schemas``), results that build them when a router encodes them (``results``:
a split's paths, an embedding), or a ``Job`` while a result is computed (routers answer
it with 202), and refuse a request by raising the error types of ``backend.errors``
(and the trainer's ``CheckpointError`` and ``DatasetError`` for files the server cannot
use), which ``app.py`` maps to HTTP statuses.
"""

import logging
import threading
from collections.abc import Callable

import numpy as np

from backend import keys
from backend.cache import ComputeOnce
from backend.embeddings import embed_paths, place_path
from backend.errors import UnknownItem
from backend.ids import shown
from backend.jobs import Job
from backend.services.image_routing import ImageRouting
from backend.services.models import Models
from backend.services.neighbors import NearestImages
from backend.services.results import EmbeddingResult, PathsResult, ServedEmbedding
from backend.services.shared import Shared
from backend.services.splits import SplitResults
from backend.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["Explorer", "Job", "PathsResult", "EmbeddingResult", "ServedEmbedding"]


class Explorer:
    def __init__(self, settings: Settings):
        self.shared = Shared(settings)
        self.models = Models(self.shared)
        self.splits = SplitResults(self.shared)
        self.neighbors = NearestImages(self.shared, self.splits)
        self.images = ImageRouting(self.shared, self.splits, self.neighbors)
        self._payloads = ComputeOnce(self.shared.memory)  # encoded responses

    @property
    def max_upload_bytes(self) -> int:
        return self.shared.settings.max_upload_bytes

    @property
    def body_timeout_s(self) -> float:
        return self.shared.settings.body_timeout_s

    def job(self, job_id: str) -> Job:
        job = self.shared.jobs.get(job_id)
        if job is None:
            raise UnknownItem(f"no job {shown(job_id)}")
        return job

    def encoded(self, parts: tuple, encode: Callable[[], object]):
        """A response encoded once and kept in memory: ``parts`` name the result's key
        and whatever else the encoding depends on (model id, format)."""
        return self._payloads.get_or_compute(keys.payload(*parts), encode)

    def start_warm_up(self) -> None:
        """Warm up in a background thread; ``/api/health`` says how far it got."""

        def run():
            self.shared.warmup = "running"
            try:
                warm_up()
                self.shared.warmup = "done"
            except Exception:  # warm-up is an optimisation; a failure must not stop serving
                log.exception("warm-up failed")
                self.shared.warmup = "failed"

        threading.Thread(target=run, name="warmup", daemon=True).start()

    def close(self) -> None:
        self.shared.jobs.shutdown()
        self.images.close()


def warm_up() -> None:
    """Compile UMAP's numba code (seconds on first use) before anyone waits for it."""
    rng = np.random.default_rng(0)
    paths = rng.random((64, 12)) > 0.5
    embedding, reducer = embed_paths(paths, "umap", {})
    place_path(embedding, reducer, ~paths[0])
    log.info("embedding code warmed up")
