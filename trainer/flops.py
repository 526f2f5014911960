"""Multiply-accumulate counts (convolutions, linear and recurrent layers) per path.

A sample's cost is: the parts that always run (stem, classifier, and the routing
itself: gates, a recurrent controller, a policy network), plus, for each routed block,
its body if executed, or its skip path if skipped. The per-part costs are measured
once with forward hooks on a blank input, through ``RoutedNetwork.routed_parts``, so
every network behind that interface is covered without hand-written formulas.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn as nn

from trainer.routing import RoutedNetwork


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


def _layer_macs(module: nn.Module, inputs: tuple, output) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        per_output = (module.in_channels // module.groups) * kh * kw
        return output[0].numel() * per_output
    if isinstance(module, (nn.LSTM, nn.LSTMCell, nn.GRU, nn.GRUCell)):
        # Four (LSTM) or three (GRU) gates, each an input and a recurrent matrix, per
        # step of the sequence the call ran.
        per_gate = 4 if isinstance(module, (nn.LSTM, nn.LSTMCell)) else 3
        hidden, size = module.hidden_size, module.input_size
        layers = getattr(module, "num_layers", 1)
        steps = inputs[0].shape[0] if isinstance(module, (nn.LSTM, nn.GRU)) else 1
        if isinstance(module, (nn.LSTM, nn.GRU)) and module.batch_first:
            steps = inputs[0].shape[1]
        if inputs[0].dim() == 1:  # an unbatched cell's input
            steps = 1
        per_step = per_gate * hidden * (size + hidden) + per_gate * hidden * 2 * hidden * (
            layers - 1
        )
        return steps * per_step
    return module.in_features * module.out_features


COUNTED = (nn.Conv2d, nn.Linear, nn.LSTM, nn.LSTMCell, nn.GRU, nn.GRUCell)


def mac_table(
    model: RoutedNetwork, image_size: int | tuple[int, int], in_channels: int = 3
) -> MacTable:
    """Per-sample MACs of each part of a routed network, measured on one blank image
    routed through every block in masked mode (every block and skip path run once)."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    parts = model.routed_parts()
    routed = {m for pair in parts for part in pair if part is not None for m in part.modules()}
    counted: dict[nn.Module, int] = {}

    def record(module, inputs, output):
        macs = _layer_macs(module, inputs, output)
        if module in routed:
            # Assign rather than add: masked mode may call a skip path twice (CoDiNet's
            # shortcut runs inside the body's residual sum and as the skip path), but
            # an image pays for it once.
            counted[module] = macs
        else:
            # Routing modules outside the blocks (a recurrent controller called once
            # per block) pay for every call.
            counted[module] = counted.get(module, 0) + macs

    handles = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, COUNTED)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            device = next(model.parameters()).device
            blank = torch.zeros(1, in_channels, height, width, device=device)
            model.route(blank, torch.ones(1, model.num_gates, dtype=torch.bool), "masked")
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

    def macs_of(module: nn.Module | None) -> int:
        if module is None:
            return 0
        return sum(counted.get(m, 0) for m in module.modules())

    executed = [macs_of(body) for body, _ in parts]
    skipped = [macs_of(skip) for _, skip in parts]
    # A skip path inside the executed body (CoDiNet's shortcut) is counted there alone.
    inside = {id(m) for body, _ in parts for m in body.modules()}
    outside_skips = sum(
        macs_of(skip) for _, skip in parts if skip is not None and id(skip) not in inside
    )
    always = sum(counted.values()) - sum(executed) - outside_skips
    return MacTable(always=always, executed=executed, skipped=skipped)


def count_macs(
    model: RoutedNetwork,
    image_size: int | tuple[int, int],
    paths: torch.Tensor | None = None,
    in_channels: int = 3,
) -> int | torch.Tensor:
    """Full-network MACs (an int), or per-sample MACs for an (N, G) path tensor."""
    table = mac_table(model, image_size, in_channels)
    return table.full if paths is None else table.per_sample(paths)
