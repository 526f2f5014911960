"""On-disk and in-process caching of derived results."""

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a cached array must be: numpy dtype kinds ("b" bool, "i"/"u" integers, "f"
# floats, "U" text) and a shape whose named dimensions agree across the arrays of a file.
ArraySpec = tuple[str, tuple[str | int, ...]]


def cache_key(*parts) -> str:
    """A short stable key for JSON-serialisable parts (hashes, names, parameters)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Write an .npz atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def load_arrays(
    path: Path, spec: dict[str, ArraySpec], dims: dict[str, int] | None = None
) -> dict[str, np.ndarray] | None:
    """The arrays of a cached .npz, or None when there is none to use.

    The cache holds only files this server wrote, yet a file can be cut short (a full
    disk, a copy interrupted) or left by another version: one that cannot be read, or
    lacks an array of ``spec`` or has it in another dtype or shape (``dims`` fixes named
    dimensions), is removed and reported as a miss, so that it is computed again.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        problem = _mismatch(arrays, spec, dict(dims or {}))
    except FileNotFoundError:
        return None
    except Exception as error:  # zip, zlib, format or header errors alike: unreadable
        problem = f"{type(error).__name__}: {error}"
    if problem:
        discard(path, problem)
        return None
    return arrays


def discard(path: Path, problem: str) -> None:
    """Remove an unusable cache file, saying why."""
    log.warning("cache file %s unreadable (%s): removed, to be computed again", path, problem)
    path.unlink(missing_ok=True)


def _mismatch(arrays: dict[str, np.ndarray], spec: dict[str, ArraySpec], sizes: dict) -> str:
    """How ``arrays`` depart from ``spec`` ('' when they do not)."""
    for name, (kinds, shape) in spec.items():
        if name not in arrays:
            return f"no array {name!r}"
        array = arrays[name]
        if array.dtype.kind not in kinds or array.ndim != len(shape):
            return f"{name} is {array.dtype} of shape {array.shape}"
        for dim, size in zip(shape, array.shape, strict=True):
            if size != (dim if isinstance(dim, int) else sizes.setdefault(dim, size)):
                return f"{name} has shape {array.shape}, expected {shape} with {sizes}"
    return ""


class ComputeOnce:
    """Memoise results by key; concurrent callers of one key share one computation."""

    def __init__(self):
        self._results: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str):
        return self._results.get(key)

    def get_or_compute(self, key: str, compute: Callable[[], T]) -> T:
        if key in self._results:
            return self._results[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._results:
                self._results[key] = compute()
            return self._results[key]
