"""On-disk and in-process caching of derived results, each bounded in size.

Every request parameter that changes a result (an embedding's perplexity, say) makes a
new cache entry, so neither the folder nor the memory may grow with the requests: both
drop their least recently used entries beyond a size.
"""

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a cached array must be: numpy dtype kinds ("b" bool, "i"/"u" integers, "f"
# floats, "U" text) and a shape whose named dimensions agree across the arrays of a file.
ArraySpec = tuple[str, tuple[str | int, ...]]


# A file being written: ``.<name>.<pid>.<thread>.tmp`` beside the file it becomes.
TMP_GLOB = "*/.*.tmp"


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Write an .npz atomically: a reader never sees half a file, and a write that fails
    (a full disk) leaves no partial file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _writer_is_gone(tmp: Path) -> bool:
    """Whether the process that was writing a temporary file has ended (its pid is in
    the name): such a file is an orphan of a killed process, never to be renamed."""
    try:
        pid = int(tmp.name.rsplit(".", 3)[1])
    except (IndexError, ValueError):
        return True  # not a name this cache gives
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


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


class DiskCache:
    """Arrays in .npz files under ``root``, at most ``max_bytes`` of them.

    Using a file (saving or loading it) sets its modification time; beyond the bound,
    the files used longest ago are removed first.
    """

    def __init__(self, root: Path, max_bytes: int):
        self.root, self.max_bytes = Path(root), max_bytes
        self._trim_lock = threading.Lock()
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Remove the temporary files of writers killed mid-write (kill -9, a crash):
        nothing else ever would, and the size bound would count them for good."""
        for tmp in self.root.glob(TMP_GLOB):
            if _writer_is_gone(tmp):
                tmp.unlink(missing_ok=True)
                log.info("removed %s, left by a writer that ended", tmp)

    def load(
        self, name: str, spec: dict[str, ArraySpec], dims: dict[str, int] | None = None
    ) -> dict[str, np.ndarray] | None:
        """The arrays of ``root/name`` (see ``load_arrays``), or None."""
        path = self.root / name
        arrays = load_arrays(path, spec, dims)
        if arrays is not None:
            _touch(path)
        return arrays

    def save(self, name: str, **arrays: np.ndarray) -> bool:
        """Write ``root/name``; False when it cannot be written (a full or read-only
        disk), which is logged: the caller still has the result and answers with it,
        uncached, rather than failing a request or a job over the cache."""
        path = self.root / name
        try:
            save_arrays(path, **arrays)
        except OSError as error:
            log.warning(
                "cache file %s not written (%s): the result is served uncached", path, error
            )
            return False
        self._trim(keep=path)
        return True

    def discard(self, name: str, problem: str) -> None:
        discard(self.root / name, problem)

    def _trim(self, keep: Path) -> None:
        with self._trim_lock:
            files = []
            # Only the cache's own layout (one folder per kind of result), so that a
            # cache folder set to a place holding other files never loses them; files
            # being written count too (a writer that loses its file just does not cache).
            for path in [*self.root.glob("*/*.npz"), *self.root.glob(TMP_GLOB)]:
                try:
                    stat = path.stat()
                except FileNotFoundError:  # removed meanwhile
                    continue
                files.append((stat.st_mtime_ns, stat.st_size, path))
            total = sum(size for _, size, _ in files)
            for _, size, path in sorted(files, key=lambda f: f[0]):
                if total <= self.max_bytes:
                    break
                if path != keep:  # the newest file stays, even alone over the bound
                    path.unlink(missing_ok=True)
                    total -= size
                    log.info("cache over %d bytes: removed %s", self.max_bytes, path)


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:  # removed since it was read: it was still read whole
        pass


def approximate_size(value) -> int:
    """The bytes of the arrays and byte strings inside a value: the bulk of what a
    cached result holds (its Python objects are counted as nothing)."""
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(approximate_size(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(approximate_size(v) for v in value)
    if is_dataclass(value):
        return sum(approximate_size(getattr(value, f.name)) for f in fields(value))
    return 0


class LruCache:
    """A thread-safe mapping that keeps at most ``max_entries`` values and ``max_bytes``
    (by ``approximate_size``), dropping the least recently used first. The newest value
    is always kept."""

    def __init__(self, max_bytes: int, max_entries: int = 1000):
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._values: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str):
        """The value, or None when absent."""
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return None
            self._values.move_to_end(key)
            return found[0]

    def put(self, key: str, value) -> None:
        size = approximate_size(value)
        with self._lock:
            old = self._values.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._values[key] = (value, size)
            self._bytes += size
            while len(self._values) > 1 and (
                self._bytes > self.max_bytes or len(self._values) > self.max_entries
            ):
                _, (_, dropped) = self._values.popitem(last=False)
                self._bytes -= dropped


class ComputeOnce:
    """Memoise results by key in an LruCache; concurrent callers of one key share one
    computation."""

    def __init__(self, memory: LruCache):
        self._results = memory
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str):
        return self._results.get(key)

    def get_or_compute(self, key: str, compute: Callable[[], T]) -> T:
        found = self._results.get(key)
        if found is not None:
            return found
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        try:
            with lock:
                found = self._results.get(key)
                if found is None:
                    found = compute()
                    self._results.put(key, found)
                return found
        finally:
            with self._guard:  # one lock per key being computed, not per key ever asked
                if self._locks.get(key) is lock:
                    del self._locks[key]
