"""Paths recorded every epoch: how a run's routing space formed.

After each epoch's evaluation the trainer appends the path and the prediction of every
image of a fixed probe set of the test split (the whole split up to a cap, beyond it a
seeded sample stratified by class) to two files in the run folder:

``formation.json``, written once when the run starts: the probe's test indices and
labels, the number of gates and classes, and the size of one record.

``formation.bin``, one fixed-size record per epoch, appended and synced::

    epoch index (uint32, little-endian; 0-based, as in metrics.jsonl)
    paths       probe x ceil(G / 8) bytes: each image's G bits packed, input side first
    predictions probe x uint16
    crc32       (uint32) of the bytes above

Fixed-size, checksummed records make the file append-safe: a record cut short by a
kill is shorter than the others, one damaged on disk fails its checksum, and the
reader keeps the records before either. A resumed run first cuts the file back to the
epochs its ``last.pt`` holds, so an epoch is never recorded twice nor skipped. The
file's size per epoch is stated in docs/training.md.

The server reads these files as written by a stranger: ``read_formation`` checks every
field and bounds every read.
"""

import json
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.checkpoint import completed_epochs
from trainer.files import RefusedFile, open_regular
from trainer.paths import unique_paths

log = logging.getLogger(__name__)

HEADER = "formation.json"
RECORDS = "formation.bin"
FORMAT = "codinet-formation"
VERSION = 1
MAX_HEADER_BYTES = 8 * 2**20  # a probe of 100,000 images takes about 1.3 MB
MAX_RECORD_BYTES = 512 * 2**20  # far above 200 epochs x 10,000 images x 1,000 gates
_EPOCH = np.dtype("<u4")
_PREDICTION = np.dtype("<u2")
_CRC = np.dtype("<u4")
MAX_CLASSES = np.iinfo(_PREDICTION).max + 1
# The share of images whose path no longer changes that a run's settling epoch names.
SETTLED_SHARE = 0.9


class FormationError(ValueError):
    """Recorded paths that cannot be read; the message says why."""


