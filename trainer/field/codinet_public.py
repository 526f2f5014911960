"""CoDiNet as its public code builds it (github.com/huanyuhello/CoDiNet, models/codinet.py).

This is not the project's own CoDiNet (``trainer.models.codinet``): the public code
gives each gated block a skip path with its OWN weights (1x1 conv, BatchNorm, ReLU)
wherever the block changes shape, apart from the block's parameter-free "option A"
shortcut inside its residual sum; its gate is Linear(C, C) then Linear(C, 2) on the
pooled input with nothing between. Module names follow the public code, so its saved
``net`` state dict loads after ``module.`` prefixes (apex DDP runs) are removed.

Test-time routing. The public code samples ``F.gumbel_softmax(logits)`` even in
evaluation and executes the block where the sample's channel 0 is the larger
(``gate.max(1)``, index 0 = execute). Here the noise is left out (zero Gumbel noise,
tau 1): execute where ``softmax(logits)[0] >= softmax(logits)[1]``. That is
``logit[0] >= logit[1]``, ties executing, because ``torch.max`` returns the first
index of equal values; the only difference from comparing logits is that logits
closer than float rounding of ``exp`` give equal probabilities and so execute.
"""

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainer.field.common import (
    Converted,
    Family,
    ImportRefused,
    check_layout,
    strip_prefix,
    tensor_dict,
)
from trainer.models.codinet import BasicBlock, Bottleneck
from trainer.models.registry import register_model
from trainer.routing import RoutedNetwork, run_block

EXECUTE, SKIP = 0, 1
# Blocks per stage for each --backbone the public code knows (utils/utils.py get_blocks).
CIFAR_BLOCKS = {20: 3, 32: 5, 38: 6, 44: 7, 56: 9, 74: 12, 110: 18}
IMAGENET_BLOCKS = {50: (3, 4, 6, 3)}
CIFAR_ARCH, IMAGENET_ARCH = "codinet_public_cifar", "codinet_public_imagenet"


class Gate(nn.Module):
    """Pooled input -> Linear(C, C) -> Linear(C, 2): the two logits (execute, skip)."""

    def __init__(self, in_planes: int):
        super().__init__()
        self.line0 = nn.Linear(in_planes, in_planes)
        self.line1 = nn.Linear(in_planes, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The public code pools with a kernel of the input's height (square inputs).
        pooled = F.avg_pool2d(x, x.shape[2]).flatten(1)
        return self.line1(self.line0(pooled))


class GateBlock(nn.Module):
    """A residual block, its gate, and the skip path run instead when it is skipped:
    1x1 conv + BatchNorm + ReLU with its own weights where the block changes shape,
    else the identity."""

    def __init__(self, block_cls: type, in_planes: int, planes: int, stride: int):
        super().__init__()
        # The public code's blocks are a CIFAR BasicBlock with the zero-padding shortcut
        # (option A) and an ImageNet Bottleneck with the 1x1 projection (option B), as
        # this project's own.
        shortcut = "A" if block_cls is BasicBlock else "B"
        self.block = block_cls(in_planes, planes, stride, shortcut)
        self.gate = Gate(in_planes)
        out_planes = planes * block_cls.expansion
        self.skip = nn.Identity()
        if stride != 1 or in_planes != out_planes:
            self.skip = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
                nn.ReLU(),
            )

    def forward(self, x: torch.Tensor, forced: torch.Tensor | None, execution: str):
        # The gate runs even when the path is forced: its cost is part of every path.
        probs = F.softmax(self.gate(x), dim=1)
        execute = probs[:, EXECUTE] >= probs[:, SKIP] if forced is None else forced
        return run_block(x, execute, self.block, self.skip, execution), execute


