"""Discovers checkpoints in the runs directory and keeps them loaded.

A model's id is its run directory's name: ``runs/<name>/checkpoint.pt`` is ``<name>``,
and a run one folder down, ``runs/<group>/<name>/checkpoint.pt`` (the runs of an
ablation, ``trainer ablate``), is ``<group>.<name>``; ``backend.runs`` holds the rule,
symbolic links and special files included. Listing rescans the directory, so a run
that appears while the server is up is served without a restart; a checkpoint file
that changes on disk (mtime, size or inode) is reloaded, and everything derived from
it is keyed by its content hash, so stale results are never served.
"""

import ctypes
import hashlib
import io
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import torch

from backend.errors import UnknownItem
from backend.ids import MODEL_ID_RULE, is_model_id, shown
from backend.runs import Run, locate, scan
from backend.schemas import Split
from trainer.ablation import parse_run_name
from trainer.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    CheckpointError,
    CheckpointMissing,
    load_checkpoint,
    model_from_checkpoint,
    read_checkpoint_bytes,
)
from trainer.data import DataBundle, load_dataset
from trainer.flops import MacTable, mac_table
from trainer.routing import RoutedNetwork

log = logging.getLogger(__name__)

SPLITS = get_args(Split)


class UnknownModel(UnknownItem):
    """No loadable-or-not checkpoint by that id (HTTP 404)."""


class ReplacedModel(UnknownModel):
    """The run is there, but its checkpoint vanished while it was read (a rename)."""


@dataclass
class LoadedModel:
    id: str
    path: Path
    content_hash: str
    meta: dict  # the checkpoint without its weights
    model: RoutedNetwork = field(repr=False)
    macs: MacTable = field(repr=False)
    group: str | None = None  # the ablation folder holding the run, if any
    variant: str | None = None  # from a grouped run named <variant>-s<seed>
    seed: int | None = None

    @property
    def preprocessing(self) -> dict:
        return self.meta["preprocessing"]

    @property
    def class_names(self) -> list[str]:
        return self.meta["class_names"]

    @property
    def num_gates(self) -> int:
        return self.model.num_gates


CPU = torch.device("cpu")

# A listing (/api/health, /api/models, /api/groups) loads a new or changed checkpoint
# under LISTING_WAIT_BYTES itself; a larger one (a 994 MB file takes seconds) it waits
# for LISTING_WAIT_S at most, then lists as loading rather than hold every client up.
LISTING_WAIT_BYTES = 64 * 2**20
LISTING_WAIT_S = 0.5


