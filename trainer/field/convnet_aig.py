"""ConvNet-AIG (Veit & Belongie, ECCV 2018; andreasveit/convnet-aig), rebuilt behind
``RoutedNetwork``, and an importer for the checkpoints its ``train.py`` and
``train_img.py`` wrote.

Every residual block has its own gate: global average pool, 1x1 conv (C -> 16)
``fc1``, batch norm ``fc1bn``, ReLU, 1x1 conv ``fc2`` to two logits; channel 1 means
"execute". The block's output is ``relu(shortcut(x) + w * F(x))`` with ``w`` the hard
(0/1) gate, so the shortcut (identity, or a 1x1 conv + BN "option B" projection where
the shape changes) runs for every image and only the residual branch F is routed.

Departures from the original, all without effect on a loaded network's answers:

- Decisions. The original samples a hard Gumbel-softmax even in evaluation, so its
  paths are random at test time. Here evaluation is deterministic and noise-free: a
  block executes where ``logit[1] > logit[0]``; a tie skips. With zero noise the
  original takes the argmax of ``softmax(logits)`` (first index, i.e. skip, on a tie)
  and its straight-through gate value ``(onehot - y) + y`` is then exactly 0 or 1, so
  both agree except where the two logits differ by less than float32's softmax can
  resolve (below about 1e-7), which the original calls a tie and skips. Training
  mode keeps the original's hard Gumbel sample with straight-through gradients.
- ``fc1bn`` is a BatchNorm2d: the original applies a BatchNorm1d(16) to the (B, 16,
  1, 1) gate features, which PyTorch 0.3 accepted and current PyTorch refuses; the
  per-channel normalisation, parameters and state-dict keys are the same.
- Pooling before the gate and the classifier is a global average over the whole map;
  the original's kernels (the map's height; 8 on CIFAR, 7 on ImageNet) are the same
  thing at 32 x 32 and 224 x 224 inputs, the sizes it was written for.
- Module names: the residual branch of a block is ``residual`` and its gate ``gate``
  (the original holds both flat in the block), so that the branch is one module that
  ``routed_parts`` can name; ``convert`` maps the keys.

Costs (``routed_parts``): a block's routed part is its residual branch F alone, with
nothing run instead when skipped; the shortcut, projection included, runs whether or
not the block executes, so, like the gates, it counts among the parts that always run.
"""

import re
from collections.abc import Mapping

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
from trainer.models.registry import create_model, register_model
from trainer.routing import RoutedNetwork, run_block

EXECUTE = 1  # the gate's output channel that means "execute" (channel 0: skip)


