"""Paths recorded every epoch (trainer.formation): the probe set, the record format, and
what a kill, a resume or a stranger's file leaves."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.backend_helpers import quick_config
from trainer.checkpoint import load_checkpoint, model_from_checkpoint
from trainer.data import ViewsDataset, build_transform, load_dataset
from trainer.engine import Runtime, route_dataset
from trainer.formation import (
    HEADER,
    RECORDS,
    FormationError,
    FormationRecorder,
    Layout,
    probe_indices,
    read_formation,
    settled_epoch,
)
from trainer.train import main as train

REPO = Path(__file__).parents[1]
GATES = 9


def random_epoch(rng, images=40, gates=GATES, classes=10):
    return rng.random((images, gates)) < 0.5, rng.integers(0, classes, images)


def started(run: Path, labels, start_epoch=0, cap=2000, classes=10) -> FormationRecorder:
    return FormationRecorder.start(run, labels, GATES, classes, cap, 0, start_epoch)


# -- the probe set ------------------------------------------------------------------
def test_probe_is_the_whole_split_up_to_the_cap():
    labels = np.repeat(np.arange(3), 5)
    assert probe_indices(labels, cap=15, seed=0).tolist() == list(range(15))


def test_probe_beyond_the_cap_is_seeded_and_stratified_by_class():
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)
    probe = probe_indices(labels, cap=100, seed=3)
    assert len(probe) == 100 and len(set(probe)) == 100
    assert np.all(np.diff(probe) > 0)
    assert np.bincount(labels[probe]).tolist() == [60, 30, 10]
    assert probe.tolist() == probe_indices(labels, cap=100, seed=3).tolist()
    assert probe.tolist() != probe_indices(labels, cap=100, seed=4).tolist()


def test_probe_rounds_to_exactly_the_cap():
    labels = np.array([0] * 7 + [1] * 7 + [2] * 7)
    probe = probe_indices(labels, cap=10, seed=0)
    assert len(probe) == 10 and sorted(np.bincount(labels[probe]).tolist()) == [3, 3, 4]


# -- records --------------------------------------------------------------------------
def test_a_record_decodes_to_what_was_encoded():
    rng = np.random.default_rng(0)
    paths, predictions = random_epoch(rng, images=13, gates=54, classes=1000)
    layout = Layout(13, 54)
    record = layout.encode(7, paths, predictions)
    assert len(record) == layout.record_bytes == 4 + 13 * 7 + 13 * 2 + 4
    epoch, decoded_paths, decoded_predictions = layout.decode(record)
    assert epoch == 7
    assert np.array_equal(decoded_paths, paths)
    assert np.array_equal(decoded_predictions, predictions)


def test_recorded_epochs_read_back_for_the_probe_images_only(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 40)
    recorder = started(tmp_path, labels, cap=25)
    written = [random_epoch(rng) for _ in range(3)]
    for epoch, (paths, predictions) in enumerate(written):
        recorder.record(epoch, paths, predictions)
    formation = read_formation(tmp_path)
    probe = recorder.probe
    assert len(probe) == 25 and formation.probe.tolist() == probe.tolist()
    assert formation.labels.tolist() == labels[probe].tolist()
    assert formation.epochs.tolist() == [1, 2, 3]  # completed epochs, as metrics show them
    for e, (paths, predictions) in enumerate(written):
        assert np.array_equal(formation.paths[e], paths[probe])
        assert np.array_equal(formation.predictions[e], predictions[probe])
    assert formation.skipped_bytes == 0


def test_a_record_cut_short_or_damaged_ends_what_is_read(tmp_path):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, 40)
    recorder = started(tmp_path, labels)
    for epoch in range(3):
        recorder.record(epoch, *random_epoch(rng))
    size = recorder.layout.record_bytes
    data = bytearray((tmp_path / RECORDS).read_bytes())
    (tmp_path / RECORDS).write_bytes(bytes(data[: 2 * size + size // 2]))  # killed mid-write
    assert read_formation(tmp_path).epochs.tolist() == [1, 2]
    assert read_formation(tmp_path).skipped_bytes == size // 2
    data[size + 10] ^= 0xFF  # the second record damaged on disk
    (tmp_path / RECORDS).write_bytes(bytes(data))
    assert read_formation(tmp_path).epochs.tolist() == [1]


def test_a_resumed_recorder_keeps_exactly_the_epochs_before_its_start(tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, 40)
    recorder = started(tmp_path, labels)
    written = [random_epoch(rng) for _ in range(4)]
    for epoch, epoch_data in enumerate(written[:3]):
        recorder.record(epoch, *epoch_data)
    with open(tmp_path / RECORDS, "ab") as f:  # and half of a fourth, as a kill leaves it
        f.write(recorder.layout.encode(3, *written[3])[:20])
    # last.pt held epoch index 1: the run resumes at 2, and epoch 2 is recorded again.
    resumed = started(tmp_path, labels, start_epoch=2, cap=5)  # the cap changed: ignored
    assert resumed.probe.tolist() == recorder.probe.tolist()
    assert read_formation(tmp_path).epochs.tolist() == [1, 2]
    resumed.record(2, *written[2])
    resumed.record(3, *written[3])
    formation = read_formation(tmp_path)
    assert formation.epochs.tolist() == [1, 2, 3, 4]
    assert np.array_equal(formation.paths[3], written[3][0][recorder.probe])


def test_a_new_run_starts_a_new_recording(tmp_path):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 10, 40)
    recorder = started(tmp_path, labels)
    recorder.record(0, *random_epoch(rng))
    started(tmp_path, labels, start_epoch=0)
    assert read_formation(tmp_path).epochs.tolist() == []


def test_the_settled_epoch_is_the_first_from_which_90_percent_keep_their_path(tmp_path):
    labels = np.arange(20) % 10
    recorder = started(tmp_path, labels)
    final = np.zeros((20, GATES), dtype=bool)
    settle = np.array([0] * 10 + [1] * 6 + [2] * 2 + [3] * 2)  # epoch index of each image
    for epoch in range(4):
        paths = final.copy()
        paths[settle > epoch, 0] = True  # differs from the final path until it settles
        recorder.record(epoch, paths, labels)
    # Epoch index 1: 16 of 20 settled; index 2: 18 of 20 = 90%, the 3rd completed epoch.
    assert settled_epoch(read_formation(tmp_path)) == 3
    assert settled_epoch(read_formation(tmp_path), share=0.5) == 1


def test_a_run_folder_without_recordings_has_no_formation(tmp_path):
    assert read_formation(tmp_path) is None


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda h: h.update(format="other"), "not a codinet-formation header"),
        (lambda h: h.update(version=99), "version 99"),
        (lambda h: h.update(num_gates=-1), "num_gates"),
        (lambda h: h.update(num_gates="9"), "num_gates"),
        (lambda h: h.update(record_bytes=7), "record_bytes"),
        (lambda h: h.update(probe=[]), "non-empty"),
        (lambda h: h.update(labels=h["labels"][:-1]), "differ in length"),
        (lambda h: h.update(probe=[0] * len(h["probe"])), "distinct"),
        (lambda h: h.update(labels=[99] * len(h["labels"])), "below num_classes"),
    ],
)
def test_a_strangers_header_is_refused_with_its_reason(tmp_path, change, words):
    labels = np.arange(40) % 10
    started(tmp_path, labels)
    header = json.loads((tmp_path / HEADER).read_text())
    change(header)
    (tmp_path / HEADER).write_text(json.dumps(header))
    with pytest.raises(FormationError, match=words):
        read_formation(tmp_path)


def test_headers_that_are_not_json_or_too_large_are_refused(tmp_path):
    (tmp_path / HEADER).write_text("{not json")
    with pytest.raises(FormationError, match="not JSON"):
        read_formation(tmp_path)
    (tmp_path / HEADER).write_text(json.dumps({"format": "x"}))
    with pytest.raises(FormationError, match="header"):
        read_formation(tmp_path)


def test_records_beyond_the_bound_are_refused(tmp_path):
    rng = np.random.default_rng(5)
    recorder = started(tmp_path, rng.integers(0, 10, 40))
    for epoch in range(3):
        recorder.record(epoch, *random_epoch(rng))
    with pytest.raises(FormationError, match="at most"):
        read_formation(tmp_path, max_bytes=recorder.layout.record_bytes)


def test_a_fifo_in_place_of_the_records_is_refused_without_blocking(tmp_path):
    started(tmp_path, np.arange(40) % 10)
    os.mkfifo(tmp_path / RECORDS)
    with pytest.raises(FormationError, match="not a regular file"):
        read_formation(tmp_path)


def test_predictions_out_of_the_classes_end_what_is_read(tmp_path):
    rng = np.random.default_rng(6)
    recorder = started(tmp_path, rng.integers(0, 3, 40), classes=3)
    recorder.record(0, *random_epoch(rng, classes=3))
    recorder.record(1, *random_epoch(rng, classes=50))
    assert read_formation(tmp_path).epochs.tolist() == [1]


# -- recorded by the trainer ----------------------------------------------------------
@pytest.mark.slow
def test_the_last_recorded_epoch_is_the_checkpoints_routing(tmp_path):
    run = tmp_path / "run"
    train(quick_config(run, epochs=2, checkpoint="last", formation_images=150))
    formation = read_formation(run)
    assert formation.epochs.tolist() == [1, 2]
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    bundle = load_dataset("digits", "data", 16)
    clean = ViewsDataset(bundle.test, build_transform(bundle.preprocessing, train=False), 1)
    routed = route_dataset(model_from_checkpoint(checkpoint), clean, Runtime(torch.device("cpu")))
    probe = formation.probe
    assert len(probe) == 150
    assert np.bincount(formation.labels).min() >= 14  # stratified over the ten digits
    assert np.array_equal(formation.paths[-1], routed.paths[probe, 0])
    assert np.array_equal(formation.predictions[-1], routed.predictions[probe])
    accuracy = float((formation.predictions[-1] == formation.labels).mean())
    assert abs(accuracy - checkpoint["metrics"]["accuracy"]) < 0.1  # a sample of the split


@pytest.mark.slow
def test_no_formation_records_nothing(tmp_path):
    run = tmp_path / "run"
    train(quick_config(run, epochs=1, formation=False))
    assert not (run / HEADER).exists() and not (run / RECORDS).exists()
    assert read_formation(run) is None


@pytest.mark.slow
def test_kill_9_then_resume_records_every_epoch_once(tmp_path):
    """A real SIGKILL at a random point of epoch 2 or 3, then ``--resume``: the recorded
    epochs are 1 to 3, each once, and equal a run never interrupted."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    flags = [
        "--dataset", "digits", "--image-size", "16", "--workers", "0", "--epochs", "3",
        "--batch-size", "64", "--target-blocks", "5", "--w-cost", "0.5",
        "--view-images-per-class", "8", "--device", "cpu", "--formation-images", "100",
    ]  # fmt: skip
    command = [sys.executable, "-m", "trainer", "train", *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*command, "--out", str(straight)], check=True, env=env, cwd=REPO)
    process = subprocess.Popen([*command, "--out", str(killed)], env=env, cwd=REPO)
    _wait_for(killed / "last.pt")  # epoch 1 saved: --resume has a state to start from
    time.sleep(np.random.default_rng().uniform(0.0, 2.0))
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    subprocess.run([*command, "--out", str(killed), "--resume"], check=True, env=env, cwd=REPO)
    a, b = read_formation(straight), read_formation(killed)
    assert a.epochs.tolist() == b.epochs.tolist() == [1, 2, 3]
    assert b.skipped_bytes == 0
    assert np.array_equal(a.paths, b.paths) and np.array_equal(a.predictions, b.predictions)


def _wait_for(path: Path, seconds: float = 120) -> Path:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path
