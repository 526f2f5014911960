"""What the page takes from the server's settings: the neighbours it lists, as many as
CODINET_NEIGHBORS. On an untrained model: no training needed."""

import httpx
import pytest
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import save_untrained_run
from tests.browser_support import LiveServer
from tests.test_browser import BUSY_TIMEOUT, page_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEIGHBORS = 5  # not the default 8: the page must take the server's


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("url-page") / "runs"
    save_untrained_run(runs / "digits")
    settings = Settings(
        runs_dir=runs, cache_dir=tmp_path_factory.mktemp("cache"), warmup=False, neighbors=NEIGHBORS
    )
    with LiveServer(create_app(settings)) as live:
        yield live


@pytest.fixture(scope="module")
def table(server):
    return httpx.get(f"{server.url}/api/models/digits/paths", timeout=120).json()


def test_a_shown_sample_lists_as_many_neighbours_as_the_server_returns(browser, server, table):
    health = httpx.get(f"{server.url}/api/health", timeout=60).json()
    assert health["neighbors"] == NEIGHBORS
    with page_session(browser, server.url) as ui:
        ui.page.goto(f"{server.url}/#method=pca&sample={table['sample_ids'][0]}")
        tiles = ui.page.locator(".side-card .detail .neighbors .tile")
        expect(tiles).to_have_count(NEIGHBORS, timeout=BUSY_TIMEOUT)
        assert ui.errors == []
