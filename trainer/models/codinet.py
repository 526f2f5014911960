"""CoDiNet: a ResNet whose every residual block is gated per sample.

Layout follows timm: building blocks first, then the network, then the registered
variants. A gated block either runs its residual body (with its own shortcut, as in a
plain ResNet) or is replaced by its skip path: the identity, or the block's shortcut
when the block changes shape.

Training: Gumbel-softmax over the gate's two logits (index 0 = execute, 1 = skip)
mixes both branches. Evaluation: the argmax decides, no noise, and skipped blocks are
not computed at all for that sample (``execution = "conditional"``); the
``"masked"`` mode computes every block and selects, as the paper's public code does,
and serves as the reference and the benchmark baseline.

In evaluation a path can also be forced: ``model(x, force_path=paths)`` routes each
sample through the given (B, G) executed blocks instead of its gates' choice, with the
same conditional execution. The gates still run, so a forced path costs what the same
path costs when chosen, and the answer to "what if this image had taken that path?"
differs from the network's own answer only by the path.
"""

import inspect
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainer.models.registry import register_model
from trainer.routing import RoutedNetwork, run_block

EXECUTE, SKIP = 0, 1


class PadShortcut(nn.Module):
    """Parameter-free shortcut ("option A"): subsample space, zero-pad channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, *self.pad))


def make_shortcut(in_channels: int, out_channels: int, stride: int, kind: str) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if kind == "A":
        return PadShortcut(in_channels, out_channels, stride)
    if kind == "B":
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    raise ValueError(f"shortcut must be 'A' (zero-pad) or 'B' (1x1 projection), got {kind!r}")


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = make_shortcut(in_channels, planes, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int, shortcut: str):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class Gate(nn.Module):
    """Routing module: pooled input -> Linear -> BN -> ReLU -> Linear -> 2 logits.

    The hidden non-linearity follows ConvNet-AIG (``kind="aig"``, the default). The
    public CoDiNet gate (``kind="linear"``) is Linear(C, C) then Linear(C, 2) with
    nothing between, one affine map in disguise; it is kept for comparison. The
    output bias starts the gate open with probability ``open_prob`` so that every
    block is trained before the cost term starts closing gates.
    """

    def __init__(self, channels: int, hidden: int, open_prob: float, kind: str = "aig"):
        super().__init__()
        if kind == "aig":
            self.fc1 = nn.Linear(channels, hidden, bias=False)
            self.bn = nn.BatchNorm1d(hidden)
        elif kind == "linear":
            hidden = channels
            self.fc1 = nn.Linear(channels, hidden)
            self.bn = nn.Identity()
        else:
            raise ValueError(f"gate kind must be 'aig' or 'linear', got {kind!r}")
        self.fc2 = nn.Linear(hidden, 2)
        nn.init.normal_(self.fc2.weight, std=0.01)
        half_logit = 0.5 * math.log(open_prob / (1.0 - open_prob))
        with torch.no_grad():
            self.fc2.bias.copy_(torch.tensor([half_logit, -half_logit]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(x.mean(dim=(2, 3)))
        if isinstance(self.bn, nn.Identity):
            return self.fc2(hidden)
        return self.fc2(F.relu(self.bn(hidden)))


class GatedBlock(nn.Module):
    def __init__(self, block: nn.Module, gate: Gate):
        super().__init__()
        self.block = block
        self.gate = gate
        # A projection shortcut's output can be negative; the ReLU keeps the skip
        # path's output in the same range as an executed block's.
        self.project_skip = any(p.requires_grad for p in block.shortcut.parameters())

    def skip(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block.shortcut(x)
        return F.relu(out) if self.project_skip else out

    def forward(
        self,
        x: torch.Tensor,
        tau: float,
        hard: bool,
        execution: str,
        forced: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.gate(x)
        if self.training:
            gate = F.gumbel_softmax(logits.float(), tau=tau, hard=hard).to(x.dtype)
            g_exec = gate[:, EXECUTE].view(-1, 1, 1, 1)
            g_skip = gate[:, SKIP].view(-1, 1, 1, 1)
            return g_exec * self.block(x) + g_skip * self.skip(x), gate

        execute = logits[:, EXECUTE] >= logits[:, SKIP] if forced is None else forced
        gate = torch.stack([execute, ~execute], dim=1).to(x.dtype)
        return run_block(x, execute, self.block, self.skip, execution), gate


class CoDiNet(RoutedNetwork):
    """A gated ResNet. ``forward`` returns ``(logits, gates)``, gates of shape (B, G, 2)."""

    family = "codinet"
    conditional = True

    def __init__(
        self,
        block: str,
        stage_blocks: list[int],
        stage_widths: list[int],
        num_classes: int = 10,
        in_channels: int = 3,
        stem: str = "cifar",
        shortcut: str = "A",
        gate_hidden: int = 16,
        gate_open_prob: float = 0.85,
        gate_type: str = "aig",
        gumbel_tau: float = 1.0,
        hard_gumbel: bool = False,
    ):
        super().__init__()
        block_cls = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        self.stage_blocks = list(stage_blocks)
        self.gumbel_tau = gumbel_tau
        self.hard_gumbel = hard_gumbel
        self.execution = "conditional"

        if stem == "cifar":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, stage_widths[0], 3, padding=1, bias=False),
                nn.BatchNorm2d(stage_widths[0]),
                nn.ReLU(inplace=True),
            )
            channels = stage_widths[0]
        elif stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(64),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
            channels = 64
        else:
            raise ValueError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")

        blocks = []
        for stage, (count, width) in enumerate(zip(stage_blocks, stage_widths, strict=True)):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                body = block_cls(channels, width, stride, shortcut)
                blocks.append(
                    GatedBlock(body, Gate(channels, gate_hidden, gate_open_prob, gate_type))
                )
                channels = width * block_cls.expansion
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(
        self,
        x: torch.Tensor,
        force_path: torch.Tensor | None = None,
        execution: str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``force_path``: (B, G) booleans, True = execute, to route each sample through
        instead of its gates' choice (evaluation only); the returned gates follow it.
        ``execution``: "conditional" or "masked" for this call (evaluation only; default
        ``self.execution``), so that threads sharing a model need not change it."""
        execution = self.mode(execution)
        force_path = self.checked_path(x, force_path)
        out = self.stem(x)
        gates = []
        for index, gated in enumerate(self.blocks):
            forced = None if force_path is None else force_path[:, index]
            out, gate = gated(out, self.gumbel_tau, self.hard_gumbel, execution, forced)
            gates.append(gate)
        logits = self.classifier(out.mean(dim=(2, 3)))
        return logits, torch.stack(gates, dim=1)

    def route(self, x, force_path=None, execution=None) -> tuple[torch.Tensor, torch.Tensor]:
        logits, gates = self(x, force_path=force_path, execution=execution)
        return logits, gates[:, :, EXECUTE].bool()

    def routed_parts(self) -> list[tuple[nn.Module, nn.Module | None]]:
        return [(gated.block, gated.block.shortcut) for gated in self.blocks]


