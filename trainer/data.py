"""Datasets, their preprocessing, and multi-view sampling.

Every dataset is loaded as raw images (uint8 tensors or PIL images) plus labels;
transforms are built from a plain ``preprocessing`` dict that the checkpoint stores,
so that a new image can later be preprocessed exactly as in evaluation.
"""

import logging
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

log = logging.getLogger(__name__)

DATASETS = ("digits", "cifar10", "cifar100", "svhn", "imagefolder")

_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
# What CIFAR-10's batches.meta names its classes, in label order.
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
_CIFAR_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


class DatasetError(RuntimeError):
    """A dataset is missing or malformed; the message says how to fix it."""


@dataclass
class DataBundle:
    train: Dataset
    test: Dataset
    class_names: list[str]
    preprocessing: dict  # plain data, stored in checkpoints


class TensorImages(Dataset):
    """uint8 images (N, C, H, W) with integer labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.images[index], int(self.labels[index])


class ViewsDataset(Dataset):
    """Each item is ``views`` independently transformed copies of one image.

    Items are (views, C, H, W); after batching, flattening the first two dimensions
    puts the views of an image next to each other, as the path regulariser expects.
    With a ``seed``, item i's views are drawn from a generator seeded by (seed, i):
    the same views whatever the batch size, the loader's workers or the process.
    """

    def __init__(self, base: Dataset, transform, views: int = 1, seed: int | None = None):
        if views < 1:
            raise ValueError(f"views must be at least 1, got {views}")
        self.base, self.transform, self.views, self.seed = base, transform, views, seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        image, label = self.base[index]
        if self.seed is None:
            return self._views(image), label
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + index)
            return self._views(image), label

    def _views(self, image) -> torch.Tensor:
        return torch.stack([self.transform(image) for _ in range(self.views)])


def labels_of(data: Dataset) -> np.ndarray:
    """Labels of a dataset in order, without decoding its images where it can."""
    if isinstance(data, torch.utils.data.Subset):
        return labels_of(data.dataset)[np.asarray(data.indices)]
    if hasattr(data, "labels"):  # TensorImages
        return np.asarray(data.labels)
    if hasattr(data, "targets"):  # torchvision ImageFolder
        return np.asarray(data.targets)
    return np.array([label for _, label in data])


def first_of_each_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` samples of each class, class by class."""
    return np.concatenate(
        [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    ).astype(np.int64)


def build_transform(preprocessing: dict, train: bool):
    """The training (augmenting) or evaluation transform of a dataset."""
    size = preprocessing["image_size"]
    kind = preprocessing["dataset"]
    steps: list = [v2.ToImage()]
    if kind == "digits":
        steps.append(v2.Resize(size, antialias=True))
        if train:
            steps.append(v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)))
    elif kind == "imagefolder":
        if train:
            steps += [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
        else:
            steps += [v2.Resize(preprocessing["resize"], antialias=True), v2.CenterCrop(size)]
    else:
        if train:
            steps.append(v2.RandomCrop(size, padding=size // 8))
            if kind != "svhn":  # mirrored digits are not digits
                steps.append(v2.RandomHorizontalFlip())
    steps += [
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(preprocessing["mean"], preprocessing["std"]),
    ]
    return v2.Compose(steps)


def load_dataset(
    name: str, data_dir: str | Path = "data", image_size: int | None = None, download: bool = False
) -> DataBundle:
    loaders = {
        "digits": _load_digits,
        "cifar10": _load_cifar,
        "cifar100": _load_cifar,
        "svhn": _load_svhn,
        "imagefolder": _load_imagefolder,
    }
    if name not in loaders:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return loaders[name](name, Path(data_dir), image_size, download)


def _preprocessing(name, image_size, channels, mean, std, **extra) -> dict:
    return {
        "dataset": name,
        "image_size": image_size,
        "channels": channels,
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        **extra,
    }


def _load_digits(name, _data_dir, image_size, _download) -> DataBundle:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 0..16 intensities -> uint8, light ink on a dark background.
    images = torch.from_numpy(np.round(digits.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=digits.target, random_state=0
    )
    train_pixels = images[train_idx].float() / 255
    preprocessing = _preprocessing(
        name,
        image_size or 16,
        1,
        [train_pixels.mean()],
        [train_pixels.std()],
        ink="light_on_dark",
    )
    return DataBundle(
        TensorImages(images[train_idx], labels[train_idx]),
        TensorImages(images[test_idx], labels[test_idx]),
        [str(d) for d in digits.target_names],
        preprocessing,
    )


def _download_hint(name: str, data_dir: Path) -> str:
    return (
        f"{name} was not found under {data_dir}/. Fetch it with: "
        f"python -m trainer train --dataset {name} --data-dir {data_dir} --download"
    )


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Reads CIFAR's pickled batches without running code from them.

    A batch is a dict of lists, strings and numpy arrays. A plain ``pickle.load`` would
    import and call any global a file names, so a file dropped into a data folder could
    run code; this one admits only what rebuilds a numpy array (and the bytes codec that
    protocol-2 pickles written by Python 3 use), and refuses the rest.
    """

    _ALLOWED = {
        (module, name)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    } | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DatasetError(f"{path} is not a valid CIFAR batch file ({error})") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path} is not a valid CIFAR batch file (no dict inside)")
    return batch


def _read_cifar_split(files: list[Path], label_key: str) -> TensorImages:
    batches = [_unpickle(f) for f in files]
    try:
        data = np.concatenate([b["data"] for b in batches])
        labels = np.concatenate([b[label_key] for b in batches])
    except KeyError as error:
        raise DatasetError(f"CIFAR batch file without {error} in {files[0].parent}") from None
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.uint8))
    return TensorImages(images, torch.from_numpy(labels.astype(np.int64)))


def _load_cifar(name, data_dir, image_size, download) -> DataBundle:
    root = data_dir / _CIFAR_DIRS[name]
    if download and not root.exists():
        import torchvision

        dataset_cls = (
            torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
        )
        dataset_cls(str(data_dir), train=True, download=True)
    if name == "cifar10":
        train_files = [root / f"data_batch_{i}" for i in range(1, 6)]
        test_files, meta, label_key, names_key = (
            [root / "test_batch"],
            "batches.meta",
            "labels",
            "label_names",
        )
    else:
        train_files, test_files = [root / "train"], [root / "test"]
        meta, label_key, names_key = "meta", "fine_labels", "fine_label_names"
    missing = [f for f in [*train_files, *test_files, root / meta] if not f.exists()]
    if missing:
        raise DatasetError(_download_hint(name, data_dir) + f" (missing {missing[0]})")
    mean, std = _STATS[name]
    return DataBundle(
        _read_cifar_split(train_files, label_key),
        _read_cifar_split(test_files, label_key),
        list(_unpickle(root / meta)[names_key]),
        _preprocessing(name, image_size or 32, 3, mean, std),
    )


def _read_svhn_split(path: Path) -> TensorImages:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        images = torch.from_numpy(np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1)))
        labels = torch.from_numpy(mat["y"].astype(np.int64).reshape(-1) % 10)  # '0' is stored as 10
    except (ValueError, KeyError, OSError) as error:
        raise DatasetError(f"{path} is not a valid SVHN .mat file ({error})") from None
    return TensorImages(images, labels)


def _load_svhn(name, data_dir, image_size, download) -> DataBundle:
    root = data_dir / "svhn"
    files = {split: root / f"{split}_32x32.mat" for split in ("train", "test")}
    if download:
        import torchvision

        for split, path in files.items():
            if not path.exists():
                torchvision.datasets.SVHN(str(root), split=split, download=True)
    missing = [p for p in files.values() if not p.exists()]
    if missing:
        raise DatasetError(_download_hint(name, data_dir) + f" (missing {missing[0]})")
    mean, std = _STATS[name]
    return DataBundle(
        _read_svhn_split(files["train"]),
        _read_svhn_split(files["test"]),
        [str(d) for d in range(10)],
        _preprocessing(name, image_size or 32, 3, mean, std),
    )


def _load_imagefolder(name, data_dir, image_size, download) -> DataBundle:
    from torchvision.datasets import ImageFolder

    if download:
        raise DatasetError(
            "imagefolder datasets cannot be downloaded; point --data-dir at your tree"
        )
    splits = {}
    for split in ("train", "val"):
        folder = data_dir / split
        if not folder.is_dir():
            raise DatasetError(
                f"imagefolder needs {folder}/ with one sub-folder of images per class "
                f"(--data-dir should hold train/ and val/)"
            )
        try:
            splits[split] = ImageFolder(str(folder), loader=_read_image)
        except (FileNotFoundError, RuntimeError) as error:
            raise DatasetError(f"{folder}: {error}") from None
    classes = splits["train"].classes
    if len(classes) < 2:
        raise DatasetError(
            f"imagefolder needs at least two class folders in {data_dir}/train, "
            f"found {len(classes)} ({', '.join(classes)}): one class is learnt by any model"
        )
    if classes != splits["val"].classes:
        raise DatasetError(f"{data_dir}/train and {data_dir}/val have different class folders")
    _check_images([path for dataset in splits.values() for path, _ in dataset.samples])
    size = image_size or 224
    mean, std = _STATS[name]
    return DataBundle(
        splits["train"],
        splits["val"],
        list(classes),
        _preprocessing(name, size, 3, mean, std, resize=round(size * 256 / 224)),
    )


def _read_image(path: str) -> Image.Image:
    """torchvision's loader, naming the file when it cannot be decoded: an image whose
    header verifies yet whose data is cut short fails only here."""
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"{path}: the image cannot be decoded ({error})") from None


def _unreadable(path: str) -> str | None:
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as error:  # Pillow raises many types for a bad file
        return f"{path} ({type(error).__name__}: {error})"
    return None


def _check_images(paths: list[str]) -> None:
    """Verify every image (headers and, for PNG, checksums) before training starts, so
    that a bad file stops it now, named, rather than after an epoch with a traceback.

    A bad file stops training rather than being skipped: a dataset silently smaller
    than its folder would make results that no one can reproduce from the folder.
    """
    log.info("verifying %d images", len(paths))
    with ThreadPoolExecutor(max_workers=8) as pool:  # file reads, mostly: threads overlap
        bad = [problem for problem in pool.map(_unreadable, paths) if problem]
    if bad:
        shown = "; ".join(bad[:5]) + ("; ..." if len(bad) > 5 else "")
        raise DatasetError(
            f"{len(bad)} unreadable image(s) in the imagefolder dataset: {shown}. "
            "Remove or replace them."
        )
