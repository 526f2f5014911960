"""Checkpoints replaced while requests are served: one request reads one version of a
model from start to end, and what is cached is named by that version."""

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.settings import Settings
from tests.untrained_models import digits_checkpoint

URL = "/api/models/a/embeddings/pca"


@dataclass
class TwoVersions:
    """Model ``a`` of a runs folder, and the bytes of two versions of its checkpoint
    that predict otherwise (the second: another seed, uncalibrated)."""

    runs: Path
    first: bytes
    second: bytes

    def put(self, data: bytes) -> None:
        """Replace the checkpoint as a trainer does: a rename over it."""
        spare = self.runs / "a" / "spare.pt"
        spare.write_bytes(data)
        os.replace(spare, self.runs / "a" / "checkpoint.pt")


@pytest.fixture
def versions(untrained_runs, tmp_path) -> TwoVersions:
    runs = tmp_path / "runs"
    shutil.copytree(untrained_runs / "digits", runs / "a")
    digits_checkpoint(tmp_path / "other.pt", seed=1)
    first = (runs / "a" / "checkpoint.pt").read_bytes()
    return TwoVersions(runs, first, (tmp_path / "other.pt").read_bytes())


def _wait_for_job(client, url: str) -> None:
    """Compute the result without fetching it: the first 200 encodes the response."""
    answer = client.get(url)
    assert answer.status_code == 202, answer.text
    job = answer.json()["job_id"]
    deadline = time.monotonic() + 120
    while client.get(f"/api/jobs/{job}").json()["status"] != "done":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.1)


def test_an_embedding_never_mixes_two_versions_of_its_model(versions, tmp_path, monkeypatch):
    """The checkpoint is replaced right after the request read it: the map's
    predictions are still the first version's, and so they stay once it is restored."""
    settings = Settings(runs_dir=versions.runs, cache_dir=tmp_path / "cache", warmup=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        own = client.get("/api/models/a/paths").json()["predictions"]
        versions.put(versions.second)
        assert client.get("/api/models/a/paths").json()["predictions"] != own
        versions.put(versions.first)
        _wait_for_job(client, URL)
        store = client.app.state.explorer.shared.store
        read = store.get

        def read_then_replace(model_id):
            loaded = read(model_id)
            versions.put(versions.second)  # the next read of "a" sees the other model
            return loaded

        monkeypatch.setattr(store, "get", read_then_replace)
        answer = client.get(URL)
        monkeypatch.setattr(store, "get", read)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == own
        versions.put(versions.first)
        assert client.get(URL).json()["predictions"] == own


SWAPS = 60


@pytest.mark.slow  # 6 s on 2 cores: each replacement is a model load
def test_an_embedding_is_one_version_through_many_replacements(versions, tmp_path):
    """The checkpoint is replaced SWAPS times, one version by the other, while two
    clients ask for the map: every answer is one version's whole (map and
    predictions), and once the first version is back, its answer is served. Nothing is
    kept in memory, so that every answer is encoded again, across the replacements,
    from the embeddings and routings of the disk cache."""
    settings = Settings(
        runs_dir=versions.runs,
        cache_dir=tmp_path / "cache",
        warmup=False,
        memory_cache_max_bytes=1,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        _wait_for_job(client, URL)
        first = client.get(URL).json()
        versions.put(versions.second)
        _wait_for_job(client, URL)
        second = client.get(URL).json()
        assert first["predictions"] != second["predictions"] and first["x"] != second["x"]
        replaced, answers = threading.Event(), []

        def ask():
            while not replaced.is_set():
                answers.append(client.get(URL))

        askers = [threading.Thread(target=ask, daemon=True) for _ in range(2)]
        for asker in askers:
            asker.start()
        try:
            for swap in range(SWAPS):
                seen = len(answers)
                versions.put(versions.first if swap % 2 == 0 else versions.second)
                # Of the answers that follow a replacement, at most one per client was
                # under way when it came: one more was asked after it.
                _wait_for(answers, seen + len(askers) + 1)
        finally:
            replaced.set()
            for asker in askers:
                asker.join(60)
        versions.put(versions.first)
        restored = client.get(URL)
    statuses = {answer.status_code for answer in answers}
    assert statuses == {200}, [answer.text for answer in answers if answer.status_code != 200]
    mixed = [a for a in answers if a.json() not in (first, second)]
    assert not mixed, f"{len(mixed)} of {len(answers)} answers mix the two versions"
    assert restored.json() == first


def _wait_for(answers: list, count: int, timeout: float = 30.0) -> None:
    """Until the clients have given ``count`` answers; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while len(answers) < count:
        assert time.monotonic() < deadline, f"{len(answers)} answers of {count} in {timeout} s"
        time.sleep(0.001)
