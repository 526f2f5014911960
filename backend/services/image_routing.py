"""One image routed: an upload or a dataset sample, along its own path or a forced one,
with its neighbours in a split and its places on that split's computed maps.

An upload is held for a while after it is routed (``HeldUploads``): routing it again,
with a block forced or once a map is computed, names it by its ``upload_id`` instead of
sending and decoding it again.
"""

import base64
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from backend.batching import Inputs, MicroBatcher
from backend.errors import InvalidInput, UnknownItem
from backend.images import Limits, PreparedUpload, network_input_png, prepare_upload, with_views
from backend.schemas import RouteResult, Routing, SampleRef, ViewPaths
from backend.services.neighbors import NearestImages
from backend.services.shared import Shared, check_split, client_path
from backend.services.splits import SplitResults
from backend.store import LoadedModel
from trainer.data import DatasetError
from trainer.paths import mean_view_hamming, path_strings

HELD_UPLOADS = 64  # uploads kept at once; each holds one small dataset-format image
HELD_SECONDS = 15 * 60  # how long after its last use an upload stays held


@dataclass
class _Held:
    model_id: str
    content_hash: str  # the model version the upload was prepared for
    upload: PreparedUpload
    used: float  # time.monotonic() of its last use


class HeldUploads:
    """Recent uploads by id, for the model version each was prepared for: at most
    ``HELD_UPLOADS``, each for ``HELD_SECONDS`` after its last use."""

    def __init__(self, capacity: int = HELD_UPLOADS, seconds: float = HELD_SECONDS):
        self.capacity, self.seconds = capacity, seconds
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, loaded: LoadedModel, upload: PreparedUpload) -> str:
        upload_id = secrets.token_hex(16)
        with self._lock:
            self._held[upload_id] = _Held(loaded.id, loaded.content_hash, upload, time.monotonic())
            self._forget_old()
        return upload_id

    def get(self, loaded: LoadedModel, upload_id: str) -> PreparedUpload:
        with self._lock:
            self._forget_old()
            held = self._held.get(upload_id)
            if held is None or held.model_id != loaded.id:
                raise UnknownItem(
                    f"no upload {upload_id[:40]!r} is held for {loaded.id} (uploads are "
                    f"kept {self.seconds // 60:.0f} minutes after their last use): post "
                    "the image again"
                )
            if held.content_hash != loaded.content_hash:
                del self._held[upload_id]
                raise UnknownItem(
                    f"{loaded.id}'s checkpoint changed since the upload: post the image again"
                )
            held.used = time.monotonic()
            self._held.move_to_end(upload_id)
            return held.upload

    def _forget_old(self) -> None:
        deadline = time.monotonic() - self.seconds
        while self._held and (
            len(self._held) > self.capacity or next(iter(self._held.values())).used < deadline
        ):
            self._held.popitem(last=False)


