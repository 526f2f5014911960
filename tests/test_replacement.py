"""Checkpoints replaced while requests are served: one request reads one version of a
model from start to end, and what is cached is named by that version."""

import os
import shutil
import time

from fastapi.testclient import TestClient

from backend.app import create_app
from backend.settings import Settings
from tests.untrained_models import digits_checkpoint

URL = "/api/models/a/embeddings/pca"


def _wait_for_job(client, url: str) -> None:
    """Compute the result without fetching it: the first 200 encodes the response."""
    answer = client.get(url)
    assert answer.status_code == 202, answer.text
    job = answer.json()["job_id"]
    deadline = time.monotonic() + 120
    while client.get(f"/api/jobs/{job}").json()["status"] != "done":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.1)


def test_an_embedding_never_mixes_two_versions_of_its_model(untrained_runs, tmp_path, monkeypatch):
    """The checkpoint is replaced right after the request read it: the map's
    predictions are still the first version's, and so they stay once it is restored."""
    runs = tmp_path / "runs"
    shutil.copytree(untrained_runs / "digits", runs / "a")
    # The second version: another seed, uncalibrated, so it predicts otherwise.
    digits_checkpoint(tmp_path / "other.pt", seed=1)
    first = (runs / "a" / "checkpoint.pt").read_bytes()
    second = (tmp_path / "other.pt").read_bytes()

    def put(data: bytes) -> None:
        spare = tmp_path / "spare.pt"
        spare.write_bytes(data)
        os.replace(spare, runs / "a" / "checkpoint.pt")

    settings = Settings(runs_dir=runs, cache_dir=tmp_path / "cache", warmup=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        own = client.get("/api/models/a/paths").json()["predictions"]
        put(second)
        assert client.get("/api/models/a/paths").json()["predictions"] != own
        put(first)
        _wait_for_job(client, URL)
        store = client.app.state.explorer.shared.store
        read = store.get

        def read_then_replace(model_id):
            loaded = read(model_id)
            put(second)  # the next read of "a" sees the other model
            return loaded

        monkeypatch.setattr(store, "get", read_then_replace)
        answer = client.get(URL)
        monkeypatch.setattr(store, "get", read)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == own
        put(first)
        assert client.get(URL).json()["predictions"] == own
