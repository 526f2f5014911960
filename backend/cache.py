"""On-disk and in-process caching of derived results."""

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")


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


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cached .npz, or None if absent or unreadable (then recompute)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError):
        return None


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
