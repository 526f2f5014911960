"""``python -m trainer import``: a checkpoint written by one of the field's public
codebases becomes an ordinary run folder the server serves like any other.

The original file is a pickle from whoever trained it. It is read without running
code (``weights_only=True``, with an allowlist of the plain numpy types old training
scripts saved beside their tensors), converted by its family's module, checked against
the network and the dataset it is imported for, and only then written: a refused file
writes nothing.
"""

import hashlib
import io
import logging
import pickle
import pickletools
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from numpy._core.multiarray import scalar

from trainer.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    CheckpointError,
    build_checkpoint,
    read_checkpoint_bytes,
    save_atomic,
)
from trainer.config import TrainConfig
from trainer.data import CIFAR10_CLASSES, DataBundle, DatasetError, load_dataset
from trainer.evaluate import evaluate_model
from trainer.field import families
from trainer.field.common import Converted, Family, ImportRefused
from trainer.models import create_model

log = logging.getLogger(__name__)

# Old training scripts saved numpy scalars (best accuracy, a loss) next to the weights;
# these rebuild such scalars and nothing else.
# numpy 1 pickled them as numpy.core.multiarray.scalar, numpy 2 as numpy._core.
_NUMPY_SCALARS = [(scalar, "numpy.core.multiarray.scalar"), scalar, np.dtype] + [
    type(np.dtype(kind)) for kind in ("float64", "float32", "int64", "int32", "bool")
]
# Class names of the datasets whose names are fixed; others come from the data on disk.
KNOWN_CLASSES = {
    "cifar10": CIFAR10_CLASSES,
    "svhn": [str(digit) for digit in range(10)],
}
# Where the class names of the others lie under --data-dir.
CLASS_FILES = {
    "cifar100": "{data}/cifar-100-python/ (its train, test and meta files)",
    # The four codebases read ImageNet with torchvision's ImageFolder, as the loader
    # here does: class i is the i-th folder name in sorted order.
    "imagefolder": "{data}/train/ and {data}/val/, each with a folder of images per "
    "class (ImageNet's 1000 are named by WordNet id, n01440764/ to n15075141/)",
}
# The image side each dataset is served at; an imported network must have been built
# for it (a CIFAR ResNet has no stem for 224x224 images, nor the reverse).
INPUT_SIZES = {"cifar10": 32, "cifar100": 32, "svhn": 32, "imagefolder": 224}
ALIASES = {"imagenet": "imagefolder"}


def read_original(source: str | Path | io.BytesIO, name: str | None = None) -> object:
    """The object a public codebase saved with ``torch.save``, read without running code."""
    name = name or str(source)
    try:
        with torch.serialization.safe_globals(_NUMPY_SCALARS):
            return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to read an untrusted file is a refusal
        # A file cut short or corrupted fails wherever its bytes lead: in struct (a
        # number cut short), in an assertion or a type error of the unpickler.
        reason = _why_unreadable(_contents(source), name, error)
    raise ImportRefused(reason)  # outside the handler: no context holding the file


_ZIP = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6; the older one is pickles


def _contents(source: str | Path | io.BytesIO) -> bytes:
    return source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()


def _why_unreadable(data: bytes, name: str, error: Exception) -> str:
    """A refusal's sentence for a file torch.load failed on: cut short, holding a
    pickled object, or no checkpoint at all."""
    found = f"found {len(data):,} bytes"
    if _cut_inside_pickle(data):
        return (
            f"{name} is truncated: expected a whole checkpoint as torch.save writes it, "
            f"{found} that end inside its pickled data"
        )
    global_name = re.search(r"GLOBAL ([\w.]+)", str(error))
    if isinstance(error, pickle.UnpicklingError) and global_name:
        return (
            f"{name} holds a pickled Python object ({global_name.group(1)}) and is "
            "refused: only tensors, numbers, strings and containers are read from an "
            "imported file"
        )
    return (
        f"{name} is not a readable PyTorch checkpoint (truncated, or not written by "
        f"torch.save): expected a whole file as torch.save writes it, {found} that fail "
        f"to load ({_own_words(error)})"
    )


