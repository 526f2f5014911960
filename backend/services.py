"""The explorer's operations, free of HTTP: routers translate these to responses.

Routers call ``Explorer`` alone. Its operations refuse a request by raising the error
types of ``backend.errors`` (and the trainer's ``CheckpointError`` and ``DatasetError``
for files the server cannot use), which ``app.py`` maps to HTTP statuses.
"""

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from backend import keys
from backend.analysis import class_metrics
from backend.batching import MicroBatcher
from backend.cache import ComputeOnce, DiskCache, LruCache
from backend.embeddings import (
    DEFAULT_PARAMS,
    METHODS,
    Embedding,
    embed_paths,
    load_embedding,
    place_path,
    resolve_params,
    save_embedding,
)
from backend.errors import InvalidInput, UnknownItem
from backend.extraction import PathTable, augmented_view_paths, extract_paths
from backend.formation import (
    ServedFormation,
    compute_formation,
    load_formation,
    read_recorded,
    save_formation,
)
from backend.groups import group_summaries
from backend.ids import shown
from backend.images import (
    decode_image,
    domain_warnings,
    needed_side,
    network_input_png,
    thumbnail_png,
    to_dataset_format,
)
from backend.importance import cached_sums, compute_sums, importance_table
from backend.jobs import Job, JobManager
from backend.settings import Settings
from backend.store import SPLITS, LoadedModel, ModelStore, split_of
from trainer.checkpoint import epochs_trained
from trainer.data import DatasetError, build_transform
from trainer.engine import ViewProtocol
from trainer.measures import upgrade_metrics
from trainer.models.registry import import_model_modules
from trainer.paths import mean_view_hamming, parse_path, path_strings
from trainer.training_log import loss_weights, read_training_log

log = logging.getLogger(__name__)

# Of an embedding job that must route the split first, the share of its progress bar
# the routing takes: on the CPU it is most of the wait (15 of 18 s for 10,000 CIFAR
# images through ResNet-56).
ROUTING_SHARE = 0.6

# What routers use. ``Job`` is what an operation that computes in the background returns
# until its result is ready; routers answer it with 202.
__all__ = ["Explorer", "Job", "PathsResult", "EmbeddingResult", "ServedEmbedding"]


@dataclass
class PathsResult:
    key: str  # identifies the model content, split and extraction (backend.keys)
    table: PathTable


@dataclass
class EmbeddingResult:
    key: str  # identifies the model content, split, method and parameters
    embedding: Embedding
    reducer: object | None


@dataclass
class ServedEmbedding:
    """An embedding as one request serves it. ``table()`` is the split's paths from the
    checkpoint the embedding was read for: the same version from start to end, never a
    newer file the store loaded meanwhile (an encoded map with another model's
    predictions would be cached under this version's key)."""

    result: EmbeddingResult
    table: Callable[[], PathTable]

    @property
    def key(self) -> str:
        return self.result.key

    @property
    def embedding(self) -> Embedding:
        return self.result.embedding


