"""What the explorer's parts share: the settings, the computation context (models and
datasets, the disk cache, where tensors run), the job queue and one memory budget."""

import numpy as np

from backend.cache import DiskCache, LruCache
from backend.context import Context
from backend.errors import InvalidInput
from backend.jobs import JobManager
from backend.settings import Settings
from backend.store import SPLITS, ModelStore
from trainer.models.registry import import_model_modules
from trainer.paths import parse_path


class Shared:
    def __init__(self, settings: Settings):
        self.settings = settings
        import_model_modules(settings.model_modules)
        runtime = settings.runtime()  # where every model lives and routes
        self.context = Context(
            store=ModelStore(
                settings.runs_dir,
                settings.data_dir,
                runtime.device,
                settings.max_checkpoint_bytes,
            ),
            cache=DiskCache(settings.resolved_cache_dir, settings.cache_max_bytes),
            runtime=runtime,
            batch_size=settings.batch_size,
        )
        self.jobs = JobManager(workers=1, max_queued=settings.max_queued_jobs)
        # One memory budget for everything kept: path tables, embeddings and encoded
        # responses (their keys are hashes of distinct parts, so they never collide).
        self.memory = LruCache(settings.memory_cache_max_bytes)
        self.warmup = "off"  # the embedding code's compilation: off, running, done, failed

    @property
    def store(self) -> ModelStore:
        return self.context.store


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidInput(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


def client_path(path: str, gates: int) -> np.ndarray:
    """A path a client sent (one character per gated block), as booleans; one of the
    wrong length or with other characters is ``InvalidInput`` saying what a path is."""
    try:
        return parse_path(path, gates)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
