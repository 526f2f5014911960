"""Short real training runs on digits: loss, checkpoints, resume, eval, torchrun."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.backend_helpers import quick_config
from trainer.__main__ import main as cli
from trainer.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from trainer.evaluate import evaluate_checkpoint
from trainer.measures import MEASURES
from trainer.train import main as train

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[1]


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "quick"
    train(quick_config(run))
    return run


def test_loss_falls_and_metrics_are_logged(trained_run):
    rows = read_metrics(trained_run)
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert rows[-1]["accuracy"] > 0.5
    for key in (
        "accuracy",
        "mean_executed_blocks",
        "mean_macs",
        "full_macs",
        "unique_paths",
        *MEASURES,
        "consistency_loss",
        "diversity_loss",
        "cost_loss",
    ):
        assert key in rows[-1]
    assert (trained_run / "config.yaml").exists() and (trained_run / "last.pt").exists()


def test_checkpoint_is_plain_data_and_rebuilds_the_model(trained_run):
    # load_checkpoint uses weights_only=True: it would refuse any pickled class.
    checkpoint = load_checkpoint(trained_run / "checkpoint.pt")
    assert checkpoint["arch"] == "codinet_resnet20"
    assert checkpoint["class_names"] == [str(d) for d in range(10)]
    assert checkpoint["preprocessing"]["image_size"] == 16
    assert "optimizer" not in checkpoint and "optimizer" in load_checkpoint(trained_run / "last.pt")
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in checkpoint["state_dict"])
    metrics = checkpoint["metrics"]
    assert metrics["full_macs"] > metrics["mean_macs"] > 0
    model = model_from_checkpoint(checkpoint)
    assert not model.training and model.num_gates == 9
    # Re-evaluating the saved weights reproduces the recorded accuracy and cost.
    again = evaluate_checkpoint(trained_run / "checkpoint.pt", device="cpu")
    assert again["accuracy"] == metrics["accuracy"]
    assert again["mean_executed_blocks"] == metrics["mean_executed_blocks"]


class Interrupted(Exception):
    pass


def test_resume_continues_exactly(tmp_path, monkeypatch):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(quick_config(straight, epochs=2))

    # Interrupt the second run during epoch 2's evaluation, after epoch 1 was saved.
    import trainer.train

    evaluate, calls = trainer.train.evaluate, []

    def evaluate_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Interrupted
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(trainer.train, "evaluate", evaluate_then_crash)
    with pytest.raises(Interrupted):
        train(quick_config(resumed, epochs=2))
    monkeypatch.setattr(trainer.train, "evaluate", evaluate)
    assert load_checkpoint(resumed / "last.pt")["epoch"] == 0
    train(quick_config(resumed, epochs=2, resume=True))
    a = load_checkpoint(straight / "last.pt")
    b = load_checkpoint(resumed / "last.pt")
    assert a["epoch"] == b["epoch"] == 1
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert [r["epoch"] for r in read_metrics(resumed)] == [0, 1]
    assert read_metrics(resumed)[1]["loss"] == read_metrics(straight)[1]["loss"]


def test_eval_command_prints_metrics(trained_run, capsys):
    assert cli(["eval", "--checkpoint", str(trained_run / "checkpoint.pt"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (
        printed["accuracy"] == load_checkpoint(trained_run / "checkpoint.pt")["metrics"]["accuracy"]
    )


def test_missing_dataset_is_a_clear_command_line_error(tmp_path, capsys):
    code = cli(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    assert "--download" in capsys.readouterr().err


def test_checkpoint_with_pickled_objects_is_refused(tmp_path, trained_run):
    checkpoint = load_checkpoint(trained_run / "checkpoint.pt")
    checkpoint["config"] = argparse.Namespace(lr=0.1)  # an arbitrary class
    torch.save(checkpoint, tmp_path / "unsafe.pt")
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(tmp_path / "unsafe.pt")


def test_unknown_architecture_and_non_checkpoints_are_refused(tmp_path, trained_run):
    checkpoint = load_checkpoint(trained_run / "checkpoint.pt")
    checkpoint["arch"] = "codinet_vgg7"
    torch.save(checkpoint, tmp_path / "alien.pt")
    with pytest.raises(CheckpointError, match="codinet_vgg7.*known"):
        load_checkpoint(tmp_path / "alien.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "garbage.pt")


def test_two_process_torchrun_gloo(tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "trainer",
        "train",
        "--dataset",
        "digits",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--view-images-per-class",
        "3",
        "--out",
        str(run),
    ]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_metrics(run)
    assert len(rows) == 1  # written by rank 0 only
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    assert checkpoint["metrics"]["accuracy"] == rows[0]["accuracy"]
    # The gathered evaluation covers the whole test split, not one rank's shard: it equals
    # one process's evaluation with the same batches and, as under torchrun here, one
    # thread (two threads sum a near tie in another order and can flip one image).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = evaluate_checkpoint(run / "checkpoint.pt", device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert single["accuracy"] == rows[0]["accuracy"]


def test_compiled_training_saves_an_eager_checkpoint(tmp_path):
    train(quick_config(tmp_path / "run", epochs=2, compile=True))
    rows = read_metrics(tmp_path / "run")
    assert rows[-1]["loss"] < rows[0]["loss"] and rows[-1]["accuracy"] > 0.2  # chance: 0.1
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    # The compiled wrapper's "_orig_mod." prefix must not reach the checkpoint.
    assert not any(key.startswith("_orig_mod") for key in checkpoint["state_dict"])
    assert checkpoint["config"]["compile"] is True
    model_from_checkpoint(checkpoint)  # loads strictly into a plain model


RUN_FILES = ("checkpoint.pt", "last.pt", "metrics.jsonl")


def test_an_existing_run_is_refused_without_resume_or_overwrite(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = {name: (run / name).read_bytes() for name in RUN_FILES}
    code = cli(
        ["train", "--dataset", "digits", "--epochs", "1", "--workers", "0"]
        + ["--device", "cpu", "--out", str(run)]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert str(run) in error and "--resume" in error and "--overwrite" in error
    assert {name: (run / name).read_bytes() for name in RUN_FILES} == before


def test_overwrite_trains_an_existing_run_again_from_the_start(trained_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    train(quick_config(run, epochs=1, overwrite=True))
    assert [r["epoch"] for r in read_metrics(run)] == [0]
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 0


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--arch", "nope"], "codinet_resnet20"),
        (["--target-blocks", "10"], "9 gated blocks"),
        (["--batch-size", "2000"], "1437 training images"),
    ],
)
def test_settings_that_cannot_train_are_refused_before_training(tmp_path, capsys, flags, words):
    run = tmp_path / "run"
    code = cli(
        ["train", "--dataset", "digits", "--workers", "0", "--device", "cpu"]
        + flags
        + ["--out", str(run)]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and words in error and "Traceback" not in error
    assert not run.exists()