class Explorer:
    def __init__(self, settings: Settings):
        self.settings = settings
        import_model_modules(settings.model_modules)
        # Where every model lives and routes (uploads, splits, views, importance).
        self.runtime = settings.runtime()
        self.cache = DiskCache(settings.resolved_cache_dir, settings.cache_max_bytes)
        self.store = ModelStore(
            settings.runs_dir,
            settings.data_dir,
            self.runtime.device,
            settings.max_checkpoint_bytes,
        )
        self.jobs = JobManager(workers=1, max_queued=settings.max_queued_jobs)
        self.batcher = MicroBatcher(self.runtime)
        # One memory budget for everything kept: path tables, embeddings and encoded
        # responses (their keys are hashes of distinct parts, so they never collide).
        self._memory = LruCache(settings.memory_cache_max_bytes)
        self._payloads = ComputeOnce(self._memory)  # encoded responses of cached results
        self._paths = ComputeOnce(self._memory)
        self.warmup = "off"  # the embedding code's compilation: off, running, done, failed

    # -- the server and its models ------------------------------------------------
    @property
    def max_upload_bytes(self) -> int:
        return self.settings.max_upload_bytes

    @property
    def body_timeout_s(self) -> float:
        return self.settings.body_timeout_s

    def health(self) -> dict:
        models, errors = self.store.load_all()
        return {
            "status": "ok",
            "models": len(models),
            "unloadable": errors,
            "loading": self.store.loading(),
            "runs_dir": str(self.store.runs_dir),
            "warmup": self.warmup,
            "device": str(self.runtime.device),
            "execution": self.runtime.execution,
            "execution_by_batch_size": {
                str(size): self.runtime.mode_for(size) for size in (1, self.settings.batch_size)
            },
        }

    def models(self) -> list[dict]:
        """Every loadable model's description (the runs directory rescanned)."""
        models, _ = self.store.load_all()
        return [_description(m) for m in models]

    def model(self, model_id: str) -> dict:
        return _description(self.store.get(model_id))

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise UnknownItem(f"no job {shown(job_id)}")
        return job

    def encoded(self, parts: tuple, encode: Callable[[], object]):
        """A response encoded once and kept in memory: ``parts`` name the result's key
        and whatever else the encoding depends on (model id, format)."""
        return self._payloads.get_or_compute(keys.payload(*parts), encode)

    # -- routing of a split -------------------------------------------------------
    def paths(self, model_id: str, split: str) -> PathsResult:
        loaded = self.store.get(model_id)
        return PathsResult(keys.paths(loaded.content_hash, split), self._paths_of(loaded, split))

    def _paths_of(
        self, loaded: LoadedModel, split: str, progress: Callable[[float], None] | None = None
    ) -> PathTable:
        """The split's routing: from memory, the disk cache (which ``python -m backend
        extract`` fills too), or routed now, ``progress`` hearing each batch."""
        _check_split(split)
        name = keys.paths(loaded.content_hash, split)
        return self._paths.get_or_compute(
            name,
            lambda: extract_paths(
                self.store,
                loaded,
                split,
                self.cache,
                name,
                self.settings.batch_size,
                progress,
                runtime=self.runtime,
            ),
        )

    # -- embeddings ---------------------------------------------------------------
    def embedding(
        self, model_id: str, split: str, method: str, params: dict
    ) -> ServedEmbedding | Job:
        """The embedding if computed (memory or disk), else the job computing it."""
        loaded = self.store.get(model_id)
        _check_split(split)
        params = resolve_params(method, params)
        key = keys.embedding(loaded.content_hash, split, method, params)
        found = self._cached_embedding(key)
        if found is not None:
            return ServedEmbedding(found, lambda: self._paths_of(loaded, split))
        self.store.dataset(loaded)  # a missing dataset is the caller's error now, not the job's

        def compute(progress):
            progress(0.02)
            routed = []  # the fractions of the split routed, when it is routed now

            def routing(fraction):
                routed.append(fraction)
                progress(0.02 + ROUTING_SHARE * fraction)

            table = self._paths_of(loaded, split, routing)
            # The embedding's own progress runs from 0.1 to 1; it takes what is left.
            start = 0.02 + ROUTING_SHARE if routed else 0.1
            progress(start)
            embedding, reducer = embed_paths(
                table.paths,
                method,
                params,
                lambda f: progress(start + (1 - start) * (f - 0.1) / 0.9),
            )
            save_embedding(self.cache, key, embedding, reducer)
            self._memory.put(key, EmbeddingResult(key, embedding, reducer))
            log.info("%s embedding of %s/%s ready", method, model_id, split)

        return self.jobs.submit(key, f"{method} of {model_id}/{split}", compute)

    def _cached_embedding(self, key: str) -> EmbeddingResult | None:
        found = self._memory.get(key)
        if found is not None:
            return found
        loaded = load_embedding(self.cache, key)
        if loaded is None:
            return None
        result = EmbeddingResult(key, *loaded)
        self._memory.put(key, result)
        return result

    def computed_embeddings(self, loaded: LoadedModel, split: str) -> dict[str, EmbeddingResult]:
        """The default-parameter embeddings of a model's split that exist already."""
        found = {}
        for method in METHODS:
            result = self._cached_embedding(
                keys.embedding(loaded.content_hash, split, method, DEFAULT_PARAMS[method])
            )
            if result is not None:
                found[method] = result
        return found

    # -- metrics ------------------------------------------------------------------
    def metrics(self, model_id: str, split: str) -> dict:
        """Overall and per-class measures of a split, with the model's class names."""
        loaded = self.store.get(model_id)
        table = self._paths_of(loaded, split)
        protocol = ViewProtocol(self.settings.eval_views, self.settings.view_images_per_class)
        name = keys.views(loaded.content_hash, split, asdict(protocol))
        views = self._paths.get_or_compute(
            name,
            lambda: augmented_view_paths(
                self.store,
                loaded,
                split,
                protocol,
                self.cache,
                name,
                self.settings.batch_size,
                self.runtime,
            ),
        )
        result = class_metrics(table, loaded.class_names, views)
        result["overall"]["full_macs"] = int(loaded.macs.full)
        result["view_protocol"] = asdict(protocol)
        return {"model_id": model_id, "split": split, "class_names": loaded.class_names, **result}

    # -- training curves ----------------------------------------------------------
    def training(self, model_id: str) -> dict:
        """The run's metrics per epoch (its ``metrics.jsonl``), epochs counted from 1."""
        loaded = self.store.get(model_id)
        rows, skipped = read_training_log(loaded.path.parent / "metrics.jsonl")
        return {
            "model_id": model_id,
            "checkpoint_epoch": epochs_trained(loaded.meta),
            "epochs": rows,
            "loss_weights": loss_weights(loaded.meta.get("config", {})),
            "skipped_lines": skipped,
        }

    # -- formation over epochs ----------------------------------------------------
    def formation(self, model_id: str, method: str) -> ServedFormation | Job:
        """The run's recorded epochs embedded in one layout, with per-epoch measures
        (``backend.formation``); the job computing them when they are not yet."""
        loaded = self.store.get(model_id)
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
        recorded, digest = read_recorded(
            loaded.path.parent, model_id, loaded.num_gates, len(loaded.class_names)
        )
        key = keys.formation(digest, method)
        found = self._memory.get(key) or load_formation(self.cache, key)
        if found is not None:
            self._memory.put(key, found)
            return ServedFormation(model_id, found, loaded.class_names, epochs_trained(loaded.meta))

        def compute(progress):
            self._memory.put(key, result := compute_formation(key, recorded, method, progress))
            save_formation(self.cache, result)
            log.info("formation of %s (%s) ready", model_id, method)

        return self.jobs.submit(key, f"formation of {model_id} ({method})", compute)

    # -- block importance ---------------------------------------------------------
    def importance(self, model_id: str, split: str) -> dict | Job:
        """Per class and block, accuracy and confidence with that block flipped (see
        ``backend.importance``); the job computing it when it is not computed yet."""
        loaded = self.store.get(model_id)
        _check_split(split)
        key = keys.importance(loaded.content_hash, split)
        found = self._memory.get(key)
        if found is None:
            found = cached_sums(self.cache, key, loaded)
        if found is not None:
            self._memory.put(key, found)
            return {
                "model_id": model_id,
                "split": split,
                "class_names": loaded.class_names,
                "gates": loaded.num_gates,
                **importance_table(*found),
            }
        self.store.dataset(loaded)  # a missing dataset is the caller's error now, not the job's

        def compute(progress):
            found = compute_sums(
                self.store,
                loaded,
                split,
                self.cache,
                key,
                self.settings.batch_size,
                progress,
                self.runtime,
            )
            self._memory.put(key, found)
            log.info("block importance of %s/%s ready", model_id, split)

        return self.jobs.submit(key, f"block importance of {model_id}/{split}", compute)

    def groups(self) -> list[dict]:
        """Summaries over seeds of the ablations among the runs."""
        models, _ = self.store.load_all()
        return group_summaries(models)

    # -- samples ------------------------------------------------------------------
    def thumbnail(self, model_id: str, split: str, sample_id: int, size: int) -> bytes:
        """A dataset sample's image as PNG, its longer side ``size`` pixels."""
        return thumbnail_png(self._sample(self.store.get(model_id), split, sample_id)[0], size)

    def _sample(self, loaded: LoadedModel, split: str, sample_id: int):
        _check_split(split)
        data = split_of(self.store.dataset(loaded), split)
        if not 0 <= sample_id < len(data):
            raise UnknownItem(
                f"no sample {sample_id} in {loaded.id}/{split} (ids run from 0 to {len(data) - 1})"
            )
        return data[sample_id]

    # -- routing one image --------------------------------------------------------
    def route(
        self,
        model_id: str,
        data: bytes,
        views: int,
        split: str = "test",
        force_path: str | None = None,
    ) -> dict:
        """An uploaded image's routing, or with ``force_path`` its forced routing."""
        loaded = self.store.get(model_id)
        forced = _forced_path(loaded, force_path)
        if forced is not None and views:
            raise InvalidInput(
                "augmented views are routed by the network's own gates: ask for "
                "views without force_path"
            )
        warnings: list[str] = []
        response = self._route(
            loaded,
            lambda: self._upload_inputs(data, loaded.preprocessing, views, warnings),
            forced,
            split,
        )
        return {**response, "warnings": warnings}

    def route_sample(
        self,
        model_id: str,
        split: str,
        sample_id: int,
        force_path: str | None = None,
        views: int = 0,
    ) -> dict:
        """A dataset sample's routing (its own, or forced), probabilities included; with
        ``views``, that many augmented views of it routed by its own gates."""
        loaded = self.store.get(model_id)
        forced = _forced_path(loaded, force_path)
        if forced is not None and views:
            raise InvalidInput(
                "augmented views are routed by the network's own gates: ask for "
                "views without force_path"
            )
        image, label = self._sample(loaded, split, sample_id)
        response = self._route(
            loaded, lambda: _with_views(image, loaded.preprocessing, views), forced, split
        )
        response["sample"] = {
            "split": split,
            "sample_id": sample_id,
            "label": int(label),
            "class_name": loaded.class_names[int(label)],
        }
        return response

    def _route(self, loaded: LoadedModel, prepare, forced: np.ndarray | None, split: str) -> dict:
        """Route the image ``prepare`` makes (then its views, if it makes any): the result
        for its own path, or for the forced path with its own prediction and path beside."""
        prepared = []
        logits, paths = self.batcher.run(loaded.model, lambda: _kept(prepare(), prepared))
        paths = paths.numpy()
        own = _routing(loaded, logits[0], paths[0])
        response = {
            "model_id": loaded.id,
            "split": split,
            **own,
            "forced": False,
            "input_image": _data_url(network_input_png(prepared[0][0], loaded.preprocessing)),
        }
        if forced is not None:
            forced_logits, _ = self.batcher.run(
                loaded.model, lambda: prepared[0][:1], torch.from_numpy(forced)
            )
            response = {
                **response,
                **_routing(loaded, forced_logits[0], forced),
                "forced": True,
                "unforced": own,
            }
        if len(paths) > 1:
            response["views"] = {
                "paths": path_strings(paths[1:]),
                "mean_distance": mean_view_hamming(paths[None, 1:]),
                "distances": (paths[1:] != paths[0]).sum(axis=1).tolist(),
                "embedding": {},
            }
        path = forced if forced is not None else paths[0]
        response.update(embedding={}, neighbors=[])
        try:
            table = self._paths_of(loaded, split)
        except DatasetError as error:
            response["dataset_error"] = str(error)  # prediction and path still stand
            return response
        response["neighbors"] = self._neighbors(loaded, table, path)
        for method, result in self.computed_embeddings(loaded, split).items():
            response["embedding"][method] = _placement(result, path)
            if len(paths) > 1:
                # The views on the map: how far apart routing puts one image's views.
                views = [_placement(result, bits) for bits in paths[1:]]
                response["views"]["embedding"][method] = views
        return response

    def _upload_inputs(
        self, data: bytes, prep: dict, views: int, warnings: list[str]
    ) -> torch.Tensor:
        """The upload as the model's input, then ``views`` augmented views of it; why the
        upload may be far from the training images goes to ``warnings``."""
        image = decode_image(
            data, self.settings.max_image_pixels, self.settings.max_image_bytes, needed_side(prep)
        )
        warnings.extend(domain_warnings(image, prep))
        return _with_views(to_dataset_format(image, prep), prep, views)

    def _neighbors(self, loaded: LoadedModel, table: PathTable, path: np.ndarray) -> list[dict]:
        distances = (table.paths != path).sum(axis=1)
        order = np.lexsort((table.sample_ids, distances))[: self.settings.neighbors]
        return [
            {
                "sample_id": int(i),
                "label": int(table.labels[i]),
                "class_name": loaded.class_names[table.labels[i]],
                "prediction": int(table.predictions[i]),
                "distance": int(distances[i]),
                "path": path_strings(table.paths[i][None])[0],
            }
            for i in order
        ]

    def start_warm_up(self) -> None:
        """Warm up in a background thread; ``warmup`` says how far it got."""

        def run():
            self.warmup = "running"
            try:
                self.warm_up()
                self.warmup = "done"
            except Exception:  # warm-up is an optimisation; a failure must not stop serving
                log.exception("warm-up failed")
                self.warmup = "failed"

        threading.Thread(target=run, name="warmup", daemon=True).start()

    def warm_up(self) -> None:
        """Compile UMAP's numba code (seconds on first use) before anyone waits for it."""
        rng = np.random.default_rng(0)
        paths = rng.random((64, 12)) > 0.5
        embedding, reducer = embed_paths(paths, "umap", {})
        place_path(embedding, reducer, ~paths[0])
        log.info("embedding code warmed up")

    def close(self) -> None:
        self.jobs.shutdown()


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _kept(inputs: torch.Tensor, store: list) -> torch.Tensor:
    store.append(inputs)
    return inputs


