"""Block importance per class: what each image's answer becomes when one block of its
own path is flipped.

For block b, an image that executes b is routed once more with b forced off, and an
image that skips b with b forced on; every other block keeps the image's own choice,
so the difference is that block's alone (letting the later gates re-decide would mix
in their reaction). One forward pass of the split per block covers both, since every
image either executes or skips it. Per class and block this gives, for each direction,
how many images it applies to and their accuracy and mean probability of the true
class, on their own path and on the flipped one.
"""

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from backend.cache import DiskCache
from backend.store import LoadedModel, ModelStore, split_of
from trainer.data import ViewsDataset, build_transform
from trainer.engine import Runtime
from trainer.models.codinet import EXECUTE

DIRECTIONS = ("off", "on")  # forced off for images executing the block; on for skipping
SUMS = ("count", "own_correct", "forced_correct", "own_confidence", "forced_confidence")
CPU = Runtime(torch.device("cpu"))


def flip_block_sums(
    model, images: torch.Tensor, labels: torch.Tensor, num_classes: int, runtime: Runtime = CPU
) -> np.ndarray:
    """Sums over a batch, (directions, SUMS, classes, gates), for one flipped block at
    a time; ``model`` must be in eval mode, on ``runtime``'s device."""
    gates = model.num_gates
    sums = np.zeros((len(DIRECTIONS), len(SUMS), num_classes, gates))
    logits, gate_choices = runtime.evaluate(model, images)
    own_path = gate_choices[:, :, EXECUTE].bool().cpu()
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


def cached_sums(cache: DiskCache, cache_file: str, loaded: LoadedModel) -> np.ndarray | None:
    """The sums (see ``flip_block_sums``) if computed before, else None; ``cache_file``
    is ``backend.keys.importance`` of the model and split."""
    found = cache.load(cache_file, {"sums": ("f", _shape(loaded))})
    return None if found is None else found["sums"]


def compute_sums(
    store: ModelStore,
    loaded: LoadedModel,
    split: str,
    cache: DiskCache,
    cache_file: str,
    batch_size: int = 256,
    progress: Callable[[float], None] = lambda _fraction: None,
    runtime: Runtime = CPU,
) -> np.ndarray:
    """Route the split once per block with that block flipped; the sums go to the cache
    as ``cache_file``."""
    data = ViewsDataset(
        split_of(store.dataset(loaded), split), build_transform(loaded.preprocessing, False), 1
    )
    loader = DataLoader(data, batch_size=batch_size)
    sums = np.zeros(_shape(loaded))
    with torch.inference_mode():
        for done, (images, labels) in enumerate(loader, start=1):
            sums += flip_block_sums(
                loaded.model, images[:, 0], labels, len(loaded.class_names), runtime
            )
            progress(done / len(loader))
    cache.save(cache_file, sums=sums)
    return sums


def importance_table(sums: np.ndarray) -> dict:
    """Sums -> per direction: images counted, and their accuracy and mean true-class
    probability on their own and on the flipped path (None where no image counts)."""
    table = {}
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
