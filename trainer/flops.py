"""Multiply-accumulate counts (convolutions and linear layers) per executed path.

A sample's cost is: the parts that always run (stem, classifier, every gate), plus,
for each gated block, its body and shortcut if executed, or its skip path if skipped.
The per-part costs are measured once with forward hooks on a dummy input, so every
architecture in the registry is covered without hand-written formulas.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn as nn

from trainer.models.codinet import CoDiNet


@dataclass
class MacTable:
    """Per-sample MACs of each part of a gated network."""

    always: int  # stem, classifier and all gates
    executed: list[int]  # per block: body plus shortcut
    skipped: list[int]  # per block: the skip path alone

    @property
    def full(self) -> int:
        return self.always + sum(self.executed)

    def per_sample(self, paths) -> torch.Tensor:
        """MACs of each sample, for (N, G) booleans (tensor or array) of executed blocks."""
        paths = np.asarray(torch.as_tensor(paths).cpu(), dtype=bool)
        per_block = np.where(paths, self._executed, self._skipped)
        return torch.from_numpy(self.always + per_block.sum(axis=1))

    @cached_property
    def _executed(self) -> np.ndarray:
        return np.asarray(self.executed, dtype=np.int64)

    @cached_property
    def _skipped(self) -> np.ndarray:
        return np.asarray(self.skipped, dtype=np.int64)


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        per_output = (module.in_channels // module.groups) * kh * kw
        return output[0].numel() * per_output
    return module.in_features * module.out_features


def mac_table(model: CoDiNet, image_size: int | tuple[int, int], in_channels: int = 3) -> MacTable:
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    counted: dict[nn.Module, int] = {}

    def record(module, _inputs, output):
        # Assign rather than add: masked mode calls a block's shortcut twice (inside
        # the body's residual sum and as the skip path), but a sample pays for it once.
        counted[module] = _layer_macs(module, output)

    handles = [
        m.register_forward_hook(record)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    was_training, execution = model.training, model.execution
    try:
        # Masked eval mode runs every body and every skip path exactly once.
        model.eval()
        model.execution = "masked"
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, in_channels, height, width, device=device))
    finally:
        model.train(was_training)
        model.execution = execution
        for handle in handles:
            handle.remove()

    def macs_of(module: nn.Module) -> int:
        return sum(counted.get(m, 0) for m in module.modules())

    executed = [macs_of(b.block) for b in model.blocks]
    skipped = [macs_of(b.block.shortcut) for b in model.blocks]
    always = sum(counted.values()) - sum(executed)
    return MacTable(always=always, executed=executed, skipped=skipped)


def count_macs(
    model: CoDiNet,
    image_size: int | tuple[int, int],
    paths: torch.Tensor | None = None,
    in_channels: int = 3,
) -> int | torch.Tensor:
    """Full-network MACs (an int), or per-sample MACs for an (N, G) path tensor."""
    table = mac_table(model, image_size, in_channels)
    return table.full if paths is None else table.per_sample(paths)
