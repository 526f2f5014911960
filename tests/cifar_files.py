"""CIFAR-10 files in the real on-disk format (pickled python batches), for tests and
benchmarks that cannot download the dataset."""

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainer.data import CIFAR10_CLASSES


def noise_images(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform noise with random labels: (size, 3072) uint8 rows in CIFAR's layout."""
    labels = rng.integers(0, 10, size)  # drawn first: the files stay as they were
    return rng.integers(0, 256, (size, 3072), dtype=np.uint8), labels


def varied_images(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Structured images whose class is their pattern: a grating at the class's own
    angle, with per-image frequency, phase, smooth blobs, colour, brightness, contrast
    and noise. Unlike uniform noise, which a network routes along one or two paths,
    these spread a network's routing over many paths, as real photos do."""
    labels = rng.integers(0, 10, size)
    grid = np.linspace(-1, 1, 32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    rows = []
    for start in range(0, size, 2048):  # bounded memory for any size
        c = labels[start : start + 2048]
        n = len(c)
        angle = c * np.pi / 10 + rng.normal(0, 0.08, n)
        frequency = rng.uniform(1.0, 6.0, n)
        along = np.cos(angle)[:, None, None] * xx + np.sin(angle)[:, None, None] * yy
        grating = np.sin(np.pi * frequency[:, None, None] * along + rng.uniform(0, 6.3, (n, 1, 1)))
        coarse = torch.nn.functional.interpolate(
            torch.from_numpy(rng.normal(0, 1, (n, 1, 4, 4))),
            size=32,
            mode="bicubic",
            align_corners=True,
        )[:, 0].numpy()
        blend = rng.uniform(0, 1, (n, 1, 1))
        pattern = (1 - blend) * grating + blend * coarse
        tint = rng.uniform(0.2, 1.0, (n, 3, 1, 1))
        contrast = rng.uniform(0.15, 0.5, (n, 1, 1, 1))
        brightness = rng.uniform(0.2, 0.8, (n, 1, 1, 1))
        pixels = brightness + contrast * tint * pattern[:, None]
        pixels += rng.normal(0, 1, (n, 1, 1, 1)) ** 2 * 0.03 * rng.normal(0, 1, pixels.shape)
        rows.append((np.clip(pixels, 0, 1) * 255).astype(np.uint8).reshape(n, 3072))
    return np.concatenate(rows), labels


def write_cifar10(
    root: Path,
    per_batch: int = 4,
    test_size: int | None = None,
    seed: int = 0,
    images: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]] = noise_images,
) -> Path:
    """Five training batches of ``per_batch`` images and a test batch, made by ``images``;
    returns the folder."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = {f"data_batch_{i}": per_batch for i in range(1, 6)}
    sizes["test_batch"] = test_size or per_batch
    for name, size in sizes.items():
        data, labels = images(rng, size)
        batch = {
            "batch_label": name,
            "labels": labels.tolist(),
            "data": data,
            "filenames": [f"{name}_{i}.png" for i in range(size)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR10_CLASSES, "num_cases_per_batch": per_batch}, f)
    return folder
