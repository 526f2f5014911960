"""BlockDrop (Wu, Nagarajan et al., "BlockDrop: Dynamic Inference Paths in Residual
Networks", CVPR 2018; github.com/Tushar-N/blockdrop), rebuilt as a ``RoutedNetwork``.

A policy network (a small ResNet: [1, 1, 1] blocks on the CIFAR image, [1, 1, 1, 1] on
the ImageNet image average-pooled by 2) looks at the image once and decides every block
of a flattened ResNet up front: ``sigmoid(logit(features)) >= 0.5`` executes a block,
the rule of the original test scripts (their training samples a Bernoulli instead;
evaluation has no noise). An executed block gives ``relu(residual + body(x))``, a
skipped one the residual alone, with no ReLU: the input, or for a stage's first block
its shortcut (CIFAR: average pool then zero channels appended; ImageNet: a 1x1
convolution with BatchNorm).

Because all decisions are known before the ResNet runs, skipped blocks are really not
computed for an image (``conditional = True``). The policy runs for every image, forced
path or not: its MACs are routing cost. A forced path replaces its decisions. The
policy's value head (``vnet``) is loaded but not run: no script of the original uses
its output (test.py's FLOP count includes its 2 x 64 FLOPs).

``convert`` reads what finetune.py saved: ``{'agent', 'resnet', 'epoch', 'reward',
'acc'}``, both state dicts taken from the unwrapped modules (``agent.module`` under
--parallel), so without a ``module.`` prefix.
"""

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainer.field.bodies import BODIES
from trainer.field.common import (
    Converted,
    Family,
    ImportRefused,
    check_layout,
    strip_prefix,
    tensor_dict,
)
from trainer.models.registry import register_model
from trainer.routing import RoutedNetwork, run_block

# utils.get_transforms: only R32_C10's pretrained ResNet was trained on normalised
# images; the other CIFAR models take raw [0, 1] pixels.
CIFAR10_R32 = ([125.3 / 255, 123.0 / 255, 113.9 / 255], [63.0 / 255, 62.1 / 255, 66.7 / 255])
RAW = ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
IMAGENET_LAYERS = {101: [3, 4, 23, 3]}  # utils.get_model's R101_ImgNet


class ZeroPadShortcut(nn.Module):
    """The CIFAR shortcut (their DownsampleB): average pool, then zero channels after."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, self.stride)
        return torch.cat([x, x.new_zeros(x.shape[0], self.extra, *x.shape[2:])], dim=1)


class Residual(nn.Module):
    """One block of the flattened ResNet with its shortcut (the original keeps a stage's
    shortcut apart, in ``ds``; here it lives with the block whose skip it is)."""

    def __init__(self, body: nn.Module, shortcut: nn.Module):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.shortcut(x) + self.body(x))


class FlatResNet(nn.Module):
    """Their FlatResNet32 (``imagenet=False``) or FlatResNet224: a stem, the blocks in
    one list (stages concatenated), an average pool of ``pool`` and an optional fc."""

    def __init__(
        self, block: str, layers: list[int], imagenet: bool, pool: int, num_classes: int | None
    ):
        super().__init__()
        body = BODIES[block]
        widths = [64, 128, 256, 512] if imagenet else [16, 32, 64]
        channels = widths[0]
        kernel, stride = (7, 2) if imagenet else (3, 1)
        self.conv1 = nn.Conv2d(3, channels, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if imagenet else nn.Identity()
        self.pool = pool
        blocks = []
        for stage, (count, width) in enumerate(zip(layers, widths, strict=True)):
            stride = 1 if stage == 0 else 2
            out_channels = width * body.expansion
            for index in range(count):
                if index > 0 or (stride == 1 and channels == out_channels):
                    shortcut = nn.Identity()
                elif imagenet:
                    shortcut = nn.Sequential(
                        nn.Conv2d(channels, out_channels, 1, stride=stride, bias=False),
                        nn.BatchNorm2d(out_channels),
                    )
                else:
                    shortcut = ZeroPadShortcut(channels, out_channels, stride)
                blocks.append(
                    Residual(body(channels, width, stride if index == 0 else 1), shortcut)
                )
                channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = channels
        self.fc = nn.Linear(channels, num_classes) if num_classes else None

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(F.relu(self.bn1(self.conv1(x))))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, self.pool).flatten(1)
        return x if self.fc is None else self.fc(x)


class Policy(nn.Module):
    """Their Policy32 / Policy224: a FlatResNet without fc, ``logit`` (one output per
    block) and the value head ``vnet``."""

    def __init__(self, features: FlatResNet, num_blocks: int, downsample: int):
        super().__init__()
        self.features = features
        self.logit = nn.Linear(features.out_channels, num_blocks)
        self.vnet = nn.Linear(features.out_channels, 1)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per image and block, True where the block executes."""
        if self.downsample > 1:
            x = F.avg_pool2d(x, self.downsample)
        x = self.features.stem(x)
        for block in self.features.blocks:
            x = block(x)
        # Thresholding the probability (not the logit) matches the original exactly,
        # also where sigmoid rounds a tiny negative logit up to 0.5.
        return torch.sigmoid(self.logit(self.features.head(x))) >= 0.5


