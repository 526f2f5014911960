"""Training curves: metrics.jsonl read as a stranger's file, and served per model."""

import json
import os
import shutil
import threading

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.settings import Settings
from trainer.training_log import read_training_log


def test_each_epoch_once_counted_from_one_with_todays_names(tmp_path):
    log = tmp_path / "metrics.jsonl"
    rows = [
        {"epoch": 0, "loss": 2.0, "accuracy": 0.5, "consistency": 1.5},
        {"epoch": 1, "loss": 1.0, "accuracy": 0.8, "diversity": 2.5},
        {"epoch": 1, "loss": 0.9, "accuracy": 0.9},  # a resumed run wrote epoch 1 again
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    read, skipped = read_training_log(log)
    assert skipped == 0
    assert read == [
        {"epoch": 1, "loss": 2.0, "accuracy": 0.5, "view_distance": 1.5},
        {"epoch": 2, "loss": 0.9, "accuracy": 0.9},
    ]


def test_lines_a_stranger_wrote_are_skipped_and_counted(tmp_path):
    log = tmp_path / "metrics.jsonl"
    good = {"epoch": 0, "accuracy": 0.5, "note": "text", "flag": True, "big": 1e400}
    lines = [
        json.dumps(good),
        "not json",
        "[1, 2, 3]",
        json.dumps({"epoch": -1, "accuracy": 1.0}),
        json.dumps({"epoch": "3", "accuracy": 1.0}),
        json.dumps({"epoch": 1.5, "accuracy": 1.0}),
        json.dumps({"accuracy": 1.0}),
        "[" * 100_000,
        '{"epoch": 2, "accuracy": NaN, "loss": Infinity}',
        "",
    ]
    log.write_text("\n".join(lines) + "\n")
    read, skipped = read_training_log(log)
    # Text, booleans and non-finite numbers are dropped; the rest of the row stays.
    assert read == [{"epoch": 1, "accuracy": 0.5}, {"epoch": 3}]
    assert skipped == 7
    assert read_training_log(tmp_path / "absent.jsonl") == ([], 0)


def test_a_huge_log_is_read_up_to_the_bound(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps({"epoch": i, "loss": 1.0}) + "\n" for i in range(1000)))
    read, skipped = read_training_log(log, max_bytes=1000)
    assert 0 < len(read) < 1000 and skipped == 1
    assert [r["epoch"] for r in read] == list(range(1, len(read) + 1))


@pytest.mark.slow
def test_the_api_serves_a_runs_curves_and_the_checkpoints_epoch(digits_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(digits_runs / "digits", runs / "digits")
    (runs / "bare").mkdir()
    shutil.copy(digits_runs / "digits" / "checkpoint.pt", runs / "bare" / "checkpoint.pt")
    settings = Settings(runs_dir=runs, cache_dir=tmp_path / "cache", warmup=False)
    with TestClient(create_app(settings)) as client:
        model = client.get("/api/models/digits").json()
        log = client.get("/api/models/digits/training").json()
        lines = (runs / "digits" / "metrics.jsonl").read_text().splitlines()
        assert [row["epoch"] for row in log["epochs"]] == list(range(1, len(lines) + 1))
        assert log["checkpoint_epoch"] == model["epoch"]  # one numbering
        final = json.loads(lines[-1])
        assert log["epochs"][-1]["accuracy"] == final["accuracy"]
        assert log["epochs"][-1]["view_ratio"] == final["view_ratio"]
        assert log["skipped_lines"] == 0
        bare = client.get("/api/models/bare/training").json()
        assert bare["epochs"] == [] and bare["skipped_lines"] == 0
        assert client.get("/api/models/nothing/training").status_code == 404


def test_the_loss_terms_come_with_the_weights_they_were_trained_with(untrained_runs, tmp_path):
    """The loss panel plots what was optimised, weight x term: the weights a run was
    trained with are served beside its curves (none for a checkpoint that lacks them)."""
    import torch

    run = tmp_path / "runs" / "digits"
    shutil.copytree(untrained_runs / "digits", run)
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    checkpoint["config"] = {"w_con": 0.0, "w_div": 0.2, "w_cost": 0.5, "w_aig": 0.0}
    torch.save(checkpoint, run / "checkpoint.pt")
    row = {"epoch": 0, "loss": 1.5, "ce": 1.0, "consistency_loss": 0.3, "diversity_loss": 0.5}
    (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    settings = Settings(runs_dir=run.parent, cache_dir=tmp_path / "cache", warmup=False)
    with TestClient(create_app(settings)) as client:
        log = client.get("/api/models/digits/training").json()
    assert log["loss_weights"] == {
        "ce": 1.0,
        "consistency_loss": 0.0,
        "diversity_loss": 0.2,
        "cost_loss": 0.5,
        "target_rate_loss": 0.0,
    }


def test_a_fifo_in_place_of_the_log_is_no_rows_without_blocking(tmp_path):
    """A run folder is a stranger's: a FIFO named metrics.jsonl must not hang the
    request (its open would wait for a writer forever)."""
    os.mkfifo(tmp_path / "metrics.jsonl")
    found = []
    reader = threading.Thread(
        target=lambda: found.append(read_training_log(tmp_path / "metrics.jsonl")), daemon=True
    )
    reader.start()
    reader.join(20)
    assert found == [([], 0)], "reading a FIFO blocked"
