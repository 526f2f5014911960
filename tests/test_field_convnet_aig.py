"""ConvNet-AIG import: a checkpoint in the layout andreasveit/convnet-aig's train.py
saved, made by its own code (tests/data/field/convnet-aig/README.md), converted and
run here must give the original's decisions and logits, in both execution modes and
on forced paths; files of other layouts are refused with a sentence naming what was
expected."""

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.field import families
from trainer.field.common import ImportRefused
from trainer.field.convnet_aig import FAMILY, convert, original_key
from trainer.field.importer import build_network, read_original
from trainer.flops import mac_table
from trainer.models import create_model

DATA = Path(__file__).parent / "data" / "field" / "convnet-aig"
CHECKPOINT = DATA / "model_best.pth.tar"


@pytest.fixture(scope="module")
def saved():
    return read_original(CHECKPOINT)


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(DATA / "reference.npz"))


@pytest.fixture(scope="module")
def model(saved):
    return build_network(convert(saved, None), FAMILY)


def test_saved_file_has_the_original_layout(saved):
    assert set(saved) == {"epoch", "state_dict", "best_prec1"}
    layout = {key: list(value.shape) for key, value in saved["state_dict"].items()}
    assert layout == json.loads((DATA / "keys.json").read_text())
    # What convert expects: our network's keys in the original's names, as
    # DataParallel saved them, without the batch counters PyTorch 0.3 lacked.
    ours = create_model("aig_resnet_cifar", depth=20).state_dict()
    expected = {
        "module." + original_key(key): list(value.shape)
        for key, value in ours.items()
        if not key.endswith("num_batches_tracked")
    }
    assert layout == expected


def test_convert_infers_the_architecture(saved):
    converted = convert(saved, None)
    assert (converted.arch, converted.model_args, converted.input_size) == (
        "aig_resnet_cifar",
        {"depth": 20, "num_classes": 10},
        32,
    )
    for hint in ("ResNet20_cifar", "resnet20_cifar", "aig_resnet_cifar"):
        assert convert(saved, hint).arch == "aig_resnet_cifar"


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_matches_the_original(model, reference, execution):
    inputs = torch.from_numpy(reference["inputs"])
    with torch.no_grad():
        logits, paths = model.route(inputs, execution=execution)
    assert np.array_equal(paths.numpy(), reference["decisions"].astype(bool))
    np.testing.assert_allclose(logits.numpy(), reference["logits"], rtol=0, atol=1e-5)
    decisions = reference["decisions"]
    assert 0.3 <= decisions.mean() <= 0.7 and 0 < decisions.mean(0).min() < 1


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_forced_paths_match_the_original(model, reference, execution):
    inputs = torch.from_numpy(reference["inputs"])
    forced = torch.from_numpy(reference["forced"]).bool()
    with torch.no_grad():
        logits, paths = model.route(inputs, force_path=forced, execution=execution)
    assert torch.equal(paths, forced)
    np.testing.assert_allclose(logits.numpy(), reference["forced_logits"], rtol=0, atol=1e-5)


