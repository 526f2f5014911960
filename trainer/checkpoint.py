"""Checkpoints: plain data that rebuild the model, written atomically, loaded safely."""

import io
import os
import pickle
import re
from pathlib import Path

import torch

from trainer.checkpoint_schema import schema_problem
from trainer.data import load_dataset
from trainer.files import RefusedFile, open_regular
from trainer.models import create_model, list_models

FORMAT_VERSION = 1
MAX_CHECKPOINT_BYTES = 4 * 1024**3  # the default bound; an ImageNet ResNet-101 is under 200 MB
REQUIRED_KEYS = (
    "format_version",
    "arch",
    "model_args",
    "class_names",
    "preprocessing",
    "state_dict",
)


class CheckpointError(RuntimeError):
    """A file is not a checkpoint this version can load; the message says why."""


class CheckpointMissing(CheckpointError):
    """The file is not there (any more): a server treats that as no model, not a bad one."""


def build_checkpoint(model, class_names, preprocessing, metrics, config, epoch) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "arch": model.arch,
        "model_args": dict(model.model_args),
        "stage_blocks": list(model.stage_blocks),
        "num_gates": model.num_gates,
        "class_names": list(class_names),
        "preprocessing": dict(preprocessing),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": dict(metrics),
        "config": dict(config),
        "epoch": epoch,
    }


def save_run(model, dataset: str, out: str | Path, data_dir: str | Path = "data") -> Path:
    """``model`` (built by ``create_model``, with whatever weights it holds) saved as the
    run folder ``out``, with the class names and preprocessing of ``dataset``: what a
    researcher's own network needs to be served. Returns the checkpoint written."""
    bundle = load_dataset(dataset, data_dir)
    target = Path(out) / "checkpoint.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = build_checkpoint(model, bundle.class_names, bundle.preprocessing, {}, {}, 0)
    save_atomic(checkpoint, target)
    return target


def completed_epochs(epoch_index: int) -> int:
    """The 0-based epoch index the training loop counts with, and stores in checkpoints
    and ``metrics.jsonl`` -> the epochs completed, as shown everywhere ("epoch 20/20")."""
    return epoch_index + 1


def epochs_trained(checkpoint: dict) -> int:
    """How many epochs the saved weights were trained for (the index is absent in
    hand-made files)."""
    return completed_epochs(checkpoint.get("epoch", 0))


def save_atomic(obj: dict, path: str | Path) -> None:
    """Write to a temporary file, then rename: readers never see half a checkpoint."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def read_checkpoint_bytes(
    path: str | Path,
    limit: int,
    setting: str,
    within: str | Path | None = None,
) -> bytes:
    """The file's bytes, if it is a regular file of at most ``limit`` bytes (and, with
    ``within``, one that lies inside that folder once every link is followed).

    Opened without blocking and checked on the opened descriptor (``trainer.files``),
    so a file swapped for a FIFO or a link to a device after any earlier check is
    refused too, and at most ``limit`` + 1 bytes are ever read; ``setting`` names what
    sets the limit, for the message.
    """
    try:
        with open_regular(path, within) as (f, size):
            if size > limit:
                raise CheckpointError(
                    f"{path} is {size:,} bytes; checkpoints may have at most {limit:,} ({setting})"
                )
            data = f.read(limit + 1)
    except FileNotFoundError:  # removed since whatever check found it
        raise CheckpointMissing(f"{path} does not exist") from None
    except RefusedFile as error:
        raise CheckpointError(str(error)) from None
    if len(data) > limit:  # grew while being read
        raise CheckpointError(f"{path} is over {limit:,} bytes ({setting})")
    return data


def load_checkpoint(source: str | Path | io.BytesIO, name: str | None = None) -> dict:
    """Load and validate a checkpoint from a path, or from bytes already read (``name``
    then says where they came from, for messages)."""
    if isinstance(source, io.BytesIO):
        path = name or "checkpoint"
    else:
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"{path} does not exist")
    try:
        checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if found:
            raise CheckpointError(
                f"{path} contains a pickled Python object ({found.group(1)}) and is refused: "
                "checkpoints must be plain data (loaded with weights_only=True)"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt or not torch.save)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable checkpoint: {error}") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} is not a CoDiNet checkpoint (no dict inside)")
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing:
        raise CheckpointError(f"{path} is not a CoDiNet checkpoint (missing {', '.join(missing)})")
    if checkpoint["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {checkpoint['format_version']}; "
            f"this version reads {FORMAT_VERSION}"
        )
    if checkpoint["arch"] not in list_models():
        raise CheckpointError(
            f"{path} uses architecture {checkpoint['arch']!r}, which this version does not "
            f"know; known: {', '.join(list_models())}"
        )
    problem = schema_problem(checkpoint)
    if problem:
        raise CheckpointError(f"{path} is not a valid checkpoint: {problem}")
    return checkpoint


def model_from_checkpoint(checkpoint: dict) -> torch.nn.Module:
    """Rebuild the model in eval mode with its trained weights."""
    model = create_model(checkpoint["arch"], **checkpoint["model_args"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"weights do not fit {checkpoint['arch']}: {error}") from None
    return model.eval()