def _own_words(error: Exception) -> str:
    """The error in one line, without torch's advice to load the file unsafely."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation")[0]
    return f"{type(error).__name__}: {' '.join(text.split())}"


def _cut_inside_pickle(data: bytes) -> bool:
    """Whether ``data`` ends inside one of the pickles the older torch.save format writes
    before the weights (magic number, protocol, system information, the object, its
    storages' keys). Walking the opcodes runs nothing; a pickle that runs out of bytes
    stops at the end, one with a bad opcode before it."""
    if data.startswith(_ZIP):
        return False  # the zip reader names a cut itself
    stream = io.BytesIO(data)
    for _ in range(5):
        if stream.tell() == len(data):
            return False  # the bytes end between pickles: not a cut inside one
        try:
            for _ in pickletools.genops(stream):
                pass
        except ValueError:
            return stream.tell() == len(data)
    return False


def family_named(source: str) -> Family:
    known = families()
    if source not in known:
        raise ImportRefused(f"unknown --from {source!r}; known: {', '.join(known)}")
    return known[source]


def import_checkpoint(
    source: str,
    path: str | Path,
    dataset: str,
    out: str | Path,
    arch: str | None = None,
    data_dir: str | Path = "data",
) -> Path:
    """Import ``path`` (written by the ``source`` codebase) as the run folder ``out``;
    returns the checkpoint written. Raises ImportRefused before writing anything."""
    family = family_named(source)
    path, out = Path(path), Path(out)
    target = out / "checkpoint.pt"
    if target.exists():
        raise ImportRefused(f"{target} exists already: choose another --out")
    data = _read_bytes(path)
    converted = family.convert(read_original(io.BytesIO(data), str(path)), arch)
    # What the dataset asks of the network first: a refusal need not wait for the
    # network to be built (an ImageNet ResNet-101 takes seconds).
    name = _served_as(family, converted, dataset)
    bundle, class_names, preprocessing = _dataset_facts(
        family, converted, dataset, name, Path(data_dir)
    )
    model = build_network(converted, family)
    classes = model.model_args.get("num_classes")
    if classes != len(class_names):
        raise ImportRefused(
            f"the network has {classes} classes, {dataset} has {len(class_names)}: "
            f"this {family.title} checkpoint was not trained on {dataset}"
        )
    # The trainer's figures for the model table, measured as it measures them, when the
    # dataset is on disk (else the server measures them when asked).
    metrics = (
        {} if bundle is None else _evaluated(model, replace(bundle, preprocessing=preprocessing))
    )
    checkpoint = build_checkpoint(
        model,
        class_names,
        preprocessing,
        metrics=metrics,
        config={"imported_from": family.name, "arch": converted.arch},
        epoch=0,
    )
    checkpoint["origin"] = {
        "family": family.name,
        "title": family.title,
        "repository": family.repository,
        "source_file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_atomic(checkpoint, target)
    log.info("imported %s (%s, %d routed blocks) into %s", path, family.title, model.num_gates, out)
    return target


def _read_bytes(path: Path) -> bytes:
    try:
        return read_checkpoint_bytes(path, MAX_CHECKPOINT_BYTES, "the importer's bound")
    except CheckpointError as error:
        reason = str(error)
    raise ImportRefused(reason)  # outside the handler: no context holding the bytes


def build_network(converted: Converted, family: Family) -> torch.nn.Module:
    """The rebuilt network with the converted weights (strictly), in eval mode."""
    try:
        model = create_model(converted.arch, **converted.model_args)
        model.load_state_dict(converted.state_dict)
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        raise ImportRefused(
            f"the weights do not fit {family.title}'s {converted.arch}: {error}"
        ) from None
    return model.eval()


def _evaluated(model: torch.nn.Module, bundle: DataBundle) -> dict:
    """Accuracy, cost and routing measures on the test split, as the trainer saves them."""
    config = TrainConfig(dataset=bundle.preprocessing["dataset"], device="cpu", workers=0)
    return evaluate_model(model, bundle, config)


def _served_as(family: Family, converted: Converted, dataset: str) -> str:
    """``--dataset``'s name here (imagenet is an imagefolder), once the network is
    known to be built for the images that dataset is served at."""
    name = ALIASES.get(dataset, dataset)
    if name not in INPUT_SIZES:
        raise ImportRefused(
            f"--dataset {dataset!r} cannot be imported into; choose one of "
            f"{', '.join([*INPUT_SIZES, *ALIASES])}"
        )
    size, built = INPUT_SIZES[name], converted.input_size
    if built != size:
        kind = "a CIFAR" if built == 32 else "an ImageNet"
        raise ImportRefused(
            f"--dataset {dataset} expects a network built for its {size}x{size} images, "
            f"found {kind} {family.title} network, built for {built}x{built} images: "
            f"this checkpoint was not trained on {dataset}"
        )
    return name


def _dataset_facts(
    family: Family, converted: Converted, dataset: str, name: str, data_dir: Path
) -> tuple[DataBundle | None, list[str], dict]:
    """The dataset when it is on disk, its class names, and its preprocessing normalised
    as ``family`` did."""
    size = INPUT_SIZES[name]
    try:
        bundle = load_dataset(name, data_dir, size)
        class_names, preprocessing = bundle.class_names, dict(bundle.preprocessing)
    except DatasetError as error:
        if name not in KNOWN_CLASSES:
            layout = CLASS_FILES[name].format(data=data_dir)
            raise ImportRefused(
                f"--dataset {dataset} takes the network's class names from its files: "
                f"expected {layout}; {error}"
            ) from None
        bundle = None
        class_names = KNOWN_CLASSES[name]
        preprocessing = {"dataset": name, "image_size": size, "channels": 3}
    mean, std = converted.normalization or family.normalization.get(name, (None, None))
    if mean is not None:
        preprocessing.update(mean=[float(m) for m in mean], std=[float(s) for s in std])
    if "mean" not in preprocessing:
        raise ImportRefused(f"{family.title} states no normalisation for {dataset}")
    if name == "imagefolder":
        preprocessing.setdefault("resize", 256)
    return bundle, list(class_names), preprocessing
