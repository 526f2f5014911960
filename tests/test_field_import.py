"""``python -m trainer import``: what it writes, and every file it must refuse without
writing anything."""

import io
import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.__main__ import main as trainer_main
from trainer.checkpoint import load_checkpoint, model_from_checkpoint
from trainer.field import skipnet
from trainer.field.common import ImportRefused
from trainer.field.convnet_aig import original_key
from trainer.field.importer import import_checkpoint, read_original
from trainer.models import create_model

DATA = Path(__file__).parent / "data" / "field"
SKIPNET = DATA / "skipnet" / "model_best.pth.tar"
BLOCKDROP = DATA / "blockdrop" / "ckpt_E_2000_A_0.062_R_-4.64E+00_S_6.69_#_16.t7"
AIG = DATA / "convnet-aig" / "model_best.pth.tar"
# --from -> its CIFAR-10 checkpoint, written as its public code writes one
ORIGINALS = {
    "skipnet": SKIPNET,
    "blockdrop": BLOCKDROP,
    "convnet-aig": AIG,
    "codinet-public": DATA / "codinet-public" / "ckpt.pth",
}


def refused(tmp_path, capsys, source, original, *extra, dataset="cifar10") -> str:
    out = tmp_path / "run"
    argv = ["import", "--from", source, str(original), "--dataset", dataset, "--out", str(out)]
    assert trainer_main([*argv, *extra]) == 2
    assert not out.exists(), "a refused import wrote something"
    return capsys.readouterr().err


def test_an_import_is_an_ordinary_run_with_its_origin(tmp_path):
    written = import_checkpoint("convnet-aig", AIG, "cifar10", tmp_path / "aig")
    checkpoint = load_checkpoint(written)
    assert checkpoint["origin"]["family"] == "convnet-aig"
    assert checkpoint["origin"]["source_file"] == "model_best.pth.tar"
    # ConvNet-AIG's train.py normalisation, not this project's CIFAR-10 statistics.
    assert checkpoint["preprocessing"]["std"] == pytest.approx([0.2023, 0.1994, 0.2010])
    reference = np.load(DATA / "convnet-aig" / "reference.npz")
    model = model_from_checkpoint(checkpoint)
    logits, paths = model.route(torch.from_numpy(reference["inputs"]))
    assert torch.equal(paths, torch.from_numpy(reference["decisions"]).bool())
    torch.testing.assert_close(logits, torch.from_numpy(reference["logits"]), atol=1e-5, rtol=0)


def test_a_file_of_another_family_is_refused(tmp_path, capsys):
    message = refused(tmp_path, capsys, "blockdrop", SKIPNET)
    assert "agent" in message and "resnet" in message


def _expanded(state: dict, prefix: str = "") -> dict:
    """Each tensor as one number expanded to its shape: an ImageNet network's layout,
    saved in bytes rather than its hundreds of MB."""
    return {
        prefix + key: torch.zeros((), dtype=value.dtype).expand(value.shape)
        for key, value in state.items()
    }


def _meta(arch: str, **args) -> torch.nn.Module:
    with torch.device("meta"):  # shapes only
        return create_model(arch, **args)


def _skipnet_imagenet() -> dict:
    """imagenet/train_*.py's checkpoint of its published ResNet-101."""
    name, args = skipnet.ARCHS["imagenet_rnn_gate_101"]
    model = _meta(name, **args)
    originals = skipnet._original_keys(model)  # a downsample is saved under two names
    state = {name: v for key, v in model.state_dict().items() for name in originals[key]}
    return {"arch": "imagenet_rnn_gate_101", "state_dict": _expanded(state, "module."), "iter": 1}


def _blockdrop_imagenet() -> dict:
    """R101_ImgNet as its finetune.py saves it (keys and shapes from its own code)."""
    layout = json.loads((DATA / "blockdrop" / "keys_imagenet.json").read_text())
    parts = {
        part: {key: torch.zeros(shape) for key, shape in keys.items()}
        for part, keys in layout.items()
    }
    return {**{part: _expanded(state) for part, state in parts.items()}, "epoch": 1, "acc": 0.7}


def _aig_imagenet() -> dict:
    """train_img.py's checkpoint of a ResNet-50."""
    state = {original_key(k): v for k, v in _meta("aig_resnet50_imagenet").state_dict().items()}
    return {"epoch": 90, "state_dict": _expanded(state, "module."), "best_prec1": 76.0}


def _codinet_public_imagenet() -> dict:
    """train_imagenet.py's ckpt.pth of its ResNet-50."""
    state = _meta("codinet_public_imagenet", depth=50, num_classes=1000).state_dict()
    return {"net": _expanded(state), "acc": 70.0, "epoch": 90}


IMAGENET = {
    "skipnet": _skipnet_imagenet,
    "blockdrop": _blockdrop_imagenet,
    "convnet-aig": _aig_imagenet,
    "codinet-public": _codinet_public_imagenet,
}


def imagenet_file(source: str, folder: Path) -> Path:
    """An ImageNet checkpoint of ``source``, named and laid out as its code saves one."""
    path = folder / ORIGINALS[source].name
    torch.save(IMAGENET[source](), path, _use_new_zipfile_serialization=False)
    return path


@pytest.mark.parametrize("source", ORIGINALS)
def test_a_cifar_network_is_refused_for_imagenet(tmp_path, capsys, source):
    message = refused(tmp_path, capsys, source, ORIGINALS[source], dataset="imagenet")
    assert "--dataset imagenet" in message and "224x224" in message  # what was expected
    assert "CIFAR" in message and "32x32" in message  # what the file holds


