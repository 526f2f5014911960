"""What the page keeps in its URL beyond the toolbar: the Find's query and a sample's
forced path (a copied link restores them, Back undoes them), and the neighbours it lists,
as many as the server's CODINET_NEIGHBORS. On an untrained model: no training needed."""

from urllib.parse import parse_qs

import httpx
import pytest
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import save_untrained_run
from tests.browser_support import BUSY_TIMEOUT, LiveServer, page_session

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


def hash_params(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(url.partition("#")[2]).items()}


def test_a_finds_query_is_in_the_url_and_a_link_runs_it_again(browser, server, table):
    threes = table["labels"].count(3)
    summary = ".side-card .selection"
    with page_session(browser, server.url) as ui:
        ui.page.goto(f"{server.url}/#method=pca")
        ui.page.wait_for_selector(".side-card .empty", timeout=BUSY_TIMEOUT)
        ui.page.fill("#find-input", "class:3")
        ui.page.press("#find-input", "Enter")
        expect(ui.page.locator(summary)).to_have_attribute("data-count", str(threes))
        assert hash_params(ui.page.url)["find"] == "class:3"
        link = ui.page.url
        # On another tab the Find's selection stands, and so does its query in the link.
        ui.page.click(".tab[data-tab=classes]")
        expect(ui.page.locator("#tab-classes")).to_be_visible()
        assert hash_params(ui.page.url)["find"] == "class:3"
        tab_link = ui.page.url
        ui.page.go_back()
        ui.page.go_back()  # before the Find: no selection, no query
        expect(ui.page.locator(summary)).to_have_count(0)
        assert "find" not in hash_params(ui.page.url)
        expect(ui.page.locator("#find-input")).to_have_value("")
        ui.page.go_forward()
        expect(ui.page.locator(summary)).to_have_attribute("data-count", str(threes))
        # Clearing the selection drops the query from the URL.
        ui.page.locator(summary).get_by_role("button", name="Clear").click()
        expect(ui.page.locator(summary)).to_have_count(0)
        assert "find" not in hash_params(ui.page.url)
        assert ui.errors == []
    for url, tab in ((link, "routing"), (tab_link, "classes")):
        with page_session(browser, server.url) as ui:
            ui.page.add_init_script("window.historyAtLoad = history.length")
            ui.page.goto(url)  # a copied link: the query runs once the paths are in
            expect(ui.page.locator(f"#tab-{tab}")).to_be_visible()
            expect(ui.page.locator("#find-input")).to_have_value("class:3")
            status = ui.page.locator("#find-status")
            expect(status).to_have_text(f"{threes} images found.", timeout=BUSY_TIMEOUT)
            expect(ui.page.locator(f"#tab-{tab}")).to_be_visible()  # the tab stays
            assert hash_params(ui.page.url)["find"] == "class:3"
            ui.page.click(".tab[data-tab=routing]")
            expect(ui.page.locator(summary)).to_have_attribute("data-count", str(threes))
            # Running the linked query again was no new step of the history.
            assert ui.page.evaluate("history.length - window.historyAtLoad") == (tab != "routing")
            assert ui.errors == []


def test_a_forced_path_is_in_the_url_and_a_link_routes_it_again(browser, server, table):
    sample = table["sample_ids"][0]
    own = table["paths"][0]
    forced = ("0" if own[0] == "1" else "1") + own[1:]
    detail = ".side-card .detail"
    with page_session(browser, server.url) as ui:
        ui.page.goto(f"{server.url}/#method=pca&sample={sample}")
        ui.page.locator(f"{detail} .pathdiagram button.pd-block[data-index='0']").first.click(
            timeout=BUSY_TIMEOUT
        )
        box = ui.page.locator(f"{detail} .intervention")
        expect(box).to_have_attribute("data-state", "ready")
        expect(box).to_have_attribute("data-path", forced)
        assert hash_params(ui.page.url)["forced"] == forced
        link = ui.page.url
        ui.page.go_back()  # the sample on its own path again
        expect(box).to_have_count(0)
        assert "forced" not in hash_params(ui.page.url)
        expect(ui.page.locator(f"{detail} .pathdiagram").first).to_have_attribute("data-path", own)
        ui.page.go_forward()
        expect(box).to_have_attribute("data-path", forced)
        expect(box).to_have_attribute("data-state", "ready")
        assert ui.errors == []
    with page_session(browser, server.url) as ui:
        ui.page.goto(link)
        box = ui.page.locator(f"{detail} .intervention")
        expect(box).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
        expect(box).to_have_attribute("data-path", forced)
        diagram = ui.page.locator(f"{detail} .pathdiagram").first
        expect(diagram).to_have_attribute("data-path", forced)
        expect(diagram.locator(".pd-block.differs")).to_have_count(1)
        # Resetting goes back to the network's own path, and out of the URL.
        box.locator(".iv-reset").click()
        expect(box).to_have_count(0)
        assert "forced" not in hash_params(ui.page.url)
        assert ui.errors == []


def test_a_shown_sample_lists_as_many_neighbours_as_the_server_returns(browser, server, table):
    health = httpx.get(f"{server.url}/api/health", timeout=60).json()
    assert health["neighbors"] == NEIGHBORS
    with page_session(browser, server.url) as ui:
        ui.page.goto(f"{server.url}/#method=pca&sample={table['sample_ids'][0]}")
        tiles = ui.page.locator(".side-card .detail .neighbors .tile")
        expect(tiles).to_have_count(NEIGHBORS, timeout=BUSY_TIMEOUT)
        assert ui.errors == []
