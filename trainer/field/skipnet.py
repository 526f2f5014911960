"""SkipNet (Wang et al., ECCV 2018) as its public code builds it (github.com/ucbdrive/skipnet,
cifar/models.py, imagenet/models.py): a ResNet whose blocks a gate skips per image.

- The first block always runs; the gate on block k's output decides block k + 1, so N
  blocks route N - 1 (ResNet-38: 17 of 18).
- Recurrent gate: per block an embedding (``groupG_gateI``: average pool over the whole
  map, 1x1 conv) feeds one LSTM shared by all blocks (``control``), its state carried
  through an image's blocks; a projection (Linear on CIFAR, 1x1 conv on ImageNet) and a
  sigmoid give the probability that the next block runs. Feed-forward gates (FFGate-I,
  -II): a small conv net per block, softmax over two logits, the second entry.
- Evaluation executes where that probability is > 0.5, the original's test-time rule (the
  HRL models sample only in training): routing is deterministic.
- A skipped block outputs its input, or where the shape changes the input through the
  block's downsample (1x1 conv, BatchNorm, no ReLU): the original mixes the block's
  output with ``prev`` through ``groupG_ds0``, the module the block itself uses as its
  shortcut (saved twice: ``groupG_ds0`` and ``groupG_layer0.downsample``).
- SP models and feed-forward HRL models compute the last block's gate and discard it;
  recurrent HRL models do not compute it (``final_gate``): only the cost differs.

Evaluation only: training (straight-through, REINFORCE) is not reproduced.
"""

import re
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
from trainer.models.registry import create_model, register_model
from trainer.routing import RoutedNetwork, run_block

# ImageNet depth -> (block, blocks per stage), imagenet/models.py.
IMAGENET_DEPTHS = {
    18: ("basic", [2, 2, 2, 2]),
    34: ("basic", [3, 4, 6, 3]),
    50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]),
    152: ("bottleneck", [3, 8, 36, 3]),
}
WHAT = "a SkipNet (ucbdrive/skipnet)"


class RecurrentController(nn.Module):
    """One LSTM step per gate (sequence length 1, the state carried between blocks),
    then a projection to one logit and a sigmoid."""

    def __init__(self, embed_dim: int, hidden_dim: int, proj: str):
        super().__init__()
        self.rnn = nn.LSTM(embed_dim, hidden_dim)
        self.proj = nn.Linear(hidden_dim, 1) if proj == "linear" else nn.Conv2d(hidden_dim, 1, 1)

    def forward(self, feature: torch.Tensor, state):
        out, state = self.rnn(feature.unsqueeze(0), state)
        out = out[0] if isinstance(self.proj, nn.Linear) else out[0, :, :, None, None]
        return torch.sigmoid(self.proj(out).flatten()), state


