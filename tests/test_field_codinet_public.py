"""CoDiNet's public code (huanyuhello/CoDiNet) rebuilt: its saved file, converted and
loaded, gives the decisions and logits the public code itself gave (reference files
made by tests/data/field/codinet-public/make_reference.py from that code)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.field.codinet_public import FAMILY, convert
from trainer.field.common import ImportRefused
from trainer.field.importer import build_network, read_original
from trainer.flops import mac_table
from trainer.models import create_model

DATA = Path(__file__).parent / "data" / "field" / "codinet-public"
FIELD = DATA.parent


@pytest.fixture(scope="module")
def saved():
    return read_original(DATA / "ckpt.pth")


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "reference.npz") as data:
        return {name: torch.from_numpy(data[name]) for name in data.files}


@pytest.fixture(scope="module")
def model(saved):
    return _load(saved)


def _load(saved, arch=None):
    return build_network(convert(saved, arch), FAMILY)


def test_the_saved_file_is_train_cifar_layout(saved):
    # train_cifar.py save_model: {'net': state_dict, 'acc': float, 'epoch': int}
    assert set(saved) == {"net", "acc", "epoch"}
    assert isinstance(saved["acc"], float) and isinstance(saved["epoch"], int)
    converted = convert(saved, None)
    assert converted.arch == "codinet_public_cifar"
    assert converted.model_args == {"depth": 20, "num_classes": 10}
    assert converted.input_size == 32


def test_keys_json_is_the_layout_convert_expects(saved):
    keys = json.loads((DATA / "keys.json").read_text())
    assert keys == {k: list(v.shape) for k, v in saved["net"].items()}
    net = create_model("codinet_public_cifar", depth=20, num_classes=10)
    expected = {
        k: list(v.shape)
        for k, v in net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    assert keys == expected
    # The skip paths with their own weights: first blocks of stages 2 and 3 only.
    assert {k.split(".skip.")[0] for k in keys if ".skip." in k} == {"layer2.0", "layer3.0"}


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_decisions_and_logits_match_the_public_code(model, reference, execution):
    with torch.no_grad():
        logits, paths = model.route(reference["inputs"], execution=execution)
    assert paths.dtype == torch.bool and paths.shape == (16, 9)
    assert torch.equal(paths.to(torch.uint8), reference["decisions"])
    assert torch.allclose(logits, reference["logits"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_forced_paths_match_the_public_code(model, reference, execution):
    forced = reference["forced"].bool()
    with torch.no_grad():
        logits, paths = model.route(reference["inputs"], force_path=forced, execution=execution)
    assert torch.equal(paths, forced)
    assert torch.allclose(logits, reference["forced_logits"], rtol=0, atol=1e-5)


def test_reference_decisions_are_mixed(reference):
    share = reference["decisions"].float().mean(0)
    assert ((share >= 0.3) & (share <= 0.7)).all()
    assert not torch.equal(reference["forced"], reference["decisions"])


def test_a_multi_gpu_file_with_module_prefix_loads_the_same(saved, model):
    # apex DDP wraps the net in .module: multi-GPU runs saved every key with the prefix.
    prefixed = dict(saved, net={f"module.{k}": v for k, v in saved["net"].items()})
    other = _load(prefixed)
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value)


def test_num_batches_tracked_may_be_present(saved):
    net = dict(saved["net"])
    net["bn1.num_batches_tracked"] = torch.tensor(7)
    converted = convert(dict(saved, net=net), None)
    assert converted.state_dict["bn1.num_batches_tracked"].item() == 7


@pytest.mark.parametrize("hint", [None, "resnet20", "codinet_public_cifar"])
def test_arch_hints(saved, hint):
    assert convert(saved, hint).model_args["depth"] == 20


def test_mac_table_matches_a_hand_count(model):
    table = mac_table(model, 32)

    def conv(cin, cout, k, side):
        return cin * cout * k * k * side * side

    def body(cin, cout, side):  # two 3x3 convs at the block's output side
        return conv(cin, cout, 3, side) + conv(cout, cout, 3, side)

    def gate(c):  # Linear(C, C) + Linear(C, 2)
        return c * c + 2 * c

    executed = [body(16, 16, 32)] * 3
    executed += [body(16, 32, 16)] + [body(32, 32, 16)] * 2
    executed += [body(32, 64, 8)] + [body(64, 64, 8)] * 2
    skip2, skip3 = conv(16, 32, 1, 16), conv(32, 64, 1, 8)
    gates = 4 * gate(16) + 3 * gate(32) + 2 * gate(64)
    always = conv(3, 16, 3, 32) + gates + 64 * 10
    assert table.executed == executed
    assert table.skipped == [0, 0, 0, skip2, 0, 0, skip3, 0, 0]
    assert table.always == always
    assert table.full == 40_563_904 == always + sum(executed)


def test_imagenet_resnet50_layout():
    # Shapes only (a meta-device build): the routed ResNet-50 of train_imagenet.py.
    with torch.device("meta"):
        net = create_model("codinet_public_imagenet", depth=50, num_classes=1000)
    assert net.stage_blocks == [3, 4, 6, 3] and net.num_gates == 16
    assert net.linear.in_features == 2048
    state = net.state_dict()
    skips = sorted({k.split(".skip.")[0] for k in state if ".skip." in k})
    assert skips == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    assert tuple(state["layer4.2.gate.line0.weight"].shape) == (2048, 2048)
    assert tuple(state["conv1.weight"].shape) == (64, 3, 7, 7)
    assert sum(skip is not None for _, skip in net.routed_parts()) == 4


def test_family_record():
    assert FAMILY.name == "codinet-public" and FAMILY.repository == "huanyuhello/CoDiNet"
    assert FAMILY.normalization["cifar10"] == (
        [0.4914, 0.4822, 0.4465],
        [0.2023, 0.1994, 0.2010],
    )
    assert "resnet20" in FAMILY.archs and "imagefolder" in FAMILY.normalization


# Refusals: each names what was expected.


def _other_family_files():
    files = []
    for folder in sorted(p for p in FIELD.iterdir() if p.is_dir() and p != DATA):
        files += sorted(f for f in folder.iterdir() if f.suffix in (".pth", ".tar", ".t7", ".pt"))
    return files


@pytest.mark.parametrize("path", _other_family_files(), ids=lambda p: p.parent.name)
def test_another_familys_file_is_refused(path):
    try:
        other = read_original(path)
    except Exception as error:  # a reader that does not yet know its value types
        pytest.skip(f"cannot read {path.name}: {error}")
    with pytest.raises(ImportRefused, match="CoDiNet's public code"):
        convert(other, None)


def test_a_foreign_layout_is_refused(saved):
    # SkipNet / BlockDrop style: {'state_dict', 'epoch', 'best_prec1'}
    skipnet = {"epoch": 1, "state_dict": saved["net"], "best_prec1": 1.0}
    with pytest.raises(ImportRefused, match=r"expected the dict .*\{'net', 'acc', 'epoch'\}"):
        convert(skipnet, None)
    # the project's own CoDiNet names: stem.0.weight, blocks.0...
    own = {"net": {"stem.0.weight": torch.zeros(16, 3, 3, 3)}}
    with pytest.raises(ImportRefused, match="expected a stem conv1.weight"):
        convert(own, None)


def test_a_non_dict_is_refused():
    with pytest.raises(ImportRefused, match="expected the dict .* found a list"):
        convert([1, 2], None)
    with pytest.raises(ImportRefused, match="should be a state dict of tensors"):
        convert({"net": [1]}, None)


def test_missing_extra_and_misshapen_keys_are_refused(saved):
    net = dict(saved["net"])
    del net["layer2.0.skip.0.weight"]
    with pytest.raises(ImportRefused, match=r"1 missing \(first layer2.0.skip.0.weight\)"):
        convert({"net": net}, None)

    net = dict(saved["net"], **{"layer1.0.skip.0.weight": torch.zeros(16, 16, 1, 1)})
    with pytest.raises(ImportRefused, match=r"1 unexpected \(first layer1.0.skip.0.weight\)"):
        convert({"net": net}, None)

    net = dict(saved["net"], **{"layer3.1.gate.line0.weight": torch.zeros(64, 32)})
    with pytest.raises(ImportRefused, match=r"should have shape \(64, 64\), found \(64, 32\)"):
        convert({"net": net}, None)

    net = {k: v for k, v in saved["net"].items() if not k.startswith("layer3.2.")}
    with pytest.raises(ImportRefused, match=r"expected blocks per stage .* found \[3, 3, 2\]"):
        convert({"net": net}, None)


def test_a_wrong_arch_hint_is_refused(saved):
    with pytest.raises(ImportRefused, match="--arch resnet32 expects .* depth 32"):
        convert(saved, "resnet32")
    with pytest.raises(ImportRefused, match="--arch for .* should be one of"):
        convert(saved, "skipnet_cifar_rnn")