class CoDiNetPublic(RoutedNetwork):
    """CoDiNet_Cifar (BasicBlocks, widths 16/32/64) or CoDiNet_ImageNet (Bottlenecks,
    widths 64-512, 7x7 stem and max pooling). ``forward`` is ``route``."""

    family = "codinet-public"
    conditional = True

    def __init__(self, stage_blocks: list[int], num_classes: int, imagenet: bool):
        super().__init__()
        self.stage_blocks = list(stage_blocks)
        block_cls = Bottleneck if imagenet else BasicBlock
        widths = (64, 128, 256, 512) if imagenet else (16, 32, 64)
        in_planes = widths[0]
        if imagenet:
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(in_planes)
        for stage, (count, planes) in enumerate(zip(stage_blocks, widths, strict=True)):
            blocks = nn.ModuleList()
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(GateBlock(block_cls, in_planes, planes, stride))
                in_planes = planes * block_cls.expansion
            self.add_module(f"layer{stage + 1}", blocks)
        self.linear = nn.Linear(in_planes, num_classes)
        # As the public code initialises (_weights_init): only conv and linear weights.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def gate_blocks(self) -> list[GateBlock]:
        stages = range(1, len(self.stage_blocks) + 1)
        return [block for s in stages for block in self.get_submodule(f"layer{s}")]

    def forward(self, x, force_path=None, execution=None) -> tuple[torch.Tensor, torch.Tensor]:
        execution = self.mode(execution)
        force_path = self.checked_path(x, force_path)
        out = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        paths = []
        for index, gated in enumerate(self.gate_blocks()):
            forced = None if force_path is None else force_path[:, index]
            out, execute = gated(out, forced, execution)
            paths.append(execute)
        out = F.avg_pool2d(out, out.shape[3]).flatten(1)
        return self.linear(out), torch.stack(paths, dim=1)

    def route(self, x, force_path=None, execution=None) -> tuple[torch.Tensor, torch.Tensor]:
        return self(x, force_path=force_path, execution=execution)

    def routed_parts(self) -> list[tuple[nn.Module, nn.Module | None]]:
        return [
            (gated.block, None if isinstance(gated.skip, nn.Identity) else gated.skip)
            for gated in self.gate_blocks()
        ]


@register_model
def codinet_public_cifar(depth: int = 20, num_classes: int = 10) -> CoDiNetPublic:
    """The public code's CoDiNet_Cifar for --backbone resnet<depth>."""
    if depth not in CIFAR_BLOCKS:
        raise ValueError(f"depth must be one of {sorted(CIFAR_BLOCKS)}, got {depth}")
    return CoDiNetPublic([CIFAR_BLOCKS[depth]] * 3, num_classes, imagenet=False)


@register_model
def codinet_public_imagenet(depth: int = 50, num_classes: int = 1000) -> CoDiNetPublic:
    """The public code's CoDiNet_ImageNet for --backbone resnet50 (its only one)."""
    if depth not in IMAGENET_BLOCKS:
        raise ValueError(f"depth must be one of {sorted(IMAGENET_BLOCKS)}, got {depth}")
    return CoDiNetPublic(list(IMAGENET_BLOCKS[depth]), num_classes, imagenet=True)


# --arch hints: the public code's --backbone names, or this module's architectures.
BACKBONES = {f"resnet{d}": (CIFAR_ARCH, d) for d in CIFAR_BLOCKS} | {
    f"resnet{d}": (IMAGENET_ARCH, d) for d in IMAGENET_BLOCKS
}
WHAT = "CoDiNet's public code (huanyuhello/CoDiNet)"
SAVED = "the dict its train_cifar.py / train_imagenet.py save as ckpt.pth ({'net', 'acc', 'epoch'})"


def _stage_counts(state: Mapping[str, torch.Tensor], stages: int) -> list[int]:
    counts = []
    for stage in range(1, stages + 1):
        prefix = f"layer{stage}."
        indices = {key[len(prefix) :].split(".")[0] for key in state if key.startswith(prefix)}
        counts.append(len(indices))
    return counts


