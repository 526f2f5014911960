"""What every computation over a model's split shares: where models and datasets come
from, where results are kept, where tensors are computed and in batches of what size.

Extraction, the augmented views and block importance take one ``Context`` instead of
the same four arguments each in its own order.
"""

from dataclasses import dataclass

from backend.cache import DiskCache
from backend.store import ModelStore
from trainer.engine import Runtime


@dataclass(frozen=True)
class Context:
    store: ModelStore  # the models and their datasets
    cache: DiskCache  # computed results, across restarts
    runtime: Runtime  # where and how a forward pass runs
    batch_size: int = 256  # images per forward pass of a split
