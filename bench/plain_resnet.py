"""A plain ResNet with exactly a CoDiNet's layers, minus its gates."""

import copy

import torch
import torch.nn as nn

from trainer.models.codinet import CoDiNet


class PlainResNet(nn.Module):
    """Stem, the residual blocks in sequence, pooling, classifier: no gates, no skips.

    Built from a CoDiNet's own modules (copied), so the two networks differ only by
    what gating adds and a training-step comparison measures exactly that.
    """

    def __init__(self, gated: CoDiNet):
        super().__init__()
        self.stem = copy.deepcopy(gated.stem)
        self.blocks = nn.Sequential(*(copy.deepcopy(g.block) for g in gated.blocks))
        self.classifier = copy.deepcopy(gated.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.stem(x))
        return self.classifier(out.mean(dim=(2, 3)))
