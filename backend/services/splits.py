"""Results derived from a model's split: its routing, embeddings, measures, block
importance, the formation of its run, and its samples.

Each is computed once and kept (memory, then the disk cache); what takes long is
computed as a job, and the operation returns the ``Job`` until the result is ready.
"""

import logging
from collections.abc import Callable
from dataclasses import asdict

from backend import keys
from backend.analysis import class_metrics
from backend.cache import ComputeOnce
from backend.embeddings import (
    DEFAULT_PARAMS,
    METHODS,
    embed_paths,
    load_embedding,
    resolve_params,
    save_embedding,
)
from backend.errors import InvalidInput, UnknownItem
from backend.extraction import PathTable, augmented_view_paths, extract_paths, view_protocol
from backend.formation import (
    ServedFormation,
    compute_formation,
    load_formation,
    read_recorded,
    save_formation,
)
from backend.images import thumbnail_png
from backend.importance import cached_sums, compute_sums, importance_table
from backend.jobs import Job
from backend.schemas import BlockImportance, Metrics
from backend.services.results import EmbeddingResult, PathsResult, ServedEmbedding
from backend.services.shared import Shared, check_split
from backend.store import LoadedModel, split_of
from trainer.checkpoint import epochs_trained

log = logging.getLogger(__name__)

# Of an embedding job that must route the split first, the share of its progress bar
# the routing takes: on the CPU it is most of the wait (15 of 18 s for 10,000 CIFAR
# images through ResNet-56).
ROUTING_SHARE = 0.6