def _cifar_resnet(depth: int, **kwargs) -> CoDiNet:
    per_stage = (depth - 2) // 6
    kwargs.setdefault("shortcut", "A")
    return CoDiNet("basic", [per_stage] * 3, [16, 32, 64], stem="cifar", **kwargs)


def _imagenet_resnet(stage_blocks: list[int], **kwargs) -> CoDiNet:
    kwargs.setdefault("shortcut", "B")
    return CoDiNet("bottleneck", stage_blocks, [64, 128, 256, 512], stem="imagenet", **kwargs)


def variant_arguments() -> dict[str, inspect.Parameter]:
    """The keyword arguments every registered variant accepts (with their types and
    defaults): CoDiNet's own, less those a variant fixes (block type, stages, stem)."""
    fixed = {"self", "block", "stage_blocks", "stage_widths", "stem"}
    parameters = inspect.signature(CoDiNet.__init__).parameters
    return {name: p for name, p in parameters.items() if name not in fixed}


@register_model
def codinet_resnet20(**kwargs) -> CoDiNet:
    return _cifar_resnet(20, **kwargs)


@register_model
def codinet_resnet32(**kwargs) -> CoDiNet:
    return _cifar_resnet(32, **kwargs)


@register_model
def codinet_resnet56(**kwargs) -> CoDiNet:
    return _cifar_resnet(56, **kwargs)


@register_model
def codinet_resnet110(**kwargs) -> CoDiNet:
    return _cifar_resnet(110, **kwargs)


@register_model
def codinet_resnet50(**kwargs) -> CoDiNet:
    return _imagenet_resnet([3, 4, 6, 3], **kwargs)


@register_model
def codinet_resnet101(**kwargs) -> CoDiNet:
    return _imagenet_resnet([3, 4, 23, 3], **kwargs)


for _variant in (
    codinet_resnet20,
    codinet_resnet32,
    codinet_resnet56,
    codinet_resnet110,
    codinet_resnet50,
    codinet_resnet101,
):
    _variant.accepts = variant_arguments
