"""Every cache key of the server: one function per kind of cached result.

A kind's key is the file's name in the cache folder, ``<kind>/<...>.npz`` (the folder's
layout, see ``backend.cache.DiskCache``), and the same text keys it in memory, so the
kinds never collide. Each kind carries a version: a change to what computes it (routing
extraction, preprocessing, a layout's algorithm, a response's encoding) bumps its
version below, so that results computed before are never served after the upgrade; the
old files are unused from then on, and the cache folder's size bound removes them.
"""

import hashlib
import json

VERSIONS = {
    "paths": 1,  # backend.extraction.extract_paths, the eval preprocessing
    "views": 1,  # backend.extraction.augmented_view_paths, the train augmentation
    "embeddings": 3,  # backend.embeddings: the layouts and their saved arrays
    "importance": 2,  # backend.importance
    "formation": 1,  # backend.formation: the measures per epoch and the shared layout
    "payloads": 1,  # the encoded JSON and CSV responses (backend.api.encoding)
}


def digest(*parts) -> str:
    """A short stable digest of JSON-serialisable parts (hashes, names, parameters)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _file(kind: str, content_hash: str, split: str, *parameters) -> str:
    """``<kind>/<checkpoint>-<split>-v<version>[-<parameters>].npz``: the checkpoint's
    content and the split stay readable in the name."""
    name = f"{content_hash[:32]}-{split}-v{VERSIONS[kind]}"
    if parameters:
        name += "-" + digest(*parameters)
    return f"{kind}/{name}.npz"


def paths(content_hash: str, split: str) -> str:
    """Every sample's routing of a split (a ``PathTable``)."""
    return _file("paths", content_hash, split)


def views(content_hash: str, split: str, protocol: dict) -> str:
    """The paths of a view protocol's augmented views."""
    return _file("views", content_hash, split, protocol)


def embedding(content_hash: str, split: str, method: str, params: dict) -> str:
    """An embedding of a split's paths, by method and its full parameters."""
    return _file("embeddings", content_hash, split, method, params)


def importance(content_hash: str, split: str) -> str:
    """The block importance sums of a split."""
    return _file("importance", content_hash, split)


def formation(recording_digest: str, method: str) -> str:
    """A run's formation (``backend.formation``): its recorded paths' digest names it,
    whatever model file lies beside them."""
    return _file("formation", recording_digest, "test", method)


def payload(*parts) -> str:
    """An encoded response (in memory only): ``parts`` name the result it encodes (its
    key), and whatever else the response depends on (model id, format)."""
    return f"payloads/v{VERSIONS['payloads']}-{digest(*parts)}"