class BlockDrop(RoutedNetwork):
    """A flattened ResNet (``resnet``) whose blocks a ``policy`` network picks per image."""

    family = "blockdrop"
    conditional = True

    def __init__(self, block: str, layers: list[int], num_classes: int, imagenet: bool):
        super().__init__()
        self.stage_blocks = list(layers)
        self.resnet = FlatResNet(block, layers, imagenet, 7 if imagenet else 8, num_classes)
        # The ImageNet policy sees the 224 image pooled to 112, hence its pool of 4.
        policy_net = FlatResNet("basic", [1] * len(layers), imagenet, 4 if imagenet else 8, None)
        self.policy = Policy(policy_net, sum(layers), 2 if imagenet else 1)
        for module in self.modules():  # their initialisation, for untrained builds
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, (2.0 / fan_out) ** 0.5)

    def forward(self, x, force_path=None, execution=None) -> tuple[torch.Tensor, torch.Tensor]:
        execution = self.mode(execution)
        force_path = self.checked_path(x, force_path)
        decided = self.policy(x)  # runs (and costs) whether or not a path is forced
        paths = decided if force_path is None else force_path
        out = self.resnet.stem(x)
        for index, block in enumerate(self.resnet.blocks):
            out = run_block(out, paths[:, index], block, block.shortcut, execution)
        return self.resnet.head(out), paths

    def route(self, x, force_path=None, execution=None) -> tuple[torch.Tensor, torch.Tensor]:
        return self(x, force_path=force_path, execution=execution)

    def routed_parts(self) -> list[tuple[nn.Module, nn.Module | None]]:
        return [(block, block.shortcut) for block in self.resnet.blocks]


