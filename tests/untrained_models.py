"""Checkpoints of networks that were never trained, for the tests and the benchmarks: a
digits network as created, and a CIFAR-10 one whose gates spread varied images over many
paths. Seconds to write where training would take minutes."""

from pathlib import Path

import torch

from trainer.checkpoint import build_checkpoint, save_atomic
from trainer.data import ViewsDataset, build_transform, load_dataset
from trainer.models import create_model


def digits_checkpoint(
    path: Path, seed: int, arch: str = "codinet_resnet20", epoch_index: int = 0
) -> None:
    """A digits network as created (gates half open), saved as the training loop saves
    one after its 0-based epoch ``epoch_index``."""
    torch.manual_seed(seed)
    bundle = load_dataset("digits")
    model = create_model(arch, num_classes=10, in_channels=1, gate_open_prob=0.5).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = build_checkpoint(
        model, bundle.class_names, bundle.preprocessing, {}, {}, epoch_index
    )
    save_atomic(checkpoint, path)


def write_varied_model(run: Path, data_dir: Path, arch: str, images: int = 2048) -> None:
    """An untrained CIFAR-10 CoDiNet whose gates, half open, spread varied images over
    many paths; BatchNorm running statistics set from ``images`` training images, as a
    trained model's would be (fresh ones normalise nothing, and activations then grow
    through the blocks until every gate decides the same for every image)."""
    bundle = load_dataset("cifar10", data_dir)
    torch.manual_seed(0)
    model = create_model(arch, num_classes=10, gate_open_prob=0.5)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the calibration batches
    views = ViewsDataset(bundle.train, build_transform(bundle.preprocessing, train=False), 1)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(views, range(min(images, len(views)))), batch_size=256
    )
    model.train()
    with torch.no_grad():
        for batch, _ in loader:
            model(batch[:, 0])
    model.eval()
    run.mkdir(parents=True)
    save_atomic(
        build_checkpoint(model, bundle.class_names, bundle.preprocessing, {}, {}, 0),
        run / "checkpoint.pt",
    )