def test_mac_table_by_hand(model):
    table = mac_table(model, 32)
    conv = lambda cin, cout, k, side: cin * cout * k * k * side * side  # noqa: E731
    stem = conv(3, 16, 3, 32)
    plain = [conv(w, w, 3, s) * 2 for w, s in ((16, 32), (32, 16), (64, 8))]
    first = [conv(w // 2, w, 3, s) + conv(w, w, 3, s) for w, s in ((32, 16), (64, 8))]
    projections = conv(16, 32, 1, 16) + conv(32, 64, 1, 8)
    gate_inputs = [16, 16, 16, 16, 32, 32, 32, 64, 64]
    gates = sum(c * 16 + 16 * 2 for c in gate_inputs)
    always = stem + projections + gates + 64 * 10
    executed = [plain[0]] * 3 + [first[0], plain[1], plain[1], first[1], plain[2], plain[2]]
    assert (table.always, table.executed, table.skipped) == (always, executed, [0] * 9)
    assert table.full == 40_818_080


def test_imagenet_networks():
    with torch.device("meta"):
        for name, gates in (("aig_resnet101_imagenet", 33), ("aig_resnet152_imagenet", 50)):
            assert create_model(name).num_gates == gates
    torch.manual_seed(0)
    net = create_model("aig_resnet50_imagenet").eval()
    assert net.stage_blocks == [3, 4, 6, 3]
    # torchvision's ResNet-50 (the same convolutions and classifier) has 4,089,184,256
    # MACs; each of the 16 gates adds in_channels * 16 + 16 * 2.
    gate_inputs = [64, 256, 256, 256, 512, 512, 512, 512] + [1024] * 5 + [1024, 2048, 2048]
    assert mac_table(net, 224).full == 4_089_184_256 + sum(c * 16 + 32 for c in gate_inputs)

    # Small images keep the test fast; the pooling is global, as at 224.
    x = torch.randn(2, 3, 64, 64)
    path = torch.rand(2, 16, generator=torch.Generator().manual_seed(0)) < 0.5
    with torch.no_grad():
        masked, paths = net.route(x, force_path=path, execution="masked")
        conditional, _ = net.route(x, force_path=path, execution="conditional")
    assert masked.shape == (2, 1000) and torch.equal(paths, path)
    torch.testing.assert_close(conditional, masked, rtol=0, atol=1e-4)

    # Its checkpoint as train_img.py saved it (DataParallel, with the optimizer).
    state = OrderedDict(("module." + original_key(k), v) for k, v in net.state_dict().items())
    converted = convert(
        {"epoch": 90, "state_dict": state, "best_prec1": 76.0, "optimizer": {}}, "ResNet50_ImageNet"
    )
    assert (converted.arch, converted.model_args, converted.input_size) == (
        "aig_resnet50_imagenet",
        {"num_classes": 1000},
        224,
    )
    net.load_state_dict(converted.state_dict)


def test_training_mode_samples_hard_gates(model):
    model.train()
    try:
        logits, paths = model.route(torch.randn(4, 3, 32, 32))
    finally:
        model.eval()
    assert logits.shape == (4, 10) and paths.dtype == torch.bool and paths.shape == (4, 9)


def test_family_is_registered():
    assert families()["convnet-aig"] is FAMILY
    assert FAMILY.normalization["cifar10"] == ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
    assert "ResNet110_cifar" in FAMILY.archs


# --- refusals ----------------------------------------------------------------------


def _other_family_files():
    here = DATA.resolve()
    return sorted(
        path
        for path in DATA.parent.rglob("*")
        if path.suffix in {".tar", ".pth", ".t7", ".pt"} and here not in path.resolve().parents
    )


@pytest.mark.parametrize("path", _other_family_files(), ids=lambda p: p.parent.name)
def test_refuses_other_families_files(path):
    with pytest.raises(ImportRefused, match="ConvNet-AIG"):
        convert(read_original(path), None)


def _edited(saved, edit):
    state = OrderedDict(saved["state_dict"])
    edit(state)
    return {**saved, "state_dict": state}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda s: [s], "expected a ConvNet-AIG checkpoint .* found a list"),
        (lambda s: torch.zeros(3), "expected a ConvNet-AIG checkpoint .* found a Tensor"),
        (
            lambda s: {"agent": {}, "resnet": {}},
            "'state_dict' .* found a dict with keys agent, resnet",
        ),
        (lambda s: {"state_dict": [1]}, "should be a state dict of tensors"),
        (
            lambda s: _edited(s, lambda d: [d.pop(k) for k in list(d) if ".fc" in k]),
            "expected a ConvNet-AIG ResNet state dict .* without gates",
        ),
        (
            lambda s: _edited(s, lambda d: d.pop("module.layer2.1.fc1bn.running_var")),
            "of the 209 keys expected, 1 missing .*layer2.1.fc1bn.running_var",
        ),
        (
            lambda s: _edited(s, lambda d: d.update({"module.layer1.0.extra": torch.zeros(1)})),
            "1 unexpected .*layer1.0.extra",
        ),
        (
            lambda s: _edited(
                s, lambda d: d.update({"module.layer3.2.fc2.weight": torch.zeros(3, 16, 1, 1)})
            ),
            r"layer3.2.fc2.weight should have shape \(2, 16, 1, 1\), found \(3, 16, 1, 1\)",
        ),
        (
            lambda s: _edited(
                s, lambda d: [d.pop(k) for k in list(d) if k.startswith("module.layer3.2.")]
            ),
            r"blocks per stage .* found \[3, 3, 2\]",
        ),
    ],
)
def test_refusals(saved, make, message):
    with pytest.raises(ImportRefused, match=message):
        convert(make(saved), None)


@pytest.mark.parametrize(
    "arch, message",
    [
        ("ResNet110_cifar", "does not match the file, which holds a cifar ConvNet-AIG ResNet-20"),
        ("ResNet50_ImageNet", "does not match the file"),
        ("ResNet21_cifar", "--arch should name a ConvNet-AIG network"),
        ("skipnet_cifar_rnn", "--arch should name a ConvNet-AIG network"),
    ],
)
def test_refuses_a_wrong_arch(saved, arch, message):
    with pytest.raises(ImportRefused, match=message):
        convert(saved, arch)