def _infer(state: Mapping[str, torch.Tensor], arch: str | None) -> tuple[str, int]:
    """(architecture, depth) from the stem's shape and the blocks per stage, checked
    against the --arch hint where one is given."""
    stem = state.get("conv1.weight")
    if stem is None:
        raise ImportRefused(
            f"the weights are not those of {WHAT}: expected a stem conv1.weight and blocks "
            f"layer1.0.block / layer1.0.gate.line0, found keys {', '.join(list(state)[:4])}"
        )
    shapes = {(16, 3, 3, 3): CIFAR_ARCH, (64, 3, 7, 7): IMAGENET_ARCH}
    found_arch = shapes.get(tuple(stem.shape))
    if found_arch is None:
        raise ImportRefused(
            f"the weights are not those of {WHAT}: conv1.weight should have shape "
            f"(16, 3, 3, 3) (CIFAR) or (64, 3, 7, 7) (ImageNet), found {tuple(stem.shape)}"
        )
    if found_arch == CIFAR_ARCH:
        counts = _stage_counts(state, 3)
        known = {d: [n] * 3 for d, n in CIFAR_BLOCKS.items()}
    else:
        counts = _stage_counts(state, 4)
        known = {d: list(n) for d, n in IMAGENET_BLOCKS.items()}
    depth = next((d for d, blocks in known.items() if blocks == counts), None)
    if depth is None:
        raise ImportRefused(
            f"the weights are not those of {WHAT}: expected blocks per stage of a known "
            f"backbone ({', '.join(f'resnet{d}: {b}' for d, b in known.items())}), found {counts}"
        )
    if arch is not None:
        if arch in BACKBONES:
            hinted = BACKBONES[arch]
        elif arch in (CIFAR_ARCH, IMAGENET_ARCH):
            hinted = (arch, depth)
        else:
            raise ImportRefused(
                f"--arch for {WHAT} should be one of "
                f"{', '.join([*BACKBONES, CIFAR_ARCH, IMAGENET_ARCH])}, found {arch!r}"
            )
        if hinted != (found_arch, depth):
            raise ImportRefused(
                f"--arch {arch} expects {hinted[0]} of depth {hinted[1]}, but the file holds "
                f"{found_arch} of depth {depth} (blocks per stage {counts})"
            )
    return found_arch, depth


def convert(saved, arch: str | None) -> Converted:
    """The saved ``ckpt.pth`` as a ``CoDiNetPublic``: its ``net`` state dict, without the
    ``module.`` prefix apex DDP added on multi-GPU runs (single-GPU runs saved none)."""
    if not isinstance(saved, Mapping) or "net" not in saved:
        found = (
            f"a dict with keys {', '.join(map(str, list(saved)[:5])) or '(none)'}"
            if isinstance(saved, Mapping)
            else f"a {type(saved).__name__}"
        )
        raise ImportRefused(f"expected {SAVED} of {WHAT}, found {found}")
    state = strip_prefix(tensor_dict(saved["net"], "ckpt.pth['net']"))
    arch_name, depth = _infer(state, arch)
    linear = state.get("linear.weight")
    if linear is None or linear.dim() != 2 or linear.shape[0] < 1:
        found = "none" if linear is None else tuple(linear.shape)
        raise ImportRefused(
            f"the weights are not those of {WHAT}: expected a classifier linear.weight "
            f"of shape (classes, features), found {found}"
        )
    num_classes = linear.shape[0]
    args = {"depth": depth, "num_classes": int(num_classes)}
    factory = codinet_public_cifar if arch_name == CIFAR_ARCH else codinet_public_imagenet
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        expected = {k: tuple(v.shape) for k, v in factory(**args).state_dict().items()}
    check_layout(state, expected, f"{WHAT} {arch_name} depth {depth}")
    # Old PyTorch (and this project's reference file) wrote no BatchNorm step counters;
    # evaluation never reads them.
    for key in expected:
        if key not in state:
            state[key] = torch.tensor(0, dtype=torch.long)
    return Converted(
        arch=arch_name,
        model_args=args,
        state_dict={k: state[k] for k in expected},
        input_size=224 if arch_name == IMAGENET_ARCH else 32,
    )


_CIFAR_NORM = ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])  # utils/dataloader.py
FAMILY = Family(
    name="codinet-public",
    title="CoDiNet (public code)",
    repository="huanyuhello/CoDiNet",
    convert=convert,
    normalization={
        "cifar10": _CIFAR_NORM,
        "cifar100": _CIFAR_NORM,
        "svhn": _CIFAR_NORM,
        "imagefolder": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    },
    archs=tuple(BACKBONES),
)
