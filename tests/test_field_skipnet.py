"""SkipNet (ucbdrive/skipnet) rebuilt: its saved files, converted and loaded, give the
decisions and logits its own code gave (reference files made by
tests/data/field/skipnet/make_reference.py from that code): the recurrent gate
(cifar10_rnn_gate_38) and the feed-forward FFGate-I (cifar10_feedforward_38)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.field import families
from trainer.field.common import ImportRefused
from trainer.field.importer import build_network, read_original
from trainer.field.skipnet import ARCHS, FAMILY, _original_keys, convert
from trainer.flops import mac_table
from trainer.models import create_model

DATA = Path(__file__).parent / "data" / "field" / "skipnet"
FIELD = DATA.parent
CASES = {"rnn": DATA, "feedforward": DATA / "feedforward"}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    folder = CASES[request.param]
    with np.load(folder / "reference.npz") as data:
        reference = {name: torch.from_numpy(data[name]) for name in data.files}
    saved = read_original(folder / "model_best.pth.tar")
    keys = json.loads((folder / "keys.json").read_text())
    return request.param, saved, reference, keys, _load(saved)[0]


def _load(saved, arch=None):
    converted = convert(saved, arch)
    return build_network(converted, FAMILY), converted


def test_the_saved_file_is_train_sp_layout(case):
    # train_sp.py save_checkpoint: {'iter', 'arch', 'state_dict', 'best_prec1'} of a
    # DataParallel model; the downsample appears as groupG_ds0 and groupG_layer0.downsample.
    kind, saved, _, keys, _ = case
    assert set(saved) == {"iter", "arch", "state_dict", "best_prec1"}
    assert isinstance(saved["iter"], int) and isinstance(saved["best_prec1"], float)
    state = saved["state_dict"]
    assert {k: list(v.shape) for k, v in state.items()} == keys["state_dict"]
    # The layout convert expects is that of the file, key for key, shape for shape.
    model, _ = _load(saved)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    expected = {
        f"module.{orig}": shapes[key]
        for key, origs in _original_keys(model).items()
        for orig in origs
        if not key.endswith("num_batches_tracked")
    }
    assert expected == keys["state_dict"]
    assert all(k.startswith("module.") for k in state)
    assert {"module.group2_ds0.0.weight", "module.group2_layer0.downsample.0.weight"} <= set(state)
    _, converted = _load(saved)
    if kind == "rnn":
        assert converted.arch == "skipnet_cifar_rnn"
        assert converted.model_args == {"depth": 38, "num_classes": 10, "final_gate": True}
    else:
        assert converted.arch == "skipnet_cifar_feedforward"
        assert converted.model_args == {"depth": 38, "num_classes": 10, "gate": "ffgate1"}
    assert converted.input_size == 32


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_decisions_and_logits_match_the_original(case, execution):
    *_, reference, _, model = case
    assert model.num_gates == reference["decisions"].shape[1] == 17  # 18 blocks, first always
    with torch.no_grad():
        logits, paths = model.route(reference["inputs"], execution=execution)
    assert torch.equal(paths, reference["decisions"].bool())
    assert torch.allclose(logits, reference["logits"], rtol=0, atol=1e-5)
    decisions = reference["decisions"].float()
    assert 0.3 < decisions.mean() < 0.7 and (decisions.mean(0) % 1 != 0).sum() >= 12


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_forced_paths_match_the_original(case, execution):
    *_, reference, _, model = case
    forced = reference["forced"].bool()
    with torch.no_grad():
        logits, paths = model.route(reference["inputs"], forced, execution=execution)
    assert torch.equal(paths, forced)
    assert torch.allclose(logits, reference["forced_logits"], rtol=0, atol=1e-5)


def _block_macs(size: int, c_in: int, c_out: int, stride: int) -> tuple[int, int]:
    """(executed, skipped) MACs of a basic block on a size x size input."""
    out = size // stride
    convs = out * out * c_out * 9 * (c_in + c_out)
    downsample = out * out * c_out * c_in if (stride != 1 or c_in != c_out) else 0
    return convs + downsample, downsample


def _ffgate1_macs(size: int, c: int) -> int:
    # 2x2 max pool, 3x3 conv, 3x3 conv of stride 2, pool to 1x1, 1x1 conv to 2 logits
    return (size // 2) ** 2 * c * c * 9 + (size // 4) ** 2 * c * c * 9 + 2 * c


def test_mac_table_counts_blocks_gates_and_the_lstm(case):
    kind, _, reference, _, model = case
    table = mac_table(model, 32)
    executed, skipped, gates = [], [], 0
    c_in, size = 16, 32
    for stage, width in enumerate([16, 32, 64]):
        for index in range(6):
            stride = 2 if stage and not index else 1
            parts = _block_macs(size, c_in, width, stride)
            c_in, size = width, size // stride
            executed.append(parts[0])
            skipped.append(parts[1])
            # Every block's gate runs (the last one's answer is discarded).
            gates += width * 10 if kind == "rnn" else _ffgate1_macs(size, width)
    if kind == "rnn":
        gates += 18 * (4 * 10 * (10 + 10) + 10)  # one LSTM step and the projection per gate
    stem, fc = 32 * 32 * 16 * 3 * 9, 64 * 10
    assert table.executed == executed[1:] and table.skipped == skipped[1:]
    assert table.always == stem + executed[0] + gates + fc
    assert skipped[6] == 16 * 16 * 32 * 16  # a skipped downsampling block pays its 1x1 conv
    paths = reference["decisions"].bool()
    per_block = torch.where(paths, torch.tensor(executed[1:]), torch.tensor(skipped[1:]))
    assert torch.equal(table.per_sample(paths), table.always + per_block.sum(1))


def test_the_hrl_arch_skips_the_last_gate_and_nothing_else():
    saved = read_original(DATA / "model_best.pth.tar")
    with np.load(DATA / "reference.npz") as data:
        inputs, decisions, expected = (
            torch.from_numpy(data[k]) for k in ("inputs", "decisions", "logits")
        )
    sp, _ = _load(saved)
    rl, converted = _load(saved, "cifar10_rnn_gate_rl_38")  # train_rl.py resumes SP files
    assert converted.model_args["final_gate"] is False
    with torch.no_grad():
        logits, paths = rl.route(inputs)
    assert torch.equal(paths, decisions.bool())
    assert torch.allclose(logits, expected, rtol=0, atol=1e-5)
    last_gate = 64 * 10 + 4 * 10 * 20 + 10
    assert mac_table(sp, 32).always - mac_table(rl, 32).always == last_gate


def test_an_unknown_arch_name_is_inferred_from_the_shapes(case):
    # A fork's own arch name, or none: the network is read off the weights.
    kind, saved, reference, *_ = case
    for renamed in (
        {**saved, "arch": "my_skipnet"},
        {k: v for k, v in saved.items() if k != "arch"},
    ):
        model, converted = _load(renamed)
        if kind == "rnn":
            assert converted.model_args == {
                "depth": 38,
                "num_classes": 10,
                "embed_dim": 10,
                "hidden_dim": 10,
            }
        else:
            assert converted.model_args == {"depth": 38, "num_classes": 10, "gate": "ffgate1"}
        with torch.no_grad():
            logits, paths = model.route(reference["inputs"])
        assert torch.equal(paths, reference["decisions"].bool())


def test_family_record():
    assert families()["skipnet"] is FAMILY
    assert FAMILY.repository == "ucbdrive/skipnet"
    assert FAMILY.normalization["cifar10"] == (
        [0.4914, 0.4822, 0.4465],
        [0.2023, 0.1994, 0.2010],
    )
    assert {"cifar10_rnn_gate_38", "cifar100_rnn_gate_rl_110", "cifar100_feeforward_38"} <= set(
        FAMILY.archs
    )


@pytest.mark.parametrize(
    ("arch", "args", "size", "gates"),
    [
        ("skipnet_cifar_rnn", {"depth": 74, "num_classes": 100, "final_gate": False}, 32, 35),
        ("skipnet_cifar_feedforward", {"depth": 110, "gate": "ffgate2"}, 32, 53),
        ("skipnet_imagenet_rnn", {"depth": 18}, 224, 7),
    ],
)
def test_other_architectures_build_and_route(arch, args, size, gates):
    model = create_model(arch, **args).eval()
    assert model.num_gates == gates == len(model.routed_parts())
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        a, paths_a = model.route(x, execution="conditional")
        b, paths_b = model.route(x, execution="masked")
    assert paths_a.shape == (2, gates) and torch.equal(paths_a, paths_b)
    assert torch.allclose(a, b, atol=1e-4)


def test_every_original_arch_builds_with_its_layout():
    with torch.device("meta"):
        for name, (arch, args) in ARCHS.items():
            model = create_model(arch, **args)
            assert model.num_gates == sum(model.stage_blocks), name


# --- refusals ------------------------------------------------------------------------


@pytest.fixture
def rnn_saved():
    return read_original(DATA / "model_best.pth.tar")


def _with_state(saved, state):
    return {**saved, "state_dict": state}


@pytest.mark.parametrize(
    "path",
    [
        "codinet-public/ckpt.pth",
        "convnet-aig/model_best.pth.tar",
        "blockdrop/ckpt_E_2000_A_0.062_R_-4.64E+00_S_6.69_#_16.t7",
    ],
)
def test_another_familys_file_is_refused(path):
    if not (FIELD / path).exists():
        pytest.skip(f"{path} is not there")
    with pytest.raises(ImportRefused, match="SkipNet"):
        convert(read_original(FIELD / path), None)


def test_a_plain_resnet_is_refused(rnn_saved):
    state = {
        k.replace("group1_layer", "layer1."): v
        for k, v in rnn_saved["state_dict"].items()
        if "gate" not in k and "control" not in k
    }
    plain = {**_with_state(rnn_saved, state), "arch": "cifar10_resnet_38"}  # train_base.py
    with pytest.raises(ImportRefused, match="expected conv1.weight.*gates"):
        convert(plain, None)


def test_missing_extra_and_misshapen_keys_are_refused(rnn_saved):
    state = dict(rnn_saved["state_dict"])
    missing = {k: v for k, v in state.items() if k != "module.group2_layer3.bn1.bias"}
    with pytest.raises(ImportRefused, match="1 missing.*group2_layer3.bn1.bias"):
        convert(_with_state(rnn_saved, missing), None)
    extra = {**state, "module.group1_gate0.2.weight": torch.zeros(1)}
    with pytest.raises(ImportRefused, match="1 unexpected.*group1_gate0.2.weight"):
        convert(_with_state(rnn_saved, extra), None)
    wrong = {**state, "module.control.proj.weight": torch.zeros(2, 10)}
    with pytest.raises(ImportRefused, match=r"control.proj.weight should have shape \(1, 10\)"):
        convert(_with_state(rnn_saved, wrong), None)
    differs = {**state, "module.group3_ds0.0.weight": torch.zeros(64, 32, 1, 1)}
    with pytest.raises(ImportRefused, match="group3_ds0.0.weight should equal"):
        convert(_with_state(rnn_saved, differs), None)


def test_a_wrong_arch_is_refused(rnn_saved):
    with pytest.raises(ImportRefused, match="cifar10_rnn_gate_74: of the .* missing"):
        convert(rnn_saved, "cifar10_rnn_gate_74")
    with pytest.raises(ImportRefused, match="cifar10_feedforward_38"):
        convert(rnn_saved, "cifar10_feedforward_38")
    with pytest.raises(ImportRefused, match="expected an --arch.*resnet_38"):
        convert(rnn_saved, "cifar10_resnet_38")


@pytest.mark.parametrize(
    "saved",
    [[1, 2], torch.zeros(3), {"model": {}}, {"state_dict": [1]}, {"state_dict": {"a": 1}}],
)
def test_what_is_not_a_checkpoint_is_refused(saved):
    with pytest.raises(ImportRefused, match="expected|should"):
        convert(saved, None)
