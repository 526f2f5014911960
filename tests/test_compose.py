"""docker-compose.yml validates and offers the services the README documents."""

import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).parents[1]


def resolved_compose() -> dict:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is needed to validate the compose file (make test installs it)"
    result = subprocess.run([tool, "config"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_validates_and_matches_the_readme():
    config = resolved_compose()
    backend, trainer = config["services"]["backend"], config["services"]["trainer"]

    assert {"published": 8000, "target": 8000} in [
        {k: int(v) for k, v in p.items() if k in ("published", "target")} for p in backend["ports"]
    ]
    assert "/api/health" in " ".join(backend["healthcheck"]["test"])
    assert backend["restart"] in ("on-failure", "unless-stopped", "always")
    assert "profiles" not in backend

    # The trainer runs on demand only, with a GPU reservation.
    assert trainer["profiles"] == ["train"]
    assert trainer["entrypoint"] == ["python", "-m", "trainer"]
    devices = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]

    # Both share the runs and data volumes.
    for service in (backend, trainer):
        targets = {
            v.split(":")[1] if isinstance(v, str) else v["target"] for v in service["volumes"]
        }
        assert {"/runs", "/data"} <= targets
    assert {"runs", "data"} <= set(config["volumes"])


def test_dockerfile_runs_as_non_root_and_ignores_local_state():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "\nUSER codinet" in dockerfile
    assert "pip install" in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".venv", "runs", "data", ".git"):
        assert path in ignored