class FeedforwardGate(nn.Module):
    """FFGate-I (2x2 max pool, 3x3 conv, 3x3 conv of stride 2) or FFGate-II (one 3x3
    conv of stride 2), each conv with BatchNorm and ReLU; then an average pool over the
    remaining map (the original's kernel arithmetic) and a 1x1 conv to two logits."""

    def __init__(self, channels: int, pool: int, kind: str):
        super().__init__()
        first = kind == "ffgate1"
        self.maxpool = nn.MaxPool2d(2) if first else nn.Identity()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1 if first else 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        if first:
            self.conv2 = nn.Conv2d(channels, channels, 3, 2, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
        self.pool = nn.AvgPool2d((pool // (2 if first else 1) + 1) // 2)  # floor(p/2 + .5)
        self.linear_layer = nn.Conv2d(channels, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(self.maxpool(x))))
        if hasattr(self, "conv2"):
            x = F.relu(self.bn2(self.conv2(x)))
        return torch.softmax(self.linear_layer(self.pool(x)).flatten(1), dim=1)[:, 1]


class SkipNet(RoutedNetwork):
    """``forward``/``route`` return ``(logits, paths)``, paths (B, G) of executed blocks
    (G = all blocks but the first)."""

    family = "skipnet"
    conditional = True

    def __init__(
        self,
        block: str,
        layers: list[int],
        num_classes: int,
        stem: str,
        gate: str,
        embed_dim: int = 10,
        hidden_dim: int = 10,
        final_gate: bool = True,
    ):
        super().__init__()
        block_cls = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        if stem == "cifar":
            self.stem = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
            )
            channels, size, widths = 16, 32, [16, 32, 64]
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(64),
                nn.ReLU(),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
            channels, size, widths = 64, 56, [64, 128, 256, 512]
        blocks, gates, self.positions = [], [], []
        for stage, (count, width) in enumerate(zip(layers, widths, strict=True)):
            size = size if stage == 0 else size // 2  # the map each stage's gates pool
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                # Shortcut "B": a 1x1 conv and BatchNorm where the shape changes, as
                # the original's ``downsample``.
                blocks.append(block_cls(channels, width, stride, "B"))
                channels = width * block_cls.expansion
                # The recurrent gate's per-block embedding: an average pool of the whole
                # map (AvgPool2d of its size, as the original) and a 1x1 conv.
                gates.append(
                    nn.Sequential(nn.AvgPool2d(size), nn.Conv2d(channels, embed_dim, 1))
                    if gate == "rnn"
                    else FeedforwardGate(channels, size, gate)
                )
                self.positions.append((stage + 1, index))  # the original's group, index
        self.blocks = nn.ModuleList(blocks)
        self.gates = nn.ModuleList(gates)
        proj = "linear" if stem == "cifar" else "conv"
        self.controller = (
            RecurrentController(embed_dim, hidden_dim, proj) if gate == "rnn" else None
        )
        self.pool = nn.AvgPool2d(size)
        self.classifier = nn.Linear(channels, num_classes)
        self.stage_blocks = [count - (stage == 0) for stage, count in enumerate(layers)]
        self.final_gate = final_gate

    def _prob(self, index: int, x: torch.Tensor, state):
        """The probability that block ``index + 1`` runs, from block ``index``'s output."""
        if self.controller is None:
            return self.gates[index](x), state
        return self.controller(self.gates[index](x).flatten(1), state)

    def forward(self, x, force_path=None, execution=None):
        execution = self.mode(execution)
        force_path = self.checked_path(x, force_path)
        out = self.blocks[0](self.stem(x))
        state, paths = None, []  # None: the LSTM starts from zeros, as init_hidden
        for index in range(1, len(self.blocks)):
            # The gate runs on the path actually taken, forced or not.
            prob, state = self._prob(index - 1, out, state)
            execute = prob > 0.5 if force_path is None else force_path[:, index - 1]
            block = self.blocks[index]
            out = run_block(out, execute, block, block.shortcut, execution)
            paths.append(execute)
        if self.final_gate:  # computed and discarded, as the original does: its cost
            self._prob(len(self.blocks) - 1, out, state)
        logits = self.classifier(self.pool(out).flatten(1))
        return logits, torch.stack(paths, dim=1)

    def route(self, x, force_path=None, execution=None):
        return self(x, force_path=force_path, execution=execution)

    def routed_parts(self) -> list[tuple[nn.Module, nn.Module | None]]:
        return [
            (b, None if isinstance(b.shortcut, nn.Identity) else b.shortcut)
            for b in self.blocks[1:]
        ]


def _cifar_layers(depth: int) -> list[int]:
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR SkipNet has depth 6n + 2 (38, 74, 110, 152), got {depth}")
    return [(depth - 2) // 6] * 3


@register_model
def skipnet_cifar_rnn(
    depth: int = 38,
    num_classes: int = 10,
    final_gate: bool = True,
    embed_dim: int = 10,
    hidden_dim: int = 10,
) -> SkipNet:
    """cifar{10,100}_rnn_gate_{depth}; final_gate=False for cifar*_rnn_gate_rl_*."""
    layers = _cifar_layers(depth)
    return SkipNet("basic", layers, num_classes, "cifar", "rnn", embed_dim, hidden_dim, final_gate)


@register_model
def skipnet_cifar_feedforward(
    depth: int = 38, num_classes: int = 10, gate: str = "ffgate1"
) -> SkipNet:
    """cifar{10,100}_feedforward[_rl]_{depth}: FFGate-I ("ffgate1") or -II ("ffgate2")."""
    if gate not in ("ffgate1", "ffgate2"):
        raise ValueError(f"gate must be 'ffgate1' or 'ffgate2', got {gate!r}")
    return SkipNet("basic", _cifar_layers(depth), num_classes, "cifar", gate)


@register_model
def skipnet_imagenet_rnn(
    depth: int = 50,
    num_classes: int = 1000,
    final_gate: bool = True,
    embed_dim: int = 10,
    hidden_dim: int = 10,
) -> SkipNet:
    """imagenet_rnn_gate_{depth}; final_gate=False for imagenet_rnn_gate_rl_*."""
    if depth not in IMAGENET_DEPTHS:
        raise ValueError(f"depth must be one of {sorted(IMAGENET_DEPTHS)}, got {depth}")
    block, layers = IMAGENET_DEPTHS[depth]
    return SkipNet(block, layers, num_classes, "imagenet", "rnn", embed_dim, hidden_dim, final_gate)


def _original_archs() -> dict[str, tuple[str, dict]]:
    """Every gated --arch the original code defines -> (registered name, arguments)."""
    archs = {}
    for classes in (10, 100):
        for depth, rl in [(d, rl) for d in (38, 74, 110, 152) for rl in (False, True)]:
            if not (rl and depth == 152):  # no cifar*_rnn_gate_rl_152
                args = {"depth": depth, "num_classes": classes, "final_gate": not rl}
                name = f"cifar{classes}_rnn_gate{'_rl' * rl}_{depth}"
                archs[name] = ("skipnet_cifar_rnn", args)
    # Spelled as in cifar/models.py, typos included: they are the --arch values.
    for name in (
        "cifar10_feedforward_38 cifar10_feedforward_74 cifar10_feedforward_110 "
        "cifar100_feeforward_38 cifar100_feedforward_74 cifar100_feedforward_110 "
        "cifar10_feedfoward_rl_38 cifar10_feedforward_rl_74 cifar10_feedforward_rl_110 "
        "cifar100_feedford_rl_38 cifar100_feedforward_rl_74 cifar100_feedforward_rl_110"
    ).split():
        classes, depth = map(int, re.fullmatch(r"cifar(\d+)_\w+_(\d+)", name).groups())
        gate = "ffgate2" if depth == 110 else "ffgate1"
        archs[name] = (
            "skipnet_cifar_feedforward",
            {"depth": depth, "num_classes": classes, "gate": gate},
        )
    for depth, rl in [(d, rl) for d in IMAGENET_DEPTHS for rl in (False, True)]:
        args = {"depth": depth, "num_classes": 1000, "final_gate": not rl}
        archs[f"imagenet_rnn_gate{'_rl' * rl}_{depth}"] = ("skipnet_imagenet_rnn", args)
    return archs


ARCHS = _original_archs()


def _infer(state: Mapping[str, torch.Tensor]) -> tuple[str, dict]:
    """(registered name, arguments) from the weights' shapes: for a file whose ``arch``
    this module does not know (a fork's own depth)."""
    stem = tuple(state["conv1.weight"].shape) if "conv1.weight" in state else None
    kind = {(16, 3, 3, 3): "cifar", (64, 3, 7, 7): "imagenet"}.get(stem)
    gates = {"control.rnn.weight_ih_l0": "rnn", "group1_gate0.conv2.weight": "ffgate1"}
    gates["group1_gate0.conv1.weight"] = "ffgate2"
    gate = next((g for key, g in gates.items() if key in state), None)
    if kind is None or gate is None or "fc.weight" not in state:
        raise ImportRefused(
            f"the weights are not those of {WHAT}: expected conv1.weight of shape "
            "(16, 3, 3, 3) or (64, 3, 7, 7), groupG_layerI.* blocks, fc.* and gates "
            "(control.rnn.* for the recurrent gate, group1_gate0.conv1.* for the "
            f"feed-forward ones; a plain cifar*_resnet_* has none), found "
            f"{', '.join(list(state)[:4])}, ..."
        )
    groups = range(1, 4 if kind == "cifar" else 5)
    layers = [sum(f"group{g}_layer{i}.conv1.weight" in state for i in range(64)) for g in groups]
    args = {"num_classes": int(state["fc.weight"].shape[0])}
    if gate == "rnn":
        args["embed_dim"] = int(state["control.rnn.weight_ih_l0"].shape[1])
        args["hidden_dim"] = int(state["control.rnn.weight_hh_l0"].shape[1])
    block = "bottleneck" if "group1_layer0.conv3.weight" in state else "basic"
    depths = [d for d, spec in IMAGENET_DEPTHS.items() if spec == (block, layers)]
    if kind == "cifar" and len(set(layers)) == 1 and layers[0] > 0:
        if gate != "rnn":
            return "skipnet_cifar_feedforward", {**args, "depth": 6 * layers[0] + 2, "gate": gate}
        return "skipnet_cifar_rnn", {**args, "depth": 6 * layers[0] + 2}
    if kind == "imagenet" and depths and gate == "rnn":
        return "skipnet_imagenet_rnn", {**args, "depth": depths[0]}
    raise ImportRefused(
        f"the weights are not those of {WHAT}: expected as many blocks in groups 1 to 3 "
        f"(CIFAR) or an ImageNet depth {sorted(IMAGENET_DEPTHS)} with the recurrent gate, "
        f"found {block} blocks {layers} with gate {gate}"
    )


def _original_keys(model: SkipNet) -> dict[str, list[str]]:
    """Each key of ``model``'s state dict -> its key(s) in the original's state dict."""
    names = {}
    for key in model.state_dict():
        head, _, rest = key.partition(".")
        if head == "stem":
            names[key] = [("conv1." if rest.startswith("0.") else "bn1.") + rest[2:]]
        elif head in ("classifier", "controller"):
            names[key] = [{"classifier": "fc.", "controller": "control."}[head] + rest]
        else:
            index, _, tail = rest.partition(".")
            group, i = model.positions[int(index)]
            if head == "gates":
                names[key] = [f"group{group}_gate{i}.{tail}"]
            elif tail.startswith("shortcut."):
                sub = tail.removeprefix("shortcut.")
                names[key] = [
                    f"group{group}_layer{i}.downsample.{sub}",
                    f"group{group}_ds{i}.{sub}",
                ]
            else:
                names[key] = [f"group{group}_layer{i}.{tail}"]
    return names


def convert(saved, arch: str | None) -> Converted:
    """A checkpoint as cifar/train_sp.py, train_rl.py (or imagenet/train_*.py) save it:
    the DataParallel model's ``state_dict`` (``module.`` prefix) and its ``arch``, which
    decides the network (``arch``, the --arch hint, wins); the shapes where it is unknown."""
    if not isinstance(saved, Mapping) or "state_dict" not in saved:
        found = f"a {type(saved).__name__}"
        if isinstance(saved, Mapping):
            found = f"a dict with keys {', '.join(map(str, list(saved)[:5])) or '(none)'}"
        raise ImportRefused(
            f"expected a checkpoint of {WHAT} as its train_*.py save it: a dict with "
            f"'state_dict', 'arch', 'best_prec1' and 'iter' or 'epoch', found {found}"
        )
    state = strip_prefix(tensor_dict(saved["state_dict"], "the checkpoint's 'state_dict'"))
    if arch is not None and arch not in ARCHS:
        known = ", ".join(list(ARCHS)[:4])
        raise ImportRefused(f"expected an --arch of {WHAT} ({known}, ...), found {arch!r}")
    wanted = arch or (saved["arch"] if isinstance(saved.get("arch"), str) else None)
    name, args = ARCHS[wanted] if wanted in ARCHS else _infer(state)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = create_model(name, **args)
    names = _original_keys(model)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {orig: shapes[key] for key, origs in names.items() for orig in origs}
    check_layout(state, expected, f"{WHAT} {wanted if wanted in ARCHS else name}")
    converted = {}
    for key, (first, *copies) in names.items():
        if first not in state:  # old PyTorch wrote no BatchNorm step counters
            converted[key] = torch.tensor(0, dtype=torch.long)
        # The downsample is one module saved under two names; both must agree.
        elif any(c in state and not torch.equal(state[c], state[first]) for c in copies):
            raise ImportRefused(
                f"the weights are not those of {WHAT}: {copies[0]} should equal {first} "
                "(one module saved twice), found different values"
            )
        else:
            converted[key] = state[first]
    input_size = 224 if name == "skipnet_imagenet_rnn" else 32
    return Converted(arch=name, model_args=args, state_dict=converted, input_size=input_size)


_CIFAR_NORM = ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])  # cifar/data.py
FAMILY = Family(
    name="skipnet",
    title="SkipNet",
    repository="ucbdrive/skipnet",
    convert=convert,
    normalization={
        "cifar10": _CIFAR_NORM,
        "cifar100": _CIFAR_NORM,
        "imagefolder": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),  # imagenet/train_*.py
    },
    archs=tuple(ARCHS),
)
