"""Block importance per class: what each image's answer becomes when one block of its
own path is flipped.

For block b, an image that executes b is routed once more with b forced off, and an
image that skips b with b forced on; every other block keeps the image's own choice,
so the difference is that block's alone (letting the later gates re-decide would mix
in their reaction). One forward pass of the split per block covers both, since every
image either executes or skips it. Per class and block this gives, for each direction,
how many images it applies to and their accuracy and mean probability of the true
class, on their own path and on the flipped one.

That is one routing of the split per block: a split of more than ``MAX_IMAGES`` images
(a 50,000-image training split through ResNet-110's 54 blocks would keep a CPU busy for
hours, and every other job waits behind it) is measured on a seeded random sample of
``MAX_IMAGES`` of them, and the result says how many it counted.
"""

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from backend.cache import DiskCache
from backend.context import Context
from backend.store import LoadedModel, split_of
from trainer.data import ViewsDataset, build_transform
from trainer.engine import ON_CPU, Runtime

DIRECTIONS = ("off", "on")  # forced off for images executing the block; on for skipping
SUMS = ("count", "own_correct", "forced_correct", "own_confidence", "forced_confidence")
# Every image of a CIFAR-sized test split; a sample beyond. A change to either constant
# changes results: bump "importance" in backend.keys.VERSIONS with it.
MAX_IMAGES = 10_000
SAMPLE_SEED = 0


def flip_block_sums(
    model, images: torch.Tensor, labels: torch.Tensor, num_classes: int, runtime: Runtime = ON_CPU
) -> np.ndarray:
    """Sums over a batch, (directions, SUMS, classes, gates), for one flipped block at
    a time; ``model`` must be in eval mode, on ``runtime``'s device."""
    gates = model.num_gates
    sums = np.zeros((len(DIRECTIONS), len(SUMS), num_classes, gates))
    logits, own_path = runtime.evaluate(model, images)
    own_path = own_path.cpu()
    own_probs = logits.float().softmax(dim=1).cpu()
    own_correct = (own_probs.argmax(dim=1) == labels).double()
    own_confidence = own_probs.gather(1, labels[:, None])[:, 0].double()
    for block in range(gates):
        flipped = own_path.clone()
        flipped[:, block] = ~flipped[:, block]
        probs = runtime.evaluate(model, images, flipped)[0].float().softmax(dim=1).cpu()
        correct = (probs.argmax(dim=1) == labels).double()
        confidence = probs.gather(1, labels[:, None])[:, 0].double()
        values = (torch.ones_like(correct), own_correct, correct, own_confidence, confidence)
        executing = own_path[:, block]
        for direction, rows in enumerate((executing, ~executing)):  # as in DIRECTIONS
            for index, value in enumerate(values):  # as in SUMS
                per_class = torch.zeros(num_classes, dtype=torch.float64)
                per_class.index_add_(0, labels[rows], value[rows])
                sums[direction, index, :, block] += per_class.numpy()
    return sums


def _shape(loaded: LoadedModel) -> tuple[int, int, int, int]:
    return len(DIRECTIONS), len(SUMS), len(loaded.class_names), loaded.num_gates


def sample_of(size: int, max_images: int | None = None) -> np.ndarray:
    """The indices of a split of ``size`` images that block importance routes: all of
    them, or a seeded random ``max_images`` (default ``MAX_IMAGES``) of them in dataset
    order."""
    max_images = MAX_IMAGES if max_images is None else max_images
    if size <= max_images:
        return np.arange(size)
    return np.sort(np.random.default_rng(SAMPLE_SEED).permutation(size)[:max_images])


def cached_sums(
    cache: DiskCache, cache_file: str, loaded: LoadedModel
) -> tuple[np.ndarray, int] | None:
    """The sums (see ``flip_block_sums``) and the split's size in images, if computed
    before, else None; ``cache_file`` is ``backend.keys.importance`` of the model and
    split."""
    found = cache.load(cache_file, {"sums": ("f", _shape(loaded)), "split_images": ("i", (1,))})
    return None if found is None else (found["sums"], int(found["split_images"][0]))


def compute_sums(
    context: Context,
    loaded: LoadedModel,
    split: str,
    cache_file: str,
    progress: Callable[[float], None] = lambda _fraction: None,
) -> tuple[np.ndarray, int]:
    """Route the split (or its ``sample_of``) once per block with that block flipped;
    the sums and the split's size go to the cache as ``cache_file``."""
    data = ViewsDataset(
        split_of(context.store.dataset(loaded), split),
        build_transform(loaded.preprocessing, False),
        1,
    )
    sample = sample_of(len(data))
    loader = DataLoader(Subset(data, sample.tolist()), batch_size=context.batch_size)
    sums = np.zeros(_shape(loaded))
    with torch.inference_mode():
        for done, (images, labels) in enumerate(loader, start=1):
            sums += flip_block_sums(
                loaded.model, images[:, 0], labels, len(loaded.class_names), context.runtime
            )
            progress(done / len(loader))
    context.cache.save(cache_file, sums=sums, split_images=np.array([len(data)]))
    return sums, len(data)


def importance_table(sums: np.ndarray, split_images: int) -> dict:
    """Sums -> the images counted (of ``split_images``) and, per direction, the images
    counted per class and block, and their accuracy and mean true-class probability on
    their own and on the flipped path (None where no image counts)."""
    counted = int(sums[:, 0, :, 0].sum())  # each image is counted once per block
    table = {"images": counted, "split_images": split_images, "sampled": counted < split_images}
    for d, direction in enumerate(DIRECTIONS):
        count = sums[d, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = {name: sums[d, i] / count for i, name in enumerate(SUMS) if i > 0}
        table[direction] = {
            "count": count.astype(int).tolist(),
            **{
                name.replace("correct", "accuracy"): _with_gaps(values)
                for name, values in means.items()
            },
        }
    return table


def _with_gaps(values: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in values]
