"""GET /api/models/{id}/formation on recorded epochs (tests.backend_helpers writes them
beside the untrained model as the trainer would), on a run without any, and on
damaged files."""

import shutil

import numpy as np
import pytest

from tests.backend_helpers import FORMATION_EPOCHS, wait_for_result
from trainer.formation import HEADER, RECORDS, read_formation
from trainer.measures import routing_measures


@pytest.fixture(scope="module")
def runs(untrained_runs, tmp_path_factory):
    """The untrained model with its recording, the same model without one, with a
    damaged one and with one cut short."""
    runs = tmp_path_factory.mktemp("formation") / "runs"
    shutil.copytree(untrained_runs / "digits", runs / "digits")
    (runs / "unrecorded").mkdir()
    shutil.copy(untrained_runs / "digits" / "checkpoint.pt", runs / "unrecorded")
    shutil.copytree(untrained_runs / "digits", runs / "damaged")
    (runs / "damaged" / HEADER).write_text('{"format": "codinet-formation", "version": 1}')
    shutil.copytree(untrained_runs / "digits", runs / "cut")
    data = (runs / "cut" / RECORDS).read_bytes()  # as a kill during epoch 3's record leaves it
    (runs / "cut" / RECORDS).write_bytes(data[: len(data) * 2 // FORMATION_EPOCHS + 10])
    return runs


@pytest.fixture(scope="module")
def client(runs, tmp_path_factory):
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from backend.settings import Settings

    settings = Settings(runs_dir=runs, cache_dir=tmp_path_factory.mktemp("cache"), warmup=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def served(client):
    status, answer = wait_for_result(client, "/api/models/digits/formation?method=pca")
    assert status == 202 and answer.status_code == 200, answer.text
    return answer.json()


def test_every_recorded_epoch_is_served_with_the_recorded_paths(served, runs):
    recorded = read_formation(runs / "digits")
    assert served["epochs"] == list(range(1, FORMATION_EPOCHS + 1))
    assert served["sample_ids"] == recorded.probe.tolist()
    assert served["labels"] == recorded.labels.tolist()
    paths = np.array([[c == "1" for c in p] for p in served["paths"]])
    ids = np.array(served["path_ids"])
    assert np.array_equal(paths[ids], recorded.paths)
    assert served["predictions"] == recorded.predictions.tolist()
    assert len(set(served["paths"])) == len(served["paths"])  # one row per distinct path


def test_a_point_moves_exactly_when_its_images_path_changes(served):
    xy = np.stack([served["x"], served["y"]], axis=1)
    ids = np.array(served["path_ids"])
    points = xy[ids]  # (epochs, images, 2)
    moved = np.any(points[1:] != points[:-1], axis=2)
    changed = ids[1:] != ids[:-1]
    assert changed.any() and not changed.all()
    assert np.array_equal(moved, changed)


def test_path_changes_and_settling_are_those_of_the_recorded_paths(served, runs):
    recorded = read_formation(runs / "digits")
    bits = recorded.paths
    differs = np.any(bits[1:] != bits[:-1], axis=2)  # (epochs - 1, images)
    assert served["changed"][0] is None
    assert served["changed"][1:] == pytest.approx(differs.mean(axis=1).tolist())
    for c, curve in enumerate(served["changed_per_class"]):
        members = recorded.labels == c
        assert curve[1:] == pytest.approx(differs[:, members].mean(axis=1).tolist())
    final = np.all(bits == bits[-1], axis=2)  # (epochs, images): already the last path
    for i in range(len(recorded.probe)):
        settle = next(e for e in range(len(bits)) if final[e:, i].all())
        assert served["settle_epochs"][i] == served["epochs"][settle]
    shares = [float(final[e:].all(axis=0).mean()) for e in range(len(bits))]
    assert served["settled"] == pytest.approx(shares)
    assert served["settled"][-1] == 1.0 and served["settled"][0] < 0.9
    first = next(e for e, share in enumerate(shares) if share >= 0.9)
    assert served["settled_90_epoch"] == served["epochs"][first]


def test_each_epochs_measures_are_those_of_its_paths(served, runs):
    recorded = read_formation(runs / "digits")
    measures = served["measures"]
    for e in range(len(recorded.epochs)):
        expected = routing_measures(recorded.paths[e], recorded.labels)
        for name in ("same_class_ratio", "neighbor_agreement", "probe_accuracy"):
            assert measures[name][e] == pytest.approx(expected[name]), (name, e)
        accuracy = (recorded.predictions[e] == recorded.labels).mean()
        assert measures["accuracy"][e] == pytest.approx(accuracy)
        blocks = recorded.paths[e].sum(axis=1).mean()
        assert measures["mean_executed_blocks"][e] == pytest.approx(blocks)
    assert served["probe_epochs"] == served["epochs"]  # under 25 epochs: each one


def test_a_computed_formation_is_answered_at_once(client, served):
    answer = client.get("/api/models/digits/formation", params={"method": "pca"})
    assert answer.status_code == 200 and answer.json() == served


def test_a_run_without_recordings_is_a_404_that_says_how_to_record(client):
    answer = client.get("/api/models/unrecorded/formation")
    assert answer.status_code == 404
    detail = answer.json()["detail"]
    assert "no recorded formation" in detail and "--no-formation" in detail


def test_a_damaged_recording_is_a_409_with_its_reason(client):
    answer = client.get("/api/models/damaged/formation")
    assert answer.status_code == 409
    assert HEADER in answer.json()["detail"]


def test_records_cut_short_serve_the_epochs_before(client):
    _, answer = wait_for_result(client, "/api/models/cut/formation?method=pca")
    assert answer.status_code == 200, answer.text
    assert answer.json()["epochs"] == [1, 2]


def test_an_unknown_method_is_refused(client):
    answer = client.get("/api/models/digits/formation", params={"method": "mds"})
    assert answer.status_code == 422