def _forced_path(loaded: LoadedModel, force_path: str | None) -> np.ndarray | None:
    if force_path is None:
        return None
    try:
        return parse_path(force_path, loaded.num_gates)
    except ValueError as error:  # says what a path is
        raise InvalidInput(str(error)) from None


def _description(loaded: LoadedModel) -> dict:
    """What a client is told about a model (``schemas.ModelInfo``)."""
    meta, prep = loaded.meta, loaded.preprocessing
    return {
        "id": loaded.id,
        "arch": meta["arch"],
        "model_args": meta["model_args"],
        "family": loaded.model.family,
        "conditional": loaded.model.conditional,
        "origin": meta.get("origin"),
        "dataset": prep["dataset"],
        "num_classes": len(loaded.class_names),
        "class_names": loaded.class_names,
        "num_gates": loaded.num_gates,
        "stage_blocks": loaded.model.stage_blocks,
        "image_size": prep["image_size"],
        "channels": prep["channels"],
        "full_macs": loaded.macs.full,
        # An imported network's epochs are those of the codebase that trained it.
        "epoch": None if "origin" in meta else epochs_trained(meta),
        "metrics": upgrade_metrics(meta.get("metrics", {})),
        "content_hash": loaded.content_hash,
        "group": loaded.group,
        "variant": loaded.variant,
        "seed": loaded.seed,
    }


def _routing(loaded: LoadedModel, logits: torch.Tensor, path: np.ndarray) -> dict:
    """Prediction, probabilities, path and cost of one image."""
    probabilities = logits.softmax(dim=0).numpy()
    prediction = int(probabilities.argmax())
    return {
        "prediction": prediction,
        "class_name": loaded.class_names[prediction],
        "probabilities": [round(float(p), 6) for p in probabilities],
        "path": path_strings(path[None])[0],
        "executed_blocks": int(path.sum()),
        "macs": int(loaded.macs.per_sample(path[None])[0]),
        "full_macs": int(loaded.macs.full),
    }


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidInput(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


def _with_views(source, prep: dict, views: int) -> torch.Tensor:
    """An image in its dataset's raw format as the model's input, then ``views``
    augmented views of it (the training augmentation), the same ones for the same image."""
    batch = [build_transform(prep, train=False)(source)]
    if views:
        augment = build_transform(prep, train=True)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            batch += [augment(source) for _ in range(views)]
    return torch.stack(batch)


def _placement(result, bits: np.ndarray) -> dict:
    """A path's point on a computed map, and how it was placed."""
    (x, y), placement = place_path(result.embedding, result.reducer, bits)
    return {"x": x, "y": y, "placement": placement}
