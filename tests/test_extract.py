"""Routing a split ahead of serving it (``python -m backend extract``), on one process or
several under torchrun, and progress that follows the routing batch by batch."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend import keys
from backend.__main__ import main as backend_main
from backend.cache import DiskCache
from backend.context import Context
from backend.extraction import extract_paths
from backend.services import Explorer
from backend.services.splits import ROUTING_SHARE
from backend.settings import Settings
from backend.store import ModelStore
from trainer.engine import ON_CPU

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def runs(untrained_runs, tmp_path):
    """A copy of the untrained digits run: what is tested is where its paths are routed
    and written, not what they are."""
    own = tmp_path / "runs"
    shutil.copytree(untrained_runs / "digits", own / "digits")
    return own


def extract(runs: Path, *options: str) -> int:
    """``python -m backend extract`` in this process, on the digits model of ``runs``."""
    return backend_main(["extract", "digits", "--runs-dir", str(runs), *options])


def extracted(cache_dir: Path, runs: Path) -> dict[str, np.ndarray]:
    loaded = ModelStore(runs, Path("data")).get("digits")
    path = cache_dir / keys.paths(loaded.content_hash, "test")
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


@pytest.mark.slow  # starts three interpreters, two of them under torchrun
def test_two_torchrun_processes_write_what_one_process_writes_bit_for_bit(runs, tmp_path):
    # Both runs use one thread per process and the same batch size: oneDNN's kernels may
    # sum in another order with other threads or shapes (seen: confidences differing in
    # their last bits against a run in this process), and what is tested is that sharding
    # the split changes nothing.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    extract_options = ["-m", "backend", "extract", "digits", "--runs-dir", str(runs),
                       "--device", "cpu", "--batch-size", "64"]  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    outputs = {}
    for name, launcher in (("one", [sys.executable]), ("two", torchrun)):
        command = [*launcher, *extract_options, "--cache-dir", str(tmp_path / name)]
        result = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs[name] = result.stdout
    assert "360 images routed by 1 process(es) on cpu" in outputs["one"]
    assert "360 images routed by 2 process(es) on cpu" in outputs["two"]
    one, two = extracted(tmp_path / "one", runs), extracted(tmp_path / "two", runs)
    assert one.keys() == two.keys() == {"labels", "predictions", "confidences", "paths", "macs"}
    for name in one:
        assert one[name].dtype == two[name].dtype
        assert np.array_equal(one[name], two[name]), name
    # Only rank 0 wrote: one file, no leftovers of the other rank.
    files = [p for p in (tmp_path / "two").rglob("*") if p.is_file()]
    assert len(files) == 1


def test_the_server_serves_an_extracted_split_without_routing_it(runs, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    assert extract(runs, "--cache-dir", str(cache)) == 0

    def no_routing(*args, **kwargs):
        raise AssertionError("the split was routed again")

    monkeypatch.setattr("backend.extraction.route_dataset", no_routing)
    explorer = Explorer(Settings(runs_dir=runs, cache_dir=cache, warmup=False))
    try:
        table = explorer.splits.paths("digits", "test").table
        assert np.array_equal(table.paths, extracted(cache, runs)["paths"])
    finally:
        explorer.close()


def test_extraction_errors_are_one_line_and_exit_2(runs, tmp_path, capsys):
    assert backend_main(["extract", "nothing", "--runs-dir", str(runs)]) == 2
    assert "error: no model 'nothing'" in capsys.readouterr().err
    assert extract(runs, "--batch-size", "0") == 2
    if not __import__("torch").cuda.is_available():
        assert extract(runs, "--device", "cuda") == 2
        assert "no CUDA device" in capsys.readouterr().err


def test_routing_reports_progress_after_every_batch(runs, tmp_path):
    store = ModelStore(runs, Path("data"))
    loaded = store.get("digits")
    seen = []
    context = Context(store, DiskCache(tmp_path, 10**9), ON_CPU, batch_size=50)
    extract_paths(context, loaded, "test", "paths/x.npz", progress=seen.append)
    assert seen == pytest.approx([k / 8 for k in range(1, 9)])  # 360 images, 8 batches


def test_an_embedding_job_moves_its_bar_while_the_split_is_routed(runs, tmp_path, monkeypatch):
    explorer = Explorer(Settings(runs_dir=runs, cache_dir=tmp_path, warmup=False, batch_size=40))
    try:
        jobs = []
        monkeypatch.setattr(
            explorer.shared.jobs, "submit", lambda key, what, compute: jobs.append(compute)
        )
        explorer.splits.embedding("digits", "test", "tsne", {})
        seen = []
        jobs[0](seen.append)
    finally:
        explorer.close()
    routing = [f for f in seen if 0.02 < f <= 0.02 + ROUTING_SHARE]
    assert len(routing) >= 9  # 360 images in batches of 40, each heard
    assert seen == sorted(seen) and seen[0] == 0.02 and seen[-1] <= 1.0
    assert max(seen) > 0.9  # t-SNE's own progress fills the rest
