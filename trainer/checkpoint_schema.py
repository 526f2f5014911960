"""What each field of a checkpoint must hold, checked before anything is built from it.

A checkpoint is data from whoever wrote the file. ``torch.load(weights_only=True)``
guarantees plain containers, numbers, strings and tensors, not that they have the
shapes the code expects: a list where a dict belongs, an unknown model argument or a
missing image size would otherwise fail later, far from the file, or build a model of
absurd size. Bounds are generous for any real model.
"""

import inspect
import math

import torch

from trainer.data import DATASETS
from trainer.models.registry import model_arguments

MAX_IMAGE_SIZE = 512  # the model's cost is measured at this size when it is loaded
MAX_CLASSES = 100_000
MAX_GATE_HIDDEN = 1024  # gate widths are 16 in every recipe; each gate is C x hidden


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return _is_int(value) or isinstance(value, float)


def _has_type(value, expected: type) -> bool:
    if expected is int:
        return _is_int(value)
    if expected is float:
        return _is_number(value)
    return isinstance(value, expected)


def _int_within(value, low: int, high: int) -> bool:
    return _is_int(value) and low <= value <= high


def schema_problem(checkpoint: dict) -> str | None:
    """The first way the checkpoint's fields depart from the schema, or None.

    The caller has checked that the required keys are present and the architecture is
    known.
    """
    args = checkpoint["model_args"]
    if not isinstance(args, dict):
        return f"model_args must be a dict, not {type(args).__name__}"
    accepted = model_arguments(checkpoint["arch"])
    unknown = sorted(repr(k) for k in args if k not in accepted)
    if unknown:
        return (
            f"model_args has unknown argument(s) {', '.join(unknown)}; "
            f"{checkpoint['arch']} accepts {', '.join(accepted)}"
        )
    for name, value in args.items():
        expected = accepted[name].annotation
        if not _has_type(value, expected):
            return f"model_args.{name} must be {expected.__name__}, not {value!r}"
    model = {name: args.get(name, p.default) for name, p in accepted.items()}
    missing = sorted(name for name, value in model.items() if value is inspect.Parameter.empty)
    if missing:
        return f"model_args lacks {', '.join(missing)}, which {checkpoint['arch']} requires"
    if not 1 <= model.get("num_classes", 1) <= MAX_CLASSES:
        return f"model_args.num_classes must be from 1 to {MAX_CLASSES:,}"
    if not 1 <= model.get("gate_hidden", 1) <= MAX_GATE_HIDDEN:
        return f"model_args.gate_hidden must be from 1 to {MAX_GATE_HIDDEN}"

    names = checkpoint["class_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return "class_names must be a list of strings"
    if len(names) != model["num_classes"]:
        return f"class_names has {len(names)} names for {model['num_classes']} classes"

    problem = _preprocessing_problem(checkpoint["preprocessing"])
    if problem:
        return f"preprocessing.{problem}"
    channels = checkpoint["preprocessing"]["channels"]
    if model.get("in_channels", channels) != channels:  # for networks that take it
        return "model_args.in_channels differs from preprocessing.channels"

    origin = checkpoint.get("origin", {})
    if not isinstance(origin, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in origin.items()
    ):
        return "origin must map names to strings"
    for key in ("metrics", "config"):
        if key in checkpoint and not isinstance(checkpoint[key], dict):
            return f"{key} must be a dict, not {type(checkpoint[key]).__name__}"
    metrics = checkpoint.get("metrics", {})
    if not all(isinstance(k, str) and (v is None or _is_number(v)) for k, v in metrics.items()):
        return "metrics must map names to numbers"
    if "epoch" in checkpoint and not _int_within(checkpoint["epoch"], 0, 10**9):
        return f"epoch must be a non-negative int, not {checkpoint['epoch']!r}"
    state = checkpoint["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        return "state_dict must map parameter names to tensors"
    return None


def _preprocessing_problem(prep) -> str | None:
    """What is wrong with a preprocessing dict (a message starting with its key)."""
    if not isinstance(prep, dict):
        return f"must be a dict, not {type(prep).__name__}"
    if prep.get("dataset") not in DATASETS:
        return f"dataset must be one of {', '.join(DATASETS)}, not {prep.get('dataset')!r}"
    size = prep.get("image_size")
    if not _int_within(size, 1, MAX_IMAGE_SIZE):
        return f"image_size must be an int from 1 to {MAX_IMAGE_SIZE}, not {size!r}"
    channels = prep.get("channels")
    if not _is_int(channels) or channels not in (1, 3):
        return f"channels must be 1 or 3, not {channels!r}"
    for key in ("mean", "std"):
        values = prep.get(key)
        if not (
            isinstance(values, list)
            and len(values) == channels
            and all(_is_number(v) and math.isfinite(v) for v in values)
        ):
            return f"{key} must be a list of {channels} finite number(s), not {values!r}"
    if not all(s > 0 for s in prep["std"]):
        return "std must be positive"
    if prep["dataset"] == "imagefolder" and not _int_within(
        prep.get("resize"), size, 2 * MAX_IMAGE_SIZE
    ):
        return f"resize must be an int from image_size to {2 * MAX_IMAGE_SIZE}"
    if "source_size" in prep and not _int_within(prep["source_size"], 1, MAX_IMAGE_SIZE):
        return f"source_size must be an int from 1 to {MAX_IMAGE_SIZE}"
    return None