class ImageRouting:
    def __init__(self, shared: Shared, splits: SplitResults, neighbors: NearestImages):
        self.shared, self.splits, self.neighbors = shared, splits, neighbors
        self.batcher = MicroBatcher(shared.context.runtime)
        self.held = HeldUploads()

    def close(self) -> None:
        """End the models' inference threads with the server."""
        self.batcher.close()

    def upload(
        self,
        model_id: str,
        data: bytes,
        views: int = 0,
        split: str = "test",
        force_path: str | None = None,
    ) -> RouteResult:
        """An uploaded image's routing, or with ``force_path`` its forced routing; the
        upload is held, and the result names it (``upload_id``)."""
        settings = self.shared.settings
        loaded = self.shared.store.get(model_id)
        forced = _forced_path(loaded, force_path, views)
        check_split(split)
        limits = Limits(settings.max_image_pixels, settings.max_image_bytes)
        result, upload = self._route(
            loaded,
            lambda: prepare_upload(data, loaded.preprocessing, limits, views),
            forced,
            split,
        )
        return result.model_copy(
            update={"warnings": upload.warnings, "upload_id": self.held.keep(loaded, upload)}
        )

    def held_upload(
        self,
        model_id: str,
        upload_id: str,
        views: int = 0,
        split: str = "test",
        force_path: str | None = None,
    ) -> RouteResult:
        """A held upload routed again, as ``upload`` would route it."""
        loaded = self.shared.store.get(model_id)
        forced = _forced_path(loaded, force_path, views)
        check_split(split)
        upload = self.held.get(loaded, upload_id)
        result, _ = self._route(
            loaded, lambda: upload.with_views(loaded.preprocessing, views), forced, split
        )
        return result.model_copy(update={"warnings": upload.warnings, "upload_id": upload_id})

    def sample(
        self,
        model_id: str,
        split: str,
        sample_id: int,
        force_path: str | None = None,
        views: int = 0,
    ) -> RouteResult:
        """A dataset sample's routing (its own, or forced), probabilities included; with
        ``views``, that many augmented views of it routed by its own gates."""
        loaded = self.shared.store.get(model_id)
        forced = _forced_path(loaded, force_path, views)
        image, label = self.splits.sample(loaded, split, sample_id)
        result, _ = self._route(
            loaded, lambda: Inputs(with_views(image, loaded.preprocessing, views)), forced, split
        )
        reference = SampleRef(
            split=split,
            sample_id=sample_id,
            label=int(label),
            class_name=loaded.class_names[int(label)],
        )
        return result.model_copy(update={"sample": reference})

    def _route(self, loaded: LoadedModel, prepare, forced: np.ndarray | None, split: str):
        """Route the image ``prepare`` makes (then its views, if it makes any): the result
        for its own path, or for the forced path with its own prediction and path beside;
        and what ``prepare`` made."""
        (logits, paths), prepared = self.batcher.run(loaded.model, prepare)
        paths = paths.numpy()
        own = _routing(loaded, logits[0], paths[0])
        fields = {"forced": False}
        if forced is not None:
            image = Inputs(prepared.inputs[:1])
            (forced_logits, _), _ = self.batcher.run(
                loaded.model, lambda: image, torch.from_numpy(forced)
            )
            fields = {"forced": True, "unforced": own}
            own = _routing(loaded, forced_logits[0], forced)
        views = None
        if len(paths) > 1:
            views = ViewPaths(
                paths=path_strings(paths[1:]),
                mean_distance=mean_view_hamming(paths[None, 1:]),
                distances=(paths[1:] != paths[0]).sum(axis=1).tolist(),
            )
        path = forced if forced is not None else paths[0]
        result = RouteResult(
            model_id=loaded.id,
            split=split,
            **own.model_dump(),
            **fields,
            input_image=_data_url(network_input_png(prepared.inputs[0], loaded.preprocessing)),
            embedding={},
            neighbors=[],
            views=views,
        )
        try:
            table = self.splits.table(loaded, split)
        except DatasetError as error:
            # The prediction and path still stand.
            return result.model_copy(update={"dataset_error": str(error)}), prepared
        result.neighbors = self.neighbors.listed(loaded, table, path)
        for method, embedding in self.splits.computed_embeddings(loaded, split).items():
            result.embedding[method] = embedding.place(path)
            if result.views is not None:
                # The views on the map: how far apart routing puts one image's views.
                result.views.embedding[method] = [embedding.place(b) for b in paths[1:]]
        return result, prepared


def _forced_path(loaded: LoadedModel, force_path: str | None, views: int) -> np.ndarray | None:
    if force_path is None:
        return None
    if views:
        raise InvalidInput(
            "augmented views are routed by the network's own gates: ask for views "
            "without force_path"
        )
    return client_path(force_path, loaded.num_gates)


def _routing(loaded: LoadedModel, logits: torch.Tensor, path: np.ndarray) -> Routing:
    """Prediction, probabilities, path and cost of one image."""
    probabilities = logits.softmax(dim=0).numpy()
    prediction = int(probabilities.argmax())
    return Routing(
        prediction=prediction,
        class_name=loaded.class_names[prediction],
        probabilities=[round(float(p), 6) for p in probabilities],
        path=path_strings(path[None])[0],
        executed_blocks=int(path.sum()),
        macs=int(loaded.macs.per_sample(path[None])[0]),
        full_macs=int(loaded.macs.full),
    )


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
