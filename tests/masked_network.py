"""A researcher's per-block gated network that cannot run a block on part of a batch
(``conditional=False``), registered for the server as ``model_modules`` registers one.
Built with ``conditional=True`` the same weights skip per image: the twin that shows
the masked answers are the conditional ones.

Imported by the server that needs it, not by a test module at collection: the registry
would otherwise hold it when ``tests/test_models.py`` lists every network.
"""

import torch
from torch import nn

from trainer.models import register_model
from trainer.routing import RoutedNetwork, run_block


class WholeBatchMLP(RoutedNetwork):
    """Digits (1 x 16 x 16) through a stem, five gated residual blocks in two stages and
    a classifier; each gate reads the block's input."""

    family = "mine"

    def __init__(self, conditional: bool, num_classes: int, width: int = 32):
        super().__init__()
        self.conditional = conditional
        self.stage_blocks = [2, 3]
        self.stem = nn.Sequential(nn.Flatten(), nn.Linear(256, width), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(self.num_gates)
        )
        self.gates = nn.ModuleList(nn.Linear(width, 1) for _ in range(self.num_gates))
        self.head = nn.Linear(width, num_classes)

    def route(self, x, force_path=None, execution=None):
        force_path, mode = self.checked_path(x, force_path), self.mode(execution)
        h, path = self.stem(x), []
        for index, (block, gate) in enumerate(zip(self.blocks, self.gates, strict=True)):
            execute = gate(h)[:, 0] > 0
            path.append(execute if force_path is None else force_path[:, index])
            h = run_block(h, path[-1], lambda t, b=block: t + b(t), nn.Identity(), mode)
        return self.head(h), torch.stack(path, dim=1)

    def routed_parts(self):
        return [(block, None) for block in self.blocks]


@register_model
def whole_batch_mlp(conditional: bool = False, num_classes: int = 10) -> WholeBatchMLP:
    return WholeBatchMLP(conditional, num_classes)
