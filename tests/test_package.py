"""The project installs as a package: a wheel built from the repository, installed into
a fresh virtual environment, serves the dashboard with ``python -m backend``, far from
any checkout.

Offline and quick: the wheel is built without build isolation (the test environment's
setuptools), installed without its dependencies, and the fresh environment borrows the
test environment's installed dependencies through a ``.pth`` line (a path line, so the
editable install of the project found there is not activated).
"""

import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from tests.backend_helpers import first_answer, free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[1]
# What a wheel is built from (the Dockerfile copies the same).
SOURCES = ("pyproject.toml", "README.md", "trainer", "backend", "frontend")


def _build_wheel(out: Path) -> Path:
    source = out / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--quiet", "--wheel-dir", str(out / "dist"), str(source)],
        check=True,
        cwd=out,
    )
    (wheel,) = (out / "dist").glob("codinet_explorer-*.whl")
    return wheel


def _fresh_environment(root: Path, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    borrowed = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    (target / "borrowed-dependencies.pth").write_text("\n".join(dict.fromkeys(borrowed)) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
        + ["--no-index", "--quiet", str(wheel)],
        check=True,
    )
    return python


def test_every_python_package_of_the_project_is_in_the_wheel():
    """A new package (a folder with ``__init__.py``) missing from pyproject's list would
    be left out of the wheel, and the installed server would not start."""
    import tomllib

    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("trainer", "backend")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert found - listed == set()


def test_an_installed_wheel_serves_the_dashboard(tmp_path):
    wheel = _build_wheel(tmp_path / "build")
    python = _fresh_environment(tmp_path / "env", wheel)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "runs").mkdir(parents=True)
    where = subprocess.run(
        [str(python), "-c", "import backend.app as a; print(a.__file__, a.FRONTEND_DIR)"],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(tmp_path / "env") for p in where), where

    port = free_port()
    server = subprocess.Popen(
        [str(python), "-m", "backend", "--runs-dir", "runs", "--port", str(port), "--no-warmup"],
        cwd=elsewhere,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        index = first_answer(server, f"{base}/")
        assert index.status_code == 200 and "<html" in index.text.lower()
        module = httpx.get(f"{base}/static/main.js", timeout=5)
        assert module.status_code == 200 and "import" in module.text
        assert module.text == (REPO / "frontend" / "main.js").read_text()
        assert httpx.get(f"{base}/api/models", timeout=5).json() == []
    finally:
        server.terminate()
        server.wait(timeout=30)
