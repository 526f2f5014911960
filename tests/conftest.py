import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def digits_runs(tmp_path_factory):
    """A runs directory holding one digits model trained in this test session."""
    from tests.backend_helpers import train_digits_run

    runs = tmp_path_factory.mktemp("served") / "runs"
    train_digits_run(runs / "digits", epochs=6)
    return runs


@pytest.fixture(scope="session")
def untrained_runs(tmp_path_factory):
    """A runs directory holding one untrained digits model (``digits``) whose gates
    are seeded to route images along varied paths: what the HTTP tests need, in a
    second, without training. Tests that assert what training produces use
    ``digits_runs``."""
    from tests.backend_helpers import save_untrained_run

    runs = tmp_path_factory.mktemp("untrained") / "runs"
    save_untrained_run(runs / "digits")
    return runs


@pytest.fixture
def own_runs(untrained_runs, tmp_path):
    """A private copy of ``untrained_runs``, for a test that adds, breaks or replaces a
    checkpoint."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(untrained_runs, runs, ignore=shutil.ignore_patterns(".cache"))
    return runs


def make_client(runs, cache, **settings):
    """A client of a server of ``runs`` caching in ``cache`` (no warm-up; ``settings``
    override the others' defaults), to use as a context manager: the lifespan runs on
    entering. A server error is answered as a 500, as a real client would see it."""
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from backend.settings import Settings

    app = create_app(Settings(runs_dir=runs, cache_dir=cache, warmup=False, **settings))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(untrained_runs, tmp_path_factory):
    """The HTTP tests' client: a server of ``untrained_runs`` (lifespan run, no warm-up,
    uploads up to 2 MB). A module whose tests assert what training produces defines its
    own ``client`` on ``digits_runs``."""
    cache = tmp_path_factory.mktemp("cache")
    limits = dict(max_upload_bytes=2_000_000, max_image_pixels=20_000_000)
    with make_client(untrained_runs, cache, **limits) as client:
        yield client


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for the browser tests (tests/browser_support.py), one per module."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM, LAUNCH_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need it. Install it "
            "with `sudo apt-get install chromium` (`make test` does), or point $CHROMIUM at one."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server(digits_runs, tmp_path_factory):
    """The dashboard tests' live server (tests/test_browser_*.py): two checkpoints, the
    session's digits model under two names, one server for every module so that a map is
    computed once. A browser module serving other runs defines its own ``server``."""
    import shutil

    from backend.app import create_app
    from backend.settings import Settings
    from tests.browser_support import MODEL, OTHER, LiveServer

    root = tmp_path_factory.mktemp("browser")
    runs = root / "runs"
    for name in (MODEL, OTHER):
        (runs / name).mkdir(parents=True)
        shutil.copy(digits_runs / "digits" / "checkpoint.pt", runs / name / "checkpoint.pt")
    # Training curves for the first; the second is a checkpoint alone, as a download is.
    shutil.copy(digits_runs / "digits" / "metrics.jsonl", runs / MODEL / "metrics.jsonl")
    app = create_app(Settings(runs_dir=runs, cache_dir=root / "cache", warmup=False))
    with LiveServer(app) as live:
        yield live


@pytest.fixture(scope="session")
def api(server):
    """An HTTP client of ``server``."""
    import httpx

    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@pytest.fixture
def ui(browser, server):
    """A fresh page on ``server`` (tests/browser_support.py, ``UI``)."""
    from tests.browser_support import page_session

    with page_session(browser, server.url) as session:
        yield session


def randomize_gates(model, seed: int = 0, open_prob: float = 0.5) -> None:
    """Give every gate a random bias so that eval paths mix executed and skipped blocks."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            bias = torch.randn(2, generator=generator) * 3
            bias[0] += torch.logit(torch.tensor(open_prob))
            block.gate.fc2.bias.copy_(bias)
            block.gate.fc2.weight.normal_(0, 1.0, generator=generator)