def return_freed_memory() -> None:
    """Hand memory freed by a load back to the system. glibc keeps what a thread frees
    in that thread's arena for reuse, and loads run on whichever request thread asks
    first: with a 165 MB checkpoint rewritten every 20 s, the server's resident memory
    grew with the arenas (bench/HISTORY.md, section 14). No-op without glibc."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


try:
    _LIBC = ctypes.CDLL("libc.so.6")
    _LIBC.malloc_trim  # noqa: B018 (glibc only)
except (OSError, AttributeError):
    _LIBC = None


def _file_signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class ModelStore:
    """The models of a runs folder. One lock guards the store's tables and is held only
    to look up or record; each model has its own lock, held while its file is read and
    its network built, and each dataset its own, held while it is loaded, so a slow or
    large checkpoint or dataset delays only the requests that need it."""

    def __init__(
        self,
        runs_dir: Path,
        data_dir: Path,
        device: torch.device = CPU,
        max_checkpoint_bytes: int = MAX_CHECKPOINT_BYTES,
        listing_wait_bytes: int = LISTING_WAIT_BYTES,
    ):
        self.runs_dir = Path(runs_dir)
        self.device = device  # where loaded models live
        # The server's own setting alone: a checkpoint never chooses where data is read.
        self.data_dir = Path(data_dir)
        self.max_checkpoint_bytes = max_checkpoint_bytes
        self.listing_wait_bytes = listing_wait_bytes
        self._loaded: dict[str, tuple[tuple, LoadedModel]] = {}
        # Why a checkpoint file could not be loaded, until the file changes: a broken
        # file is not read again on every listing. The reason alone is kept: an
        # exception's traceback would keep the file's bytes alive with its frames.
        self._failed: dict[str, tuple[tuple, str]] = {}
        self._datasets: dict[tuple, DataBundle] = {}
        self._lock = threading.Lock()
        self._model_locks: dict[str, threading.Lock] = {}
        self._dataset_locks: dict[tuple, threading.Lock] = {}
        self._loading: set[str] = set()  # ids whose checkpoint is being read now

    def ids(self) -> list[str]:
        return sorted(scan(self.runs_dir)[0])

    def load_all(self) -> tuple[list[LoadedModel], dict[str, str]]:
        """Every loadable model, and for the others the reason they cannot be loaded;
        models whose checkpoint is gone are unloaded."""
        runs, errors = scan(self.runs_dir)
        with self._lock:
            gone = (set(self._loaded) | set(self._failed)) - set(runs)
            for model_id in gone:
                self._forget(model_id)
        if gone:
            return_freed_memory()
        models = []
        for run in runs.values():
            try:
                found = self._listed(run)
            except CheckpointError as error:
                errors[run.id] = str(error)
                continue
            except UnknownModel:  # removed between the scan and the load
                continue
            if found is not None:
                models.append(found)
        return models, dict(sorted(errors.items()))

    def loading(self) -> list[str]:
        """The models whose checkpoint is being read or built now."""
        with self._lock:
            return sorted(self._loading)

    def _listed(self, run: Run) -> LoadedModel | None:
        """The run's model for a listing; None while it loads. A listing waits for no
        large checkpoint: a load of one runs in the background, and a model not loaded
        within LISTING_WAIT_S is listed by the next listing after it is. Small ones are
        loaded at once, so that a listing never misses them."""
        signature = self._signature(run)
        found = self._cached(run.id, signature)
        if found is not None:
            return found
        if signature[1] < self.listing_wait_bytes:
            return self._get(run)  # waits for a load another request began
        with self._lock:
            if run.id in self._loading:
                return None
        loader = threading.Thread(target=self._load_quietly, args=(run,), daemon=True)
        loader.start()
        loader.join(LISTING_WAIT_S)
        return None if loader.is_alive() else self._get(run)

    def _load_quietly(self, run: Run) -> None:
        """Load a run for the cache (the listing that started it reads the outcome)."""
        try:
            self._get(run)
        except (CheckpointError, UnknownModel):  # recorded, or gone: the listing says so
            pass

    def get(self, model_id: str) -> LoadedModel:
        if not is_model_id(model_id):
            raise UnknownModel(f"no model {shown(model_id)}: model ids are {MODEL_ID_RULE}")
        try:
            return self._get(self._located(model_id))
        except ReplacedModel:
            # A checkpoint replaced by a rename is missing for an instant: look again
            # once, so that a model that is there is not answered as absent.
            return self._get(self._located(model_id))

    def _located(self, model_id: str) -> Run:
        """The run of an id (see ``backend.runs``), or the 404 or refusal (409) for it."""
        found = locate(self.runs_dir, model_id)
        if isinstance(found, str):
            with self._lock:
                self._forget(model_id)
            raise CheckpointError(found)
        if found is None:
            raise self._gone(model_id)
        return found

    def _signature(self, run: Run) -> tuple:
        """The checkpoint's signature (a stat: never blocks, whatever the file), or the
        404 when it is not there."""
        try:
            return _file_signature(run.checkpoint)
        except OSError:
            raise self._gone(run.id) from None

    def _get(self, run: Run) -> LoadedModel:
        model_id, path = run.id, run.checkpoint
        signature = self._signature(run)
        found = self._cached(model_id, signature)
        if found is not None:
            return found
        with self._lock_of(self._model_locks, model_id):  # one load per model at a time
            found = self._cached(model_id, signature)
            if found is not None:
                return found
            reason = missing = None
            with self._lock:
                self._loading.add(model_id)
            try:
                loaded = self._load(model_id, path, run.group)
            except CheckpointMissing:  # removed since the stat: no model, not a bad one
                missing = True
            except CheckpointError as error:
                reason = str(error)
            finally:
                with self._lock:
                    self._loading.discard(model_id)
            if missing:
                raise self._gone(model_id)
            if reason is not None:
                # Raised here, outside the handler: an exception raised inside it would
                # keep the original, its traceback and the file's bytes as its context.
                with self._lock:
                    self._loaded.pop(model_id, None)
                    self._failed[model_id] = (signature, reason)
                return_freed_memory()
                raise CheckpointError(reason)
            with self._lock:
                self._failed.pop(model_id, None)
                self._loaded[model_id] = (signature, loaded)
            return_freed_memory()  # the file's bytes, and the version this one replaced
            return loaded

    def _lock_of(self, locks: dict, key) -> threading.Lock:
        """The lock of one model or dataset, made on first use (under the store's lock:
        two callers never get two locks for one key)."""
        with self._lock:
            return locks.setdefault(key, threading.Lock())

    def _cached(self, model_id: str, signature: tuple) -> LoadedModel | None:
        """The model loaded from a file of this signature; raises the reason a file of
        this signature was refused; None when the file is new or changed."""
        with self._lock:
            cached = self._loaded.get(model_id)
            if cached and cached[0] == signature:
                return cached[1]
            failed = self._failed.get(model_id)
        if failed and failed[0] == signature:
            raise CheckpointError(failed[1])
        return None

    def _gone(self, model_id: str) -> UnknownModel:
        """The 404 for a model whose checkpoint is not there; what was loaded from it
        is unloaded. Its message is true when the run is back already (a replacement)."""
        with self._lock:
            self._forget(model_id)
        known = self.ids()
        if model_id in known:
            return ReplacedModel(
                f"the checkpoint of model {model_id!r} was replaced or removed while it "
                "was read; ask again"
            )
        return UnknownModel(f"no model {model_id!r}; known: {', '.join(known) or 'none'}")

    def _forget(self, model_id: str) -> None:
        """Unload a model whose checkpoint is gone (the caller holds the store's lock)."""
        self._loaded.pop(model_id, None)
        self._failed.pop(model_id, None)
        self._model_locks.pop(model_id, None)

    def _load(self, model_id: str, path: Path, group: str | None) -> LoadedModel:
        """Load a checkpoint; whatever goes wrong is a CheckpointError about this file
        alone, so that one bad file never takes the other models down with it."""
        try:
            data = read_checkpoint_bytes(
                path, self.max_checkpoint_bytes, "CODINET_MAX_CHECKPOINT_BYTES", self.runs_dir
            )
            checkpoint = load_checkpoint(io.BytesIO(data), name=str(path))
            model = model_from_checkpoint(checkpoint)
            prep = checkpoint["preprocessing"]
            macs = mac_table(model, prep["image_size"], prep["channels"])
            model.to(self.device)
        except CheckpointMissing:
            raise
        except CheckpointError as error:
            log.warning("refused %s: %s", path, error)
            raise
        except Exception as error:  # the file passed the schema, yet the model fails
            log.warning("cannot load %s", path, exc_info=True)
            raise CheckpointError(
                f"{path} cannot be loaded: {type(error).__name__}: {error}"
            ) from None
        log.info("loaded %s (%s, %d gates)", path, checkpoint["arch"], model.num_gates)
        variant, seed = (group and parse_run_name(path.parent.name)) or (None, None)
        return LoadedModel(
            id=model_id,
            path=path,
            content_hash=hashlib.sha256(data).hexdigest(),
            meta={k: v for k, v in checkpoint.items() if k != "state_dict"},
            model=model,
            macs=macs,
            group=group,
            variant=variant,
            seed=seed,
        )

    def dataset(self, loaded: LoadedModel) -> DataBundle:
        """The dataset the model was trained on (raises trainer.data.DatasetError).
        Loaded under its own lock, not the store's: a cold load (seconds for CIFAR from
        disk) held every listing and every other model's lookup."""
        prep = loaded.preprocessing
        key = (prep["dataset"], prep["image_size"])
        with self._lock_of(self._dataset_locks, key):  # each key is read and set only here
            if key not in self._datasets:
                self._datasets[key] = load_dataset(
                    prep["dataset"], self.data_dir, prep["image_size"]
                )
            return self._datasets[key]


def split_of(bundle: DataBundle, split: str):
    """The dataset of a split name (validated by the caller against SPLITS)."""
    return bundle.test if split == "test" else bundle.train