class Gate(nn.Module):
    def __init__(self, in_planes: int, hidden: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(in_planes, hidden, 1)
        self.fc1bn = nn.BatchNorm2d(hidden)
        self.fc2 = nn.Conv2d(hidden, 2, 1)
        # The original starts every gate open with probability about 0.85.
        nn.init.normal_(self.fc2.weight, 0, 0.001)
        with torch.no_grad():
            self.fc2.bias.copy_(torch.tensor([0.1, 2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.avg_pool2d(x, x.shape[2:])
        return self.fc2(F.relu(self.fc1bn(self.fc1(w)))).flatten(1)  # (B, 2)


class GatedBlock(nn.Module):
    def __init__(self, residual: type, in_planes: int, planes: int, stride: int):
        super().__init__()
        out_planes = planes * residual.expansion
        self.residual = residual(in_planes, planes, stride)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )
        self.gate = Gate(in_planes)

    def forward(self, x, forced, execution):
        logits = self.gate(x)
        shortcut = self.shortcut(x)
        if self.training:
            w = F.gumbel_softmax(logits, tau=1.0, hard=True)[:, EXECUTE]
            out = shortcut + self.residual(x) * w.view(-1, 1, 1, 1)
            return F.relu(out), w > 0.5
        execute = logits[:, EXECUTE] > logits[:, 1 - EXECUTE] if forced is None else forced
        # A skipped block adds nothing to its shortcut (the original multiplies F by 0).
        residual = run_block(
            x, execute, self.residual, lambda _: torch.zeros_like(shortcut), execution
        )
        return F.relu(shortcut + residual), execute


class ConvNetAIG(RoutedNetwork):
    """A ResNet with a gate per residual block; ``forward`` is ``route``."""

    family = "convnet-aig"
    conditional = True

    def __init__(self, block: str, stage_blocks: list[int], num_classes: int, stem: str):
        super().__init__()
        residual = BODIES[block]
        self.stage_blocks = list(stage_blocks)
        self.imagenet = stem == "imagenet"
        if self.imagenet:
            widths = [64, 128, 256, 512]
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            widths = [16, 32, 64]
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
        if len(stage_blocks) != len(widths):
            raise ValueError(f"{stem} ConvNet-AIG has {len(widths)} stages, got {stage_blocks}")
        in_planes = widths[0]
        for stage, (count, planes) in enumerate(zip(stage_blocks, widths, strict=True)):
            blocks = []
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(GatedBlock(residual, in_planes, planes, stride))
                in_planes = planes * residual.expansion
            # ModuleList keeps the original's key names (layer1.0. ...).
            setattr(self, f"layer{stage + 1}", nn.ModuleList(blocks))
        self.linear = nn.Linear(in_planes, num_classes)
        if self.imagenet:  # the ImageNet model's own initialisation
            for name, m in self.named_modules():
                if isinstance(m, nn.Conv2d) and not name.endswith("fc2"):
                    fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                    nn.init.normal_(m.weight, 0, (2.0 / fan_out) ** 0.5)

    def blocks(self) -> list[GatedBlock]:
        return [b for s in range(len(self.stage_blocks)) for b in getattr(self, f"layer{s + 1}")]

    def route(self, x, force_path=None, execution=None):
        execution = self.mode(execution)
        force_path = self.checked_path(x, force_path)
        out = F.relu(self.bn1(self.conv1(x)))
        if self.imagenet:
            out = self.maxpool(out)
        paths = []
        for index, block in enumerate(self.blocks()):
            forced = None if force_path is None else force_path[:, index]
            out, executed = block(out, forced, execution)
            paths.append(executed)
        logits = self.linear(F.avg_pool2d(out, out.shape[2:]).flatten(1))
        return logits, torch.stack(paths, dim=1)

    def forward(self, x, force_path=None, execution=None):
        return self.route(x, force_path, execution)

    def routed_parts(self) -> list[tuple[nn.Module, nn.Module | None]]:
        # The shortcut runs either way (see the module docstring): not a routed part.
        return [(block.residual, None) for block in self.blocks()]


@register_model
def aig_resnet_cifar(depth: int = 110, num_classes: int = 10) -> ConvNetAIG:
    """The original's ResNet_cifar(BasicBlock, [n, n, n]), depth 6n + 2 (its
    ResNet110_cifar is depth 110)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"a CIFAR ConvNet-AIG ResNet has depth 6n + 2 (8, 14, 20, ...), got {depth}"
        )
    return ConvNetAIG("basic", [(depth - 2) // 6] * 3, num_classes, "cifar")


IMAGENET_STAGES = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


@register_model
def aig_resnet50_imagenet(num_classes: int = 1000) -> ConvNetAIG:
    return ConvNetAIG("bottleneck", IMAGENET_STAGES[50], num_classes, "imagenet")


@register_model
def aig_resnet101_imagenet(num_classes: int = 1000) -> ConvNetAIG:
    return ConvNetAIG("bottleneck", IMAGENET_STAGES[101], num_classes, "imagenet")


@register_model
def aig_resnet152_imagenet(num_classes: int = 1000) -> ConvNetAIG:
    return ConvNetAIG("bottleneck", IMAGENET_STAGES[152], num_classes, "imagenet")


# --- importer -------------------------------------------------------------------

ARCHS = ("ResNet110_cifar", "ResNet50_ImageNet", "ResNet101_ImageNet", "ResNet152_ImageNet")
_BLOCK_KEY = re.compile(r"^layer(\d+)\.(\d+)\.")
_NESTED = re.compile(r"\.(residual|gate)\.")


def original_key(key: str) -> str:
    """Our state-dict key as the original names it (``layer1.0.gate.fc1.weight`` ->
    ``layer1.0.fc1.weight``)."""
    return _NESTED.sub(".", key, count=1)


def _parse_arch(arch: str) -> tuple[str, int | None]:
    """(``cifar`` or ``imagenet``, depth or None) of an --arch value: the original's
    factory names (ResNet110_cifar, ResNet50_ImageNet, ...) or ours (aig_resnet_cifar,
    any depth; aig_resnet50_imagenet, ...)."""
    found = re.fullmatch(r"(?:aig_)?resnet(\d*)_(cifar|imagenet)", arch.strip().lower())
    if found:
        kind, depth = found.group(2), int(found.group(1) or 0)
        if kind == "cifar" and (not depth or depth >= 8 and (depth - 2) % 6 == 0):
            return kind, depth or None
        if kind == "imagenet" and depth in IMAGENET_STAGES:
            return kind, depth
    raise ImportRefused(
        f"--arch should name a ConvNet-AIG network ({', '.join(ARCHS)}, ResNet<6n+2>_cifar "
        f"or aig_resnet_cifar), found {arch!r}"
    )


def _infer(state: dict[str, torch.Tensor]) -> tuple[str, int, int]:
    """(kind, depth, classes) from the blocks and classifier the state dict holds."""
    counts: dict[int, int] = {}
    for key in state:
        if found := _BLOCK_KEY.match(key):
            stage, index = int(found.group(1)), int(found.group(2))
            counts[stage] = max(counts.get(stage, 0), index + 1)
    gated = any(key.endswith(".fc2.weight") for key in state if _BLOCK_KEY.match(key))
    if not counts or not gated:
        found = "residual blocks without gates" if counts else "no blocks layer<stage>.<index>."
        raise ImportRefused(
            "expected a ConvNet-AIG ResNet state dict (blocks layer1.0. ... each with its gate "
            f"fc1/fc1bn/fc2), found {found} (keys {', '.join(list(state)[:4])}, ...)"
        )
    stages = [counts.get(s, 0) for s in range(1, max(counts) + 1)]
    classes = state["linear.weight"].shape[0] if "linear.weight" in state else 0
    if len(stages) == 3 and len(set(stages)) == 1:
        return "cifar", 6 * stages[0] + 2, classes or 10
    for depth, expected in IMAGENET_STAGES.items():
        if stages == expected:
            return "imagenet", depth, classes or 1000
    raise ImportRefused(
        "expected the blocks per stage of a ConvNet-AIG ResNet (CIFAR [n, n, n]; ImageNet "
        f"[3, 4, 6, 3], [3, 4, 23, 3] or [3, 8, 36, 3]), found {stages}"
    )


def convert(saved, arch: str | None) -> Converted:
    """A ConvNet-AIG checkpoint (``{'epoch', 'state_dict', 'best_prec1'}``, plus
    ``'optimizer'`` from train_img.py; a DataParallel state dict with ``module.``
    keys and, from PyTorch before 0.4.1, no ``num_batches_tracked``) in our terms."""
    if not isinstance(saved, Mapping) or "state_dict" not in saved:
        found = (
            f"a dict with keys {', '.join(map(str, list(saved)[:5]))}"
            if isinstance(saved, Mapping)
            else f"a {type(saved).__name__}"
        )
        raise ImportRefused(
            "expected a ConvNet-AIG checkpoint (a dict with 'epoch', 'state_dict' and "
            f"'best_prec1', as its train.py saved), found {found}"
        )
    state = strip_prefix(tensor_dict(saved["state_dict"], "the checkpoint's 'state_dict'"))
    kind, depth, classes = _infer(state)
    if arch is not None and _parse_arch(arch) not in {(kind, depth), (kind, None)}:
        raise ImportRefused(
            f"--arch {arch} does not match the file, which holds a {kind} ConvNet-AIG "
            f"ResNet-{depth}"
        )
    name = "aig_resnet_cifar" if kind == "cifar" else f"aig_resnet{depth}_imagenet"
    args = {"depth": depth, "num_classes": classes} if kind == "cifar" else {"num_classes": classes}
    with torch.device("meta"):  # only the shapes are needed
        ours = create_model(name, **args).state_dict()
    expected = {original_key(key): tuple(value.shape) for key, value in ours.items()}
    check_layout(state, expected, f"a {kind} ConvNet-AIG ResNet-{depth} with {classes} classes")
    converted = {}
    for key in ours:
        value = state.get(original_key(key))
        # Files from PyTorch before 0.4.1 have no batch counters; eval mode ignores them.
        converted[key] = torch.tensor(0) if value is None else value
    return Converted(
        arch=name,
        model_args=args,
        state_dict=converted,
        input_size=32 if kind == "cifar" else 224,
    )


FAMILY = Family(
    name="convnet-aig",
    title="ConvNet-AIG",
    repository="andreasveit/convnet-aig",
    convert=convert,
    # train.py (CIFAR-10 only) and train_img.py (ImageNet ImageFolder).
    normalization={
        "cifar10": ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]),
        "imagefolder": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    },
    archs=ARCHS,
)
