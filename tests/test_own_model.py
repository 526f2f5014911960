"""The README's "Your own model" example, run as written: a researcher's gated network
saved as a run and served through every route that routes images."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.settings import Settings
from trainer.models import registry

README = Path(__file__).parents[1] / "README.md"


def _example() -> str:
    """The README's one Python block: the network, and the script that saves it."""
    section = README.read_text().split("### Your own model", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return block


@pytest.fixture(scope="module")
def own_client(tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("own")
    (root / "my_gated.py").write_text(_example())
    # `python my_gated.py` in its folder, run in this process (a second interpreter
    # would spend seconds importing torch again). Its registration would end with that
    # process: the server's import of my_gated registers the class afresh.
    monkeypatch_module.syspath_prepend(str(root))
    monkeypatch_module.chdir(root)
    runpy.run_path(str(root / "my_gated.py"), run_name="__main__")
    registry._MODELS.pop("GatedMLP")
    settings = Settings(
        runs_dir=root / "runs",
        cache_dir=root / "cache",
        warmup=False,
        model_modules="my_gated",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_example_is_complete_and_short():
    assert len(_example().splitlines()) <= 30


def test_your_own_model_is_served_like_any_other(own_client):
    models = own_client.get("/api/models").json()
    assert [m["id"] for m in models] == ["mine"]
    mine = models[0]
    assert mine["family"] == "mine" and mine["num_gates"] == 6 and mine["conditional"]
    assert mine["arch"] == "GatedMLP" and mine["model_args"] == {}
    # stem 256x64, head 64x10, six gates 64x1 (always run) and six blocks 64x64
    assert mine["full_macs"] == 256 * 64 + 64 * 10 + 6 * 64 + 6 * 64 * 64
    paths = own_client.get("/api/models/mine/paths").json()["paths"]
    assert len(set(paths)) > 1 and all(len(p) == 6 for p in paths)
    assert own_client.get("/api/models/mine/metrics").status_code == 200
    forced = own_client.get("/api/models/mine/samples/0/route", params={"force_path": "101010"})
    assert forced.status_code == 200 and forced.json()["path"] == "101010"
    assert forced.json()["unforced"]["path"] == paths[0]


@pytest.mark.slow  # a whole `python -m backend` start, as a user runs it
def test_a_model_module_that_cannot_be_imported_stops_the_server_with_a_sentence(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "backend", "--runs-dir", str(tmp_path), "--no-warmup"],
        env={"CODINET_MODEL_MODULES": "no_such_module", "PATH": "/usr/bin:/bin"},
        cwd=README.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "model module 'no_such_module' cannot be imported" in result.stderr
