"""CIFAR-10 files in the real on-disk format (pickled python batches), for tests and
benchmarks that cannot download the dataset."""

import pickle
from pathlib import Path

import numpy as np

CLASS_NAMES = [
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


def write_cifar10(
    root: Path, per_batch: int = 4, test_size: int | None = None, seed: int = 0
) -> Path:
    """Five training batches of ``per_batch`` images and a test batch; returns the folder."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = {f"data_batch_{i}": per_batch for i in range(1, 6)}
    sizes["test_batch"] = test_size or per_batch
    for name, size in sizes.items():
        batch = {
            "batch_label": name,
            "labels": rng.integers(0, 10, size).tolist(),
            "data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
            "filenames": [f"{name}_{i}.png" for i in range(size)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CLASS_NAMES, "num_cases_per_batch": per_batch}, f)
    return folder