@pytest.mark.parametrize("source", ORIGINALS)
def test_an_imagenet_network_is_refused_for_cifar10(tmp_path, capsys, source):
    original = imagenet_file(source, tmp_path)
    message = refused(tmp_path, capsys, source, original, dataset="cifar10")
    assert "--dataset cifar10" in message and "32x32" in message
    assert "ImageNet" in message and "224x224" in message


def test_an_imagenet_import_without_the_images_says_where_they_go(tmp_path, capsys):
    """ImageNet's class names come from its folders: without them nothing is written,
    and the refusal gives the layout expected and what is missing."""
    original = imagenet_file("convnet-aig", tmp_path)
    empty = tmp_path / "imagenet"
    empty.mkdir()
    message = refused(
        tmp_path, capsys, "convnet-aig", original, "--data-dir", str(empty), dataset="imagenet"
    )
    assert "--dataset imagenet" in message and "class names" in message
    assert f"{empty}/train/" in message and f"{empty}/val/" in message
    assert "n01440764" in message  # a class folder, as ImageNet names them


def _cifar100_files(root: Path) -> Path:
    """CIFAR-100 in its on-disk format (pickled dicts), four images a split."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rows = {"data": np.zeros((4, 3072), dtype=np.uint8), "fine_labels": [0, 1, 2, 3]}
    for name, content in (
        ("train", rows),
        ("test", rows),
        ("meta", {"fine_label_names": [f"class{i}" for i in range(100)]}),
    ):
        (folder / name).write_bytes(pickle.dumps(content))
    return root


def test_a_network_with_other_classes_than_the_dataset_is_refused(tmp_path, capsys):
    data = str(_cifar100_files(tmp_path / "data"))
    message = refused(tmp_path, capsys, "convnet-aig", AIG, "--data-dir", data, dataset="cifar100")
    assert "10 classes" in message and "cifar100 has 100" in message


# Where a file may be cut: the legacy format's first pickles (magic number, protocol,
# system information), a class name in the object's pickle, the weights' bytes.
CUTS = {
    "header": lambda data: 30,
    "class name": lambda data: data.index(b"OrderedDict") + 3,
    "weights": lambda data: len(data) // 2,
}


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("source", ORIGINALS)
def test_a_truncated_file_is_refused(tmp_path, capsys, source, cut):
    data = ORIGINALS[source].read_bytes()
    kept = data[: CUTS[cut](data)]
    truncated = tmp_path / ORIGINALS[source].name
    truncated.write_bytes(kept)
    message = refused(tmp_path, capsys, source, truncated)
    assert "torch.save" in message and f"{len(kept):,} bytes" in message, message
    assert "truncated" in message and "pickled Python object" not in message


@pytest.mark.parametrize("source", ORIGINALS)
def test_a_corrupted_file_is_refused(tmp_path, capsys, source):
    """A storage key changed in the object's pickle (bit rot): the loader's own
    assertion, which escaped as a traceback, becomes a refusal."""
    data = ORIGINALS[source].read_bytes()
    key = re.search(rb"FloatStorage\nq.X.\x00\x00\x00(\d+)", data, re.DOTALL)
    corrupted = tmp_path / ORIGINALS[source].name
    corrupted.write_bytes(data[: key.start(1)] + b"0" * len(key[1]) + data[key.end(1) :])
    message = refused(tmp_path, capsys, source, corrupted)
    assert "not a readable PyTorch checkpoint" in message and "torch.save" in message
    assert f"{len(data):,} bytes" in message


@pytest.mark.parametrize("damage", ["missing", "extra", "shape"])
def test_missing_extra_and_misshapen_weights_are_refused(tmp_path, capsys, damage):
    saved = read_original(AIG)
    state = saved["state_dict"]
    key = next(k for k in state if k.endswith("conv1.weight"))
    if damage == "missing":
        del state[key]
    elif damage == "extra":
        state["module.extra.weight"] = torch.zeros(1)
    else:
        state[key] = torch.zeros(3, 3)
    damaged = tmp_path / "damaged.pth.tar"
    torch.save(saved, damaged, _use_new_zipfile_serialization=False)
    message = refused(tmp_path, capsys, "convnet-aig", damaged)
    assert {"missing": "missing", "extra": "unexpected", "shape": "shape"}[damage] in message


def test_a_pickled_object_is_refused_without_running_it(tmp_path, capsys):
    evil = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": {}, "args": io.StringIO("x")}, evil)
    assert "pickled Python object" in refused(tmp_path, capsys, "skipnet", evil)


def test_an_existing_run_is_not_overwritten(tmp_path):
    import_checkpoint("convnet-aig", AIG, "cifar10", tmp_path / "aig")
    before = (tmp_path / "aig" / "checkpoint.pt").read_bytes()
    with pytest.raises(ImportRefused, match="exists already"):
        import_checkpoint("skipnet", SKIPNET, "cifar10", tmp_path / "aig")
    assert (tmp_path / "aig" / "checkpoint.pt").read_bytes() == before


def test_an_unknown_family_names_the_known_ones(tmp_path, capsys):
    message = refused(tmp_path, capsys, "resnet", AIG)
    assert "skipnet" in message and "blockdrop" in message


def test_a_fifo_is_refused_without_blocking(tmp_path, capsys):
    """The importer reads the original as the server reads checkpoints: a special file
    is refused, not waited on."""
    from tests.test_store import answers_within

    fifo = tmp_path / "model_best.pth.tar"
    os.mkfifo(fifo)
    message = answers_within(20, lambda: refused(tmp_path, capsys, "skipnet", fifo))
    assert "not a regular file" in message
