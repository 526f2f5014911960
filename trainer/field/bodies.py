"""The residual branch of a ResNet block alone, without its shortcut or final ReLU, for
the networks that put those around it themselves (BlockDrop adds the shortcut outside
the block; ConvNet-AIG scales the branch by its gate before adding it). Module names are
those the public codebases saved: ``conv1``, ``bn1``, ``conv2``, ``bn2`` (``conv3``,
``bn3``)."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBody(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class BottleneckBody(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


BODIES = {"basic": BasicBody, "bottleneck": BottleneckBody}
