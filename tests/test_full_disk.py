"""A cache folder that cannot be written (a full disk): results are answered from
memory, uncached, with a warning; no partial file stays, and jobs are not redone."""

import errno
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient

import backend.cache
from backend.app import create_app
from backend.cache import DiskCache
from backend.settings import Settings
from tests.backend_helpers import digit_on_paper, encode, wait_for_result

SPEC = {"x": ("f", ("n",))}


@pytest.fixture
def full_disk(monkeypatch):
    """Every cache write puts some bytes down, then fails as a full disk does."""

    def write_then_fail(f, **_arrays):
        f.write(b"PK\x03\x04 partial")
        f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(backend.cache.np, "savez", write_then_fail)


def _leftovers(root) -> list:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_a_full_disk_is_a_warning_and_leaves_no_partial_file(tmp_path, full_disk, caplog):
    cache = DiskCache(tmp_path, 10**9)
    with caplog.at_level(logging.WARNING, "backend.cache"):
        assert cache.save("paths/a.npz", x=np.ones(3)) is False
    assert "No space left on device" in caplog.text and "uncached" in caplog.text
    assert _leftovers(tmp_path) == []
    assert cache.load("paths/a.npz", SPEC) is None


def test_the_size_trim_counts_and_removes_temporary_files(tmp_path):
    stale = tmp_path / "paths" / f".old.npz.{os.getpid()}.1.tmp"
    stale.parent.mkdir()
    stale.write_bytes(b"x" * 10_000)
    os.utime(stale, (1, 1))  # used longest ago
    cache = DiskCache(tmp_path, 5_000)
    cache.save("paths/new.npz", x=np.ones(3))
    assert _leftovers(tmp_path) == ["new.npz"]


def test_orphaned_temporary_files_are_removed_at_start_up(tmp_path):
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead_pid = int(ended.stdout)
    (tmp_path / "paths").mkdir()
    orphan = tmp_path / "paths" / f".a.npz.{dead_pid}.7.tmp"
    live = tmp_path / "paths" / f".b.npz.{os.getppid()}.7.tmp"  # its writer still runs
    orphan.write_bytes(b"partial")
    live.write_bytes(b"partial")
    DiskCache(tmp_path, 10**9)
    assert not orphan.exists() and live.exists()


def test_the_server_answers_from_memory_when_the_cache_disk_is_full(
    untrained_runs, tmp_path, full_disk
):
    settings = Settings(runs_dir=untrained_runs, cache_dir=tmp_path / "cache", warmup=False)
    image, _ = digit_on_paper(3)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        # First, so that the split's routing its neighbours need meets the full disk.
        answer = client.post(
            "/api/models/digits/route",
            files={"file": ("three.png", encode(image, "PNG"), "image/png")},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["neighbors"]
        assert _leftovers(tmp_path / "cache") == []
        for url in (
            "/api/models/digits/paths",
            "/api/models/digits/paths?format=csv",
            "/api/models/digits/metrics",
            "/api/models/digits/samples/3/route",
        ):
            answer = client.get(url)
            assert answer.status_code == 200, (url, answer.text)
        first, answer = wait_for_result(client, "/api/models/digits/embeddings/pca")
        assert (first, answer.status_code) == (202, 200), answer.text
        jobs = client.app.state.explorer.shared.jobs
        submitted = len(jobs._jobs)
        for _ in range(3):  # computed once: not resubmitted on every request
            assert client.get("/api/models/digits/embeddings/pca").status_code == 200
        assert len(jobs._jobs) == submitted
    assert _leftovers(tmp_path / "cache") == []