class SplitResults:
    def __init__(self, shared: Shared):
        self.shared = shared
        self._tables = ComputeOnce(shared.memory)  # path tables and views' paths

    # -- routing of a split -------------------------------------------------------
    def paths(self, model_id: str, split: str) -> PathsResult:
        loaded = self.shared.store.get(model_id)
        key = keys.paths(loaded.content_hash, split)
        return PathsResult(key, self.table(loaded, split), model_id, split)

    def table(
        self, loaded: LoadedModel, split: str, progress: Callable[[float], None] | None = None
    ) -> PathTable:
        """The split's routing: from memory, the disk cache (which ``python -m backend
        extract`` fills too), or routed now, ``progress`` hearing each batch."""
        check_split(split)
        name = keys.paths(loaded.content_hash, split)
        context = self.shared.context
        return self._tables.get_or_compute(
            name, lambda: extract_paths(context, loaded, split, name, progress)
        )

    # -- embeddings ---------------------------------------------------------------
    def embedding(
        self, model_id: str, split: str, method: str, params: dict
    ) -> ServedEmbedding | Job:
        """The embedding if computed (memory or disk), else the job computing it."""
        shared = self.shared
        loaded = shared.store.get(model_id)
        check_split(split)
        params = resolve_params(method, params)
        key = keys.embedding(loaded.content_hash, split, method, params)
        found = self._cached_embedding(key)
        if found is not None:
            return ServedEmbedding(found, lambda: self.table(loaded, split), model_id, split)
        shared.store.dataset(loaded)  # a missing dataset is the caller's error now, not the job's

        def compute(progress):
            progress(0.02)
            routed = []  # the fractions of the split routed, when it is routed now

            def routing(fraction):
                routed.append(fraction)
                progress(0.02 + ROUTING_SHARE * fraction)

            table = self.table(loaded, split, routing)
            # The embedding's own progress runs from 0.1 to 1; it takes what is left.
            start = 0.02 + ROUTING_SHARE if routed else 0.1
            progress(start)
            embedding, reducer = embed_paths(
                table.paths,
                method,
                params,
                lambda f: progress(start + (1 - start) * (f - 0.1) / 0.9),
            )
            save_embedding(shared.context.cache, key, embedding, reducer)
            shared.memory.put(key, EmbeddingResult(key, embedding, reducer))
            log.info("%s embedding of %s/%s ready", method, model_id, split)

        return shared.jobs.submit(key, f"{method} of {model_id}/{split}", compute)

    def _cached_embedding(self, key: str) -> EmbeddingResult | None:
        found = self.shared.memory.get(key)
        if found is not None:
            return found
        loaded = load_embedding(self.shared.context.cache, key)
        if loaded is None:
            return None
        result = EmbeddingResult(key, *loaded)
        self.shared.memory.put(key, result)
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

    # -- measures -----------------------------------------------------------------
    def metrics(self, model_id: str, split: str) -> Metrics:
        """Overall and per-class measures of a split, with the model's class names."""
        settings, context = self.shared.settings, self.shared.context
        loaded = context.store.get(model_id)
        table = self.table(loaded, split)
        protocol = view_protocol(loaded, settings)
        name = keys.views(loaded.content_hash, split, asdict(protocol))
        views = self._tables.get_or_compute(
            name, lambda: augmented_view_paths(context, loaded, split, protocol, name)
        )
        result = class_metrics(table, loaded.class_names, views)
        result["overall"]["full_macs"] = int(loaded.macs.full)
        return Metrics(
            model_id=model_id,
            split=split,
            class_names=loaded.class_names,
            view_protocol=asdict(protocol),
            **result,
        )

    # -- block importance ---------------------------------------------------------
    def importance(self, model_id: str, split: str) -> BlockImportance | Job:
        """Per class and block, accuracy and confidence with that block flipped (see
        ``backend.importance``); the job computing it when it is not computed yet."""
        shared, context = self.shared, self.shared.context
        loaded = context.store.get(model_id)
        check_split(split)
        key = keys.importance(loaded.content_hash, split)
        found = shared.memory.get(key) or cached_sums(context.cache, key, loaded)
        if found is not None:
            shared.memory.put(key, found)
            return BlockImportance(
                model_id=model_id,
                split=split,
                class_names=loaded.class_names,
                gates=loaded.num_gates,
                **importance_table(*found),
            )
        context.store.dataset(loaded)  # a missing dataset is the caller's error now

        def compute(progress):
            shared.memory.put(key, compute_sums(context, loaded, split, key, progress))
            log.info("block importance of %s/%s ready", model_id, split)

        return shared.jobs.submit(key, f"block importance of {model_id}/{split}", compute)

    # -- formation over epochs ----------------------------------------------------
    def formation(self, model_id: str, method: str) -> ServedFormation | Job:
        """The run's recorded epochs embedded in one layout, with per-epoch measures
        (``backend.formation``); the job computing them when they are not yet."""
        shared, cache = self.shared, self.shared.context.cache
        loaded = shared.store.get(model_id)
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
        recorded, digest = read_recorded(
            loaded.path.parent, model_id, loaded.num_gates, len(loaded.class_names)
        )
        key = keys.formation(digest, method)
        found = shared.memory.get(key) or load_formation(cache, key)
        if found is not None:
            shared.memory.put(key, found)
            return ServedFormation(model_id, found, loaded.class_names, epochs_trained(loaded.meta))

        def compute(progress):
            shared.memory.put(key, result := compute_formation(key, recorded, method, progress))
            save_formation(cache, result)
            log.info("formation of %s (%s) ready", model_id, method)

        return shared.jobs.submit(key, f"formation of {model_id} ({method})", compute)

    # -- samples ------------------------------------------------------------------
    def thumbnail(self, model_id: str, split: str, sample_id: int, size: int) -> bytes:
        """A dataset sample's image as PNG, its longer side ``size`` pixels."""
        loaded = self.shared.store.get(model_id)
        return thumbnail_png(self.sample(loaded, split, sample_id)[0], size)

    def sample(self, loaded: LoadedModel, split: str, sample_id: int):
        """A dataset sample, its image in the dataset's raw format, and its label."""
        check_split(split)
        data = split_of(self.shared.store.dataset(loaded), split)
        if not 0 <= sample_id < len(data):
            raise UnknownItem(
                f"no sample {sample_id} in {loaded.id}/{split} (ids run from 0 to {len(data) - 1})"
            )
        return data[sample_id]