def probe_indices(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted test indices of the probe set: every image when there are at most ``cap``,
    else ``cap`` of them drawn per class in proportion to the class's size (the largest
    remainders rounding up), seeded."""
    labels = np.asarray(labels)
    if len(labels) <= cap:
        return np.arange(len(labels), dtype=np.int64)
    classes, sizes = np.unique(labels, return_counts=True)
    shares = sizes * cap / len(labels)
    taken = np.floor(shares).astype(np.int64)
    by_remainder = np.argsort(-(shares - taken), kind="stable")
    taken[by_remainder[: cap - taken.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=n, replace=False)
        for c, n in zip(classes, taken, strict=True)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@dataclass(frozen=True)
class Layout:
    """What one record holds, and its size in bytes."""

    images: int
    num_gates: int

    @property
    def path_bytes(self) -> int:
        return self.images * ((self.num_gates + 7) // 8)

    @property
    def record_bytes(self) -> int:
        return (
            _EPOCH.itemsize + self.path_bytes + self.images * _PREDICTION.itemsize + _CRC.itemsize
        )

    def encode(self, epoch: int, paths: np.ndarray, predictions: np.ndarray) -> bytes:
        body = (
            np.array([epoch], dtype=_EPOCH).tobytes()
            + np.packbits(np.asarray(paths, dtype=bool), axis=1).tobytes()
            + np.asarray(predictions).astype(_PREDICTION).tobytes()
        )
        return body + np.array([zlib.crc32(body)], dtype=_CRC).tobytes()

    def decode(self, record: bytes) -> tuple[int, np.ndarray, np.ndarray] | None:
        """(epoch index, (images, G) paths, (images,) predictions); None when the record
        fails its checksum."""
        body, crc = record[: -_CRC.itemsize], record[-_CRC.itemsize :]
        if zlib.crc32(body) != int(np.frombuffer(crc, dtype=_CRC)[0]):
            return None
        epoch = int(np.frombuffer(body[: _EPOCH.itemsize], dtype=_EPOCH)[0])
        packed = np.frombuffer(
            body[_EPOCH.itemsize : _EPOCH.itemsize + self.path_bytes], dtype=np.uint8
        )
        paths = np.unpackbits(packed.reshape(self.images, -1), axis=1, count=self.num_gates)
        predictions = np.frombuffer(body[_EPOCH.itemsize + self.path_bytes :], dtype=_PREDICTION)
        return epoch, paths.astype(bool), predictions.astype(np.int64)


@dataclass(frozen=True)
class Formation:
    """A run's recorded epochs: ``paths[e]`` and ``predictions[e]`` are those of the
    probe images after completed epoch ``epochs[e]`` (1-based, increasing)."""

    probe: np.ndarray  # (N,) test indices
    labels: np.ndarray  # (N,)
    num_classes: int
    epochs: np.ndarray  # (E,)
    paths: np.ndarray  # (E, N, G) bool
    predictions: np.ndarray  # (E, N)
    skipped_bytes: int  # trailing bytes not read: a record cut short or damaged


class FormationRecorder:
    """Appends one record per epoch to a run folder's ``formation.bin``."""

    def __init__(self, run_dir: Path, probe: np.ndarray, layout: Layout):
        self.path = Path(run_dir) / RECORDS
        self.probe = probe
        self.layout = layout

    @classmethod
    def start(
        cls,
        run_dir: Path,
        test_labels: np.ndarray,
        num_gates: int,
        num_classes: int,
        cap: int,
        seed: int,
        start_epoch: int,
    ) -> "FormationRecorder":
        """A recorder for a run starting at ``start_epoch``: a new run writes a new
        header and no records; a resumed one keeps its header (and so its probe, even if
        the cap changed) and the records of the epochs before ``start_epoch``."""
        run_dir = Path(run_dir)
        if num_classes > MAX_CLASSES:
            raise ValueError(f"paths can be recorded for at most {MAX_CLASSES} classes")
        test_labels = np.asarray(test_labels)
        if start_epoch > 0 and (run_dir / HEADER).exists():
            header = _read_header(run_dir / HEADER)
            if header["num_gates"] != num_gates or max(header["probe"]) >= len(test_labels):
                raise FormationError(
                    f"{run_dir / HEADER} was recorded for another model or test split; "
                    "remove formation.json and formation.bin to record anew"
                )
            recorder = cls(
                run_dir, np.asarray(header["probe"]), Layout(len(header["probe"]), num_gates)
            )
            recorder._keep_before(start_epoch)
            return recorder
        probe = probe_indices(test_labels, cap, seed)
        layout = Layout(len(probe), num_gates)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "num_gates": num_gates,
            "num_classes": num_classes,
            "record_bytes": layout.record_bytes,
            "probe": probe.tolist(),
            "labels": test_labels[probe].tolist(),
        }
        tmp = run_dir / f".{HEADER}.tmp"
        tmp.write_text(json.dumps(header))
        os.replace(tmp, run_dir / HEADER)
        (run_dir / RECORDS).unlink(missing_ok=True)
        log.info(
            "recording the paths of %d test images each epoch (%s), %d bytes an epoch",
            len(probe),
            RECORDS,
            layout.record_bytes,
        )
        return cls(run_dir, probe, layout)

    def record(self, epoch: int, paths: np.ndarray, predictions: np.ndarray) -> None:
        """Append epoch ``epoch`` (0-based): ``paths`` (test images, G) and
        ``predictions`` (test images,) of the whole test split, in its order."""
        record = self.layout.encode(epoch, paths[self.probe], predictions[self.probe])
        with open(self.path, "ab") as f:
            f.write(record)
            f.flush()
            os.fsync(f.fileno())

    def _keep_before(self, start_epoch: int) -> None:
        """Cut the file after its last whole, valid record of an epoch < ``start_epoch``."""
        if not self.path.exists():
            return
        size = self.layout.record_bytes
        keep = 0
        with open(self.path, "rb") as f:
            while record := f.read(size):
                decoded = self.layout.decode(record) if len(record) == size else None
                if decoded is None or decoded[0] >= start_epoch:
                    break
                keep += size
        with open(self.path, "r+b") as f:
            f.truncate(keep)


