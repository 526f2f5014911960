"""One training epoch, and the routing of a dataset through a model."""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from trainer.data import ViewsDataset, build_transform, first_of_each_class, labels_of
from trainer.distributed import SINGLE_PROCESS, DistInfo, gather_objects, mean_across
from trainer.execution import execution_mode
from trainer.losses import LossWeights, codinet_loss
from trainer.models.codinet import EXECUTE

TRAIN_COLUMNS = (
    "loss",
    "ce",
    "consistency_loss",
    "diversity_loss",
    "cost_loss",
    "target_rate_loss",
    "train_executed_blocks",
    "train_accuracy",
)


@dataclass(frozen=True)
class Runtime:
    """Where and how tensors are computed."""

    device: torch.device
    amp: bool = False  # float16 autocast, CUDA only
    channels_last: bool = False
    execution: str = "auto"  # in evaluation: conditional, masked, or auto (trainer.execution)

    def mode_for(self, batch_size: int) -> str:
        """The execution mode of an evaluation batch of this size."""
        return execution_mode(self.execution, self.device, batch_size)

    def autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return nullcontext()

    def to_device(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def evaluate(
        self, model, images: torch.Tensor, force_path: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``model.route(images)`` in evaluation (trainer.routing.RoutedNetwork): on this
        device, in the mode picked for the batch's size; logits and (B, G) boolean paths
        stay on the device."""
        with self.autocast():
            return model.route(
                self.to_device(images),
                force_path=force_path,
                execution=self.mode_for(len(images)),
            )


# Evaluation on the CPU in the mode each batch size runs fastest in.
ON_CPU = Runtime(torch.device("cpu"))


def flatten_views(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, R, C, H, W) views -> (n*R, C, H, W), the R views of an image adjacent."""
    return images.flatten(0, 1), labels.repeat_interleave(images.shape[1])


def optimizer_step(loss: torch.Tensor, optimizer, scaler) -> None:
    """Backward and one optimizer step, through the AMP loss scaler (a no-op without AMP)."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def train_one_epoch(
    model,
    loader: DataLoader,
    optimizer,
    scaler,
    weights: LossWeights,
    views: int,
    runtime: Runtime,
    dist_info: DistInfo,
    description: str = "train",
) -> dict[str, float]:
    """Train for one pass over ``loader``; returns sample-weighted means of the losses."""
    model.train()
    # Accumulate on the device: reading a value back each step would be a sync point.
    totals = torch.zeros(len(TRAIN_COLUMNS), dtype=torch.float64, device=runtime.device)
    seen = 0
    progress = tqdm(loader, desc=description, leave=False, disable=not dist_info.is_main)
    for step, (images, labels) in enumerate(progress):
        images, labels = flatten_views(images, labels)
        images, labels = runtime.to_device(images), labels.to(runtime.device, non_blocking=True)
        with runtime.autocast():
            logits, gates = model(images)
            loss, parts = codinet_loss(logits, gates, labels, views, weights)
        optimizer_step(loss, optimizer, scaler)
        with torch.no_grad():
            executed = gates[:, :, EXECUTE].float().sum(dim=1).mean()
            correct = (logits.argmax(dim=1) == labels).float().mean()
            row = torch.stack(
                [
                    loss.detach(),
                    parts["ce"],
                    parts["consistency"],
                    parts["diversity"],
                    parts["cost"],
                    parts["target_rate"],
                    executed,
                    correct,
                ]
            )
            totals += row.double() * labels.shape[0]
        seen += labels.shape[0]
        if dist_info.is_main and step % 10 == 0:
            progress.set_postfix(loss=f"{loss.item():.3f}")
    values = dict(zip(TRAIN_COLUMNS, (totals / max(seen, 1)).tolist(), strict=True))
    return mean_across(values, dist_info)


@dataclass
class RoutingResult:
    """Per-sample outcome of routing a dataset, in dataset order."""

    labels: np.ndarray  # (N,) int
    predictions: np.ndarray  # (N,) int
    probabilities: np.ndarray  # (N, classes) float32
    paths: np.ndarray  # (N, views, G) bool: executed blocks, input side first


@torch.no_grad()
def route_dataset(
    model,
    dataset: Dataset,
    runtime: Runtime,
    batch_size: int = 256,
    workers: int = 0,
    dist_info: DistInfo = SINGLE_PROCESS,
    description: str = "eval",
    progress: Callable[[float], None] | None = None,
) -> RoutingResult:
    """Evaluate ``model`` on a dataset of view stacks, each batch in the execution mode
    ``runtime`` picks for it (the same paths and logits either way).

    Under torchrun each rank routes every world_size-th batch of the one-process
    batching, so every forward pass sees the very batch it would see in one process
    (conditional execution runs each block on a sub-batch, and oneDNN's results can
    change in their last bits with its shape); the shards are gathered so every rank
    returns the whole result. ``progress`` hears the fraction of
    this rank's batches done after each batch.
    """
    model.eval()
    starts = range(dist_info.rank * batch_size, len(dataset), dist_info.world_size * batch_size)
    indices = np.concatenate(
        [np.arange(start, min(start + batch_size, len(dataset))) for start in starts]
        or [np.zeros(0, dtype=np.int64)]
    )
    loader = DataLoader(
        Subset(dataset, indices.tolist()), batch_size=batch_size, num_workers=workers
    )
    labels, predictions, probabilities, paths = [], [], [], []
    for done, (images, batch_labels) in enumerate(
        tqdm(loader, desc=description, leave=False, disable=not dist_info.is_main), start=1
    ):
        views = images.shape[1]
        images, _ = flatten_views(images, batch_labels)
        logits, routed = runtime.evaluate(model, images)
        probs = logits.float().softmax(dim=1).view(-1, views, logits.shape[1])[:, 0]
        labels.append(batch_labels.numpy())
        predictions.append(probs.argmax(dim=1).cpu().numpy())
        probabilities.append(probs.cpu().numpy())
        paths.append(routed.view(-1, views, routed.shape[1]).cpu().numpy())
        if progress is not None:
            progress(done / len(loader))
    # A rank with no batch (fewer batches than ranks) sends nothing.
    shard = (
        (indices, *(np.concatenate(p) for p in (labels, predictions, probabilities, paths)))
        if labels
        else None
    )
    shards = [s for s in gather_objects(shard, dist_info) if s is not None]
    order = np.argsort(np.concatenate([s[0] for s in shards]))
    columns = [np.concatenate([s[i] for s in shards])[order] for i in range(1, 5)]
    return RoutingResult(*columns)


@dataclass(frozen=True)
class ViewProtocol:
    """How the view distance is measured: ``views`` augmented views of the first
    ``images_per_class`` images of each class, seeded. The trainer and the explorer
    use the same protocol, so a checkpoint's figure and the explorer's agree."""

    views: int = 4
    images_per_class: int = 32
    seed: int = 0


def route_views(
    model,
    data: Dataset,
    preprocessing: dict,
    protocol: ViewProtocol,
    runtime: Runtime,
    batch_size: int = 256,
    workers: int = 0,
    dist_info: DistInfo = SINGLE_PROCESS,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (images,) and paths (images, views, G) of the protocol's augmented views."""
    labels = labels_of(data)
    chosen = first_of_each_class(labels, protocol.images_per_class)
    views = ViewsDataset(
        Subset(data, chosen.tolist()),
        build_transform(preprocessing, train=True),
        protocol.views,
        seed=protocol.seed,
    )
    result = route_dataset(
        model,
        views,
        runtime,
        batch_size=max(batch_size // protocol.views, 1),
        workers=workers,
        dist_info=dist_info,
        description="views",
    )
    return labels[chosen], result.paths