@register_model
def blockdrop_cifar(depth: int = 110, num_classes: int = 10) -> BlockDrop:
    """utils.get_model's R32/R110 on CIFAR: FlatResNet32 of (depth - 2) / 6 basic blocks
    per stage, steered by a Policy32."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (32, 110, ...), got {depth}")
    return BlockDrop("basic", [(depth - 2) // 6] * 3, num_classes, imagenet=False)


@register_model
def blockdrop_imagenet(depth: int = 101, num_classes: int = 1000) -> BlockDrop:
    """utils.get_model's R101_ImgNet: FlatResNet224 of bottlenecks, steered by a Policy224
    (built with random weights here; theirs started from torchvision's ResNet-18)."""
    if depth not in IMAGENET_LAYERS:
        raise ValueError(f"BlockDrop's ImageNet network has depth 101, got {depth}")
    return BlockDrop("bottleneck", IMAGENET_LAYERS[depth], num_classes, imagenet=True)


ARCHS = ("R32_C10", "R110_C10", "R32_C100", "R110_C100", "R101_ImgNet")
_BLOCK = re.compile(r"blocks\.(\d+)\.(\d+)\.(.+)")


def _original_key(key: str, layers: list[int]) -> str:
    """A key of ``FlatResNet`` here -> the key of their FlatResNet32/224."""
    match = re.fullmatch(r"blocks\.(\d+)\.(body|shortcut)\.(.+)", key)
    if not match:
        return key
    flat, part, rest = int(match[1]), match[2], match[3]
    stage = next(s for s in range(len(layers)) if flat < sum(layers[: s + 1]))
    index = flat - sum(layers[:stage])
    return f"blocks.{stage}.{index}.{rest}" if part == "body" else f"ds.{stage}.{rest}"


def _layers(resnet: dict) -> list[int]:
    """Blocks per stage, read from the ``blocks.<stage>.<index>.conv1.weight`` keys."""
    counts: dict[int, int] = {}
    for key in resnet:
        match = _BLOCK.fullmatch(key)
        if match and match[3] == "conv1.weight":
            counts[int(match[1])] = max(counts.get(int(match[1]), 0), int(match[2]) + 1)
    return [counts.get(stage, 0) for stage in range(max(counts, default=-1) + 1)]


def _arch_hint(arch: str | None, depth: int, num_classes: int, imagenet: bool) -> None:
    """Refuse a --arch (theirs, e.g. R110_C10, or a factory name here) the file is not."""
    if arch is None:
        return
    found = f"R{depth} with {num_classes} classes ({'ImageNet' if imagenet else 'CIFAR'} layout)"
    if arch in ("blockdrop_cifar", "blockdrop_imagenet"):
        if (arch == "blockdrop_imagenet") != imagenet:
            raise ImportRefused(f"--arch {arch} does not fit the file, which holds {found}")
        return
    match = re.fullmatch(r"R(\d+)_(C10|C100|ImgNet)", arch)
    if not match:
        raise ImportRefused(
            f"--arch for blockdrop should be one of {', '.join(ARCHS)} (or blockdrop_cifar, "
            f"blockdrop_imagenet), found {arch!r}"
        )
    classes = {"C10": 10, "C100": 100, "ImgNet": 1000}[match[2]]
    if int(match[1]) != depth or classes != num_classes or (match[2] == "ImgNet") != imagenet:
        raise ImportRefused(
            f"--arch {arch} expects R{match[1]} with {classes} classes; the file holds {found}"
        )


def convert(saved: object, arch: str | None) -> Converted:
    """finetune.py's ``{'agent', 'resnet', ...}`` -> a ``blockdrop_cifar`` or
    ``blockdrop_imagenet`` state dict."""
    if not isinstance(saved, dict) or not ({"agent", "net"} & set(saved) and "resnet" in saved):
        keys = ", ".join(map(str, list(saved)[:6])) if isinstance(saved, dict) else None
        found = f"a dict with keys {keys}" if keys else f"a {type(saved).__name__}"
        hint = ""
        if isinstance(saved, dict) and "agent" in saved:
            hint = (
                " (a cl_training.py checkpoint holds only the policy; its ResNet is the "
                "pretrained one in cv/pretrained: import the finetune.py checkpoint)"
            )
        raise ImportRefused(
            "a BlockDrop checkpoint (finetune.py) is a dict with keys 'agent' and 'resnet' "
            f"(plus 'epoch', 'reward', 'acc'), found {found}{hint}"
        )
    # 'net' is the agent's key in their oldest checkpoints (utils.load_checkpoint).
    # finetune.py saved agent.module / rnet.module under --parallel: no "module." prefix,
    # but a file from an edited script may have one, and it changes nothing else.
    agent = strip_prefix(tensor_dict(saved.get("agent", saved.get("net")), "'agent'"))
    resnet = strip_prefix(tensor_dict(saved["resnet"], "'resnet'"))
    # Policy32.load_state_dict drops a legacy features.fc (the policy has no classifier).
    agent = {k: v for k, v in agent.items() if not k.startswith("features.fc")}

    stem = resnet.get("conv1.weight")
    if stem is None or tuple(stem.shape[1:]) not in ((3, 3, 3), (3, 7, 7)):
        found = "no conv1.weight" if stem is None else f"conv1.weight of shape {tuple(stem.shape)}"
        raise ImportRefused(
            "'resnet' should be a FlatResNet32 (conv1.weight 16x3x3x3) or FlatResNet224 "
            f"(64x3x7x7), found {found}"
        )
    imagenet = stem.shape[-1] == 7
    layers = _layers(resnet)
    fc = resnet.get("fc.weight")
    num_classes = int(fc.shape[0]) if fc is not None and fc.dim() == 2 else 0
    if imagenet:
        depth = 3 * sum(layers) + 2
        factory, expected = "blockdrop_imagenet", "[3, 4, 23, 3] bottlenecks (R101_ImgNet)"
        valid = depth in IMAGENET_LAYERS and layers == IMAGENET_LAYERS[depth]
    else:
        depth = 6 * (layers[0] if layers else 0) + 2
        factory, expected = "blockdrop_cifar", "three stages of equally many blocks"
        valid = len(layers) == 3 and len(set(layers)) == 1 and layers[0] > 0
    if not valid or not num_classes:
        raise ImportRefused(
            f"'resnet' should be BlockDrop's {expected} with an fc layer, found blocks per "
            f"stage {layers}" + ("" if num_classes else " and no fc.weight")
        )
    _arch_hint(arch, depth, num_classes, imagenet)

    model_args = {"depth": depth, "num_classes": num_classes}
    with torch.device("meta"):  # only the layout is needed: no memory, no init time
        model = globals()[factory](**model_args)
    what = f"BlockDrop R{depth} ({num_classes} classes)"
    names = {}  # our key -> (part of the file, their key)
    for key in model.state_dict():
        part, rest = key.split(".", 1)
        if part == "resnet":
            names[key] = ("resnet", _original_key(rest, layers))
        else:
            sub, rest = rest.split(".", 1)
            original = _original_key(rest, [1] * len(layers)) if sub == "features" else rest
            names[key] = ("agent", f"{sub}.{original}")
    state = model.state_dict()
    for part, found in (("resnet", resnet), ("agent", agent)):
        expected_shapes = {k: tuple(state[o].shape) for o, (p, k) in names.items() if p == part}
        check_layout(found, expected_shapes, f"the {part!r} of {what}")
    source = {"resnet": resnet, "agent": agent}
    converted = {
        ours: source[part].get(theirs, torch.zeros((), dtype=torch.long))  # num_batches_tracked
        for ours, (part, theirs) in names.items()
    }
    return Converted(
        arch=factory,
        model_args=model_args,
        state_dict=converted,
        input_size=224 if imagenet else 32,
        # utils.get_transforms normalises for R32_C10 alone.
        normalization=None if imagenet or (depth == 32 and num_classes == 10) else RAW,
    )


FAMILY = Family(
    name="blockdrop",
    title="BlockDrop",
    repository="Tushar-N/blockdrop",
    convert=convert,
    # Keyed by dataset; convert() says where a network departs from it (R110_C10 was
    # trained on raw pixels, unlike R32_C10).
    normalization={"cifar10": CIFAR10_R32, "cifar100": RAW, "imagefolder": IMAGENET},
    archs=ARCHS,
)