def read_formation(run_dir: Path, max_bytes: int = MAX_RECORD_BYTES) -> Formation | None:
    """The recorded epochs of a run folder; None when nothing was recorded there.
    FormationError when the files are not what ``FormationRecorder`` writes."""
    run_dir = Path(run_dir)
    if not (run_dir / HEADER).is_file():
        return None
    header = _read_header(run_dir / HEADER)
    layout = Layout(len(header["probe"]), header["num_gates"])
    if header["record_bytes"] != layout.record_bytes:
        raise FormationError(f"{HEADER}: record_bytes does not match its probe and gates")
    data = _read_bounded(run_dir / RECORDS, max_bytes)
    size = layout.record_bytes
    epochs, paths, predictions = [], [], []
    offset = 0
    while offset + size <= len(data):
        decoded = layout.decode(data[offset : offset + size])
        if decoded is None or (epochs and decoded[0] <= epochs[-1]):
            break
        if decoded[2].size and decoded[2].max() >= header["num_classes"]:
            break
        epochs.append(decoded[0])
        paths.append(decoded[1])
        predictions.append(decoded[2])
        offset += size
    images, gates = layout.images, layout.num_gates
    return Formation(
        probe=np.asarray(header["probe"], dtype=np.int64),
        labels=np.asarray(header["labels"], dtype=np.int64),
        num_classes=header["num_classes"],
        epochs=np.array([completed_epochs(e) for e in epochs], dtype=np.int64),
        paths=np.stack(paths) if paths else np.zeros((0, images, gates), dtype=bool),
        predictions=np.stack(predictions) if predictions else np.zeros((0, images), np.int64),
        skipped_bytes=len(data) - offset,
    )


# -- what follows from recorded paths, given as (epochs, images) ids of distinct paths --
def path_changes(path_ids: np.ndarray, labels: np.ndarray, classes: int):
    """Per epoch, the share of images whose path differs from the previous epoch's
    (None at the first), overall and per class (None for a class without images)."""
    changed = path_ids[1:] != path_ids[:-1]  # (E - 1, N); a run has an epoch at least
    overall = [None, *changed.mean(axis=1).tolist()]
    per_class = []
    for c in range(classes):
        members = labels == c
        if not members.any():
            per_class.append([None] * len(path_ids))
            continue
        per_class.append([None, *changed[:, members].mean(axis=1).tolist()])
    return overall, per_class


def settling(path_ids: np.ndarray) -> np.ndarray:
    """(N,) for each image the index of the epoch from which its path stays the last
    epoch's to the end."""
    differs = path_ids != path_ids[-1]  # (E, N)
    last_different = np.where(
        differs.any(axis=0), len(path_ids) - 1 - np.argmax(differs[::-1], axis=0), -1
    )
    return last_different + 1


def settled_shares(settle_index: np.ndarray, epochs: int) -> list[float]:
    """Per epoch, the share of images whose path no longer changes from it on."""
    return [float((settle_index <= e).mean()) for e in range(epochs)]


def settled_epoch(formation: Formation, share: float = SETTLED_SHARE) -> int | None:
    """The first recorded epoch from which ``share`` of the probe images keep their path
    to the last recorded epoch; None when nothing was recorded."""
    if not len(formation.epochs):
        return None
    gates = formation.paths.shape[2]
    ids = unique_paths(formation.paths.reshape(-1, gates))[2].reshape(formation.paths.shape[:2])
    shares = settled_shares(settling(ids), len(ids))
    return int(formation.epochs[next(e for e, s in enumerate(shares) if s >= share)])


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, refused beyond ``max_bytes``; empty when it is missing."""
    try:
        with open_regular(path) as (f, size):
            data = f.read(max_bytes + 1) if size <= max_bytes else None
    except FileNotFoundError:
        return b""
    except RefusedFile as error:
        raise FormationError(str(error)) from None
    if data is None or len(data) > max_bytes:
        raise FormationError(f"{path.name} is larger than the {max_bytes:,} bytes read at most")
    return data


def _read_header(path: Path) -> dict:
    try:
        header = json.loads(_read_bounded(path, MAX_HEADER_BYTES))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise FormationError(f"{path.name} is not JSON") from None
    problem = _header_problem(header)
    if problem:
        raise FormationError(f"{path.name}: {problem}")
    return header


def _header_problem(header) -> str | None:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return f"not a {FORMAT} header"
    if header.get("version") != VERSION:
        return f"version {header.get('version')!r}; this version reads {VERSION}"
    for name, low, high in (
        ("num_gates", 1, 4096),
        ("num_classes", 1, MAX_CLASSES),
        ("record_bytes", 1, MAX_RECORD_BYTES),
    ):
        value = header.get(name)
        if type(value) is not int or not low <= value <= high:
            return f"{name} must be a whole number in [{low}, {high}]"
    probe, labels = header.get("probe"), header.get("labels")
    if not isinstance(probe, list) or not isinstance(labels, list) or not probe:
        return "probe and labels must be non-empty lists"
    if len(probe) != len(labels):
        return "probe and labels differ in length"
    if not all(type(i) is int and i >= 0 for i in probe) or len(set(probe)) != len(probe):
        return "probe must hold distinct non-negative whole numbers"
    if not all(type(c) is int and 0 <= c < header["num_classes"] for c in labels):
        return "labels must be whole numbers below num_classes"
    return None
