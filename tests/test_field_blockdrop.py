"""BlockDrop import: a checkpoint written in finetune.py's layout by BlockDrop's own code
(R32_C10, random weights; tests/data/field/blockdrop/make_reference.py), converted and
run here against the answers their network gave."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.field import blockdrop
from trainer.field.common import ImportRefused
from trainer.field.importer import build_network, read_original
from trainer.flops import mac_table
from trainer.models import create_model

DATA = Path(__file__).parent / "data" / "field" / "blockdrop"
KEYS = json.loads((DATA / "keys.json").read_text())
CHECKPOINT = DATA / KEYS["file"]


@pytest.fixture(scope="module")
def saved():
    return read_original(CHECKPOINT)


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(DATA / "reference.npz"))


@pytest.fixture(scope="module")
def model(saved):
    return build_network(blockdrop.convert(saved, None), blockdrop.FAMILY)


def test_file_layout_is_what_finetune_py_saves(saved):
    assert list(saved) == KEYS["top_level"] == ["agent", "resnet", "epoch", "reward", "acc"]
    for part in ("agent", "resnet"):
        assert {k: list(v.shape) for k, v in saved[part].items()} == KEYS[part]
        assert not any(k.startswith("module.") or "num_batches_tracked" in k for k in saved[part])
    converted = blockdrop.convert(saved, None)
    assert (converted.arch, converted.model_args) == (
        "blockdrop_cifar",
        {"depth": 32, "num_classes": 10},
    )
    assert converted.input_size == 32
    # Every saved tensor lands somewhere; what the file lacks is num_batches_tracked.
    extra = [k for k in converted.state_dict if not k.endswith("num_batches_tracked")]
    assert len(extra) == len(KEYS["agent"]) + len(KEYS["resnet"])


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_decisions_and_logits_match_the_original(model, reference, execution):
    with torch.no_grad():
        logits, paths = model.route(torch.from_numpy(reference["inputs"]), execution=execution)
    assert paths.dtype == torch.bool and paths.shape == (16, 15)
    assert np.array_equal(paths.numpy(), reference["decisions"].astype(bool))
    np.testing.assert_allclose(logits.numpy(), reference["logits"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_forced_paths_match_the_original(model, reference, execution):
    forced = torch.from_numpy(reference["forced"]).bool()
    calls = []
    hook = model.policy.logit.register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.no_grad():
            logits, paths = model.route(torch.from_numpy(reference["inputs"]), forced, execution)
    finally:
        hook.remove()
    assert calls == [1]  # the policy still ran: its cost is paid on a forced path
    assert torch.equal(paths, forced)
    np.testing.assert_allclose(logits.numpy(), reference["forced_logits"], rtol=0, atol=1e-5)


def conv(size, cin, cout, k):
    return size * size * cout * cin * k * k


def test_macs_by_hand_and_by_their_test_py(model, reference):
    executed = []
    for stage, (width, size) in enumerate([(16, 32), (32, 16), (64, 8)]):
        for index in range(5):
            cin = width // 2 if stage > 0 and index == 0 else width
            executed.append(conv(size, cin, width, 3) + conv(size, width, width, 3))
    policy_blocks = [executed[0], executed[5], executed[10]]  # Policy32 is [1, 1, 1]
    stem = conv(32, 3, 16, 3)
    # Stems of both networks, the policy's blocks and logit, the classifier; the
    # zero-pad shortcut costs nothing, so a skipped block costs nothing.
    always = 2 * stem + sum(policy_blocks) + 64 * 15 + 64 * 10
    table = mac_table(model, 32)
    assert (table.always, table.executed, table.skipped) == (always, executed, [0] * 15)
    assert table.full == 81_102_400
    # Their test.py counts 2 FLOPs per MAC, plus the policy's value head (64 -> 1),
    # which it runs and this network does not.
    flops = 2 * table.per_sample(reference["forced"].astype(bool)) + 2 * 64
    assert flops.tolist() == reference["forced_flops"].tolist()


def test_arch_hint(saved):
    for arch in ("R32_C10", "blockdrop_cifar"):
        assert blockdrop.convert(saved, arch).arch == "blockdrop_cifar"
    for arch, words in [
        ("R110_C10", "expects R110 with 10 classes; the file holds R32 with 10 classes"),
        ("R32_C100", "expects R32 with 100 classes"),
        ("blockdrop_imagenet", "does not fit"),
        ("resnet32", "should be one of R32_C10"),
    ]:
        with pytest.raises(ImportRefused, match=words):
            blockdrop.convert(saved, arch)


def copy(saved) -> dict:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in saved.items()}


def test_older_and_newer_variants_are_read(saved, reference, model):
    # Their oldest files: the agent under 'net', with the policy's unused features.fc.
    old = copy(saved)
    old["net"] = old.pop("agent")
    old["net"]["features.fc.weight"] = torch.zeros(10, 64)
    old["net"]["features.fc.bias"] = torch.zeros(10)
    # A newer PyTorch: num_batches_tracked, 0-dim tensors for reward and accuracy, and
    # a "module." prefix from a script that saved the wrapped module.
    new = copy(saved)
    new["reward"], new["acc"] = torch.tensor(0.5), torch.tensor(0.9)
    new["resnet"]["bn1.num_batches_tracked"] = torch.tensor(7)
    new["agent"] = {f"module.{k}": v for k, v in new["agent"].items()}
    expected = model.state_dict()
    for variant in (old, new):
        converted = blockdrop.convert(variant, None)
        for key, value in converted.state_dict.items():
            if not key.endswith("num_batches_tracked"):
                assert torch.equal(value, expected[key]), key


def refused(saved_object, *words):
    with pytest.raises(ImportRefused) as error:
        blockdrop.convert(saved_object, None)
    for word in words:
        assert word in str(error.value), str(error.value)


def test_refuses_what_finetune_py_did_not_write(saved):
    expected = "a dict with keys 'agent' and 'resnet'"
    refused(torch.zeros(3), expected, "found a Tensor")
    refused([saved], expected, "found a list")
    # SkipNet and ConvNet-AIG save {'epoch', 'state_dict', ...} (CoDiNet's public code
    # {'net', 'acc', 'epoch'}: 'net' without 'resnet' is refused as well).
    skipnet = {"epoch": 1, "state_dict": {"module.conv1.weight": torch.zeros(16, 3, 3, 3)}}
    refused(skipnet, expected, "found a dict with keys epoch, state_dict")
    # cl_training.py saves the policy only.
    curriculum = {k: saved[k] for k in ("agent", "epoch", "reward", "acc")}
    refused(curriculum, expected, "cl_training.py", "finetune.py")
    refused({"agent": saved["agent"], "resnet": {"conv1.weight": 3}}, "'resnet' should map")


def test_refuses_other_families_files():
    others = [
        path
        for path in DATA.parent.rglob("*")
        if DATA not in path.parents and path.suffix in (".t7", ".pth", ".tar", ".pt")
    ]
    for path in others:
        with pytest.raises(ImportRefused, match="'agent' and 'resnet'"):
            blockdrop.convert(read_original(path), None)


def test_refuses_missing_extra_and_misshapen_weights(saved):
    what = "the weights are not those of the {!r} of BlockDrop R32 (10 classes)"
    missing = copy(saved)
    del missing["resnet"]["blocks.1.2.bn2.running_var"]
    refused(missing, what.format("resnet"), "1 missing (first blocks.1.2.bn2.running_var)")
    extra = copy(saved)
    extra["agent"]["vnet2.weight"] = torch.zeros(1, 64)
    refused(extra, what.format("agent"), "1 unexpected (first vnet2.weight)")
    shape = copy(saved)
    shape["agent"]["logit.weight"] = torch.zeros(14, 64)  # a policy for another depth
    refused(shape, "logit.weight should have shape (15, 64), found (14, 64)")
    shape = copy(saved)
    shape["resnet"]["fc.weight"] = torch.zeros(10, 32)
    refused(shape, "fc.weight should have shape (10, 64), found (10, 32)")
    uneven = copy(saved)
    uneven["resnet"] = {k: v for k, v in saved["resnet"].items() if not k.startswith("blocks.2.4")}
    refused(uneven, "three stages of equally many blocks", "found blocks per stage [5, 5, 4]")
    refused({**copy(saved), "resnet": {"fc.weight": torch.zeros(10, 64)}}, "no conv1.weight")


def test_imagenet_layout_of_their_r101():
    """Their R101_ImgNet keys and shapes (written by make_reference.py from their code)
    convert to exactly the keys and shapes of blockdrop_imagenet."""
    layout = json.loads((DATA / "keys_imagenet.json").read_text())
    # Zero-size storage: a 170 MB network's layout without its memory.
    fake = {
        part: {k: torch.zeros(()).expand(shape) for k, shape in keys.items()}
        for part, keys in layout.items()
    }
    converted = blockdrop.convert({**fake, "epoch": 10, "reward": -0.8, "acc": 0.764}, None)
    assert (converted.arch, converted.model_args, converted.input_size) == (
        "blockdrop_imagenet",
        {"depth": 101, "num_classes": 1000},
        224,
    )
    with torch.device("meta"):
        ours = create_model(converted.arch, **converted.model_args).state_dict()
    assert {k: tuple(v.shape) for k, v in converted.state_dict.items()} == {
        k: tuple(v.shape) for k, v in ours.items()
    }
    assert blockdrop.convert(fake, "R101_ImgNet").arch == "blockdrop_imagenet"


def test_imagenet_network_routes():
    net = create_model("blockdrop_imagenet").eval()
    assert net.stage_blocks == [3, 4, 23, 3] and net.num_gates == 33
    with torch.no_grad():
        logits, paths = net.route(torch.randn(1, 3, 224, 224))
    assert logits.shape == (1, 1000) and paths.shape == (1, 33)


def test_family_record():
    family = blockdrop.FAMILY
    assert (family.name, family.repository) == ("blockdrop", "Tushar-N/blockdrop")
    assert family.convert is blockdrop.convert
    mean, std = family.normalization["cifar10"]  # utils.get_transforms, R32_C10
    assert np.allclose(np.array(mean) * 255, [125.3, 123.0, 113.9])
    assert np.allclose(np.array(std) * 255, [63.0, 62.1, 66.7])
    assert family.normalization["cifar100"] == ([0.0] * 3, [1.0] * 3)  # ToTensor only
    assert "R32_C10" in family.archs and "R101_ImgNet" in family.archs
    with pytest.raises(ValueError, match="6n \\+ 2"):
        create_model("blockdrop_cifar", depth=33)
