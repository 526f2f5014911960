"""An upload routed again (a block forced, back to its own path) is named by the id the
server holds it under, not sent and decoded again; once the server has forgotten it,
the page sends it again. On an untrained model: no training needed."""

import httpx
import pytest
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import digit_on_paper, save_untrained_run, wait_for_result
from tests.browser_support import BUSY_TIMEOUT, LiveServer, page_session, png_file

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("held-upload") / "runs"
    save_untrained_run(runs / "digits")
    settings = Settings(runs_dir=runs, cache_dir=tmp_path_factory.mktemp("cache"), warmup=False)
    with LiveServer(create_app(settings)) as live:
        # The page's map (UMAP) computed first: an upload routed while it is computed is
        # routed once more when it is ready, to be placed on it, which these tests would
        # count as one more routing than the blocks forced.
        with httpx.Client(base_url=live.url, timeout=60) as client:
            umap = wait_for_result(client, "/api/models/digits/embeddings/umap")[1]
            assert umap.status_code == 200, umap.text
        yield live


def routing_requests(page) -> list[str]:
    """Every upload routing the page asks for, as METHOD and path."""
    seen = []
    page.on(
        "request",
        lambda r: seen.append(f"{r.method} {r.url.split('?')[0]}") if "route" in r.url else None,
    )
    return seen


def force_first_executed_block(page):
    card = page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    own = card.locator(".result-main .pathdiagram").get_attribute("data-path")
    block = own.index("1")
    forced = own[:block] + "0" + own[block + 1 :]
    card.locator(f".result-main button.pd-block[data-index='{block}']").click()
    box = card.locator(".intervention")
    expect(box).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    expect(box).to_have_attribute("data-path", forced)
    return card, own


@pytest.mark.parametrize("forgotten", [False, True])
def test_a_forced_block_routes_the_held_upload_without_sending_it(
    browser, server, tmp_path, forgotten
):
    upload = png_file(tmp_path, digit_on_paper(8)[0], "eight.png")
    with page_session(browser, server.url) as ui:
        if forgotten:  # as if the server had restarted: every held id is unknown
            ui.page.route(
                "**/uploads/*/route*",
                lambda route: route.fulfill(
                    status=404, json={"detail": "no upload is held: post the image again"}
                ),
            )
        requests = routing_requests(ui.page)
        ui.page.goto(f"{server.url}/#tab=upload")
        # The page listens for a file once it has its models.
        ui.page.wait_for_selector("#models-body tr[data-model]", timeout=BUSY_TIMEOUT)
        ui.page.set_input_files("#file-input", str(upload))
        card, own = force_first_executed_block(ui.page)
        card.locator(".intervention .iv-reset").click()
        expect(card.locator(".intervention")).to_have_count(0)
        expect(card.locator(".result-main .pathdiagram")).to_have_attribute("data-path", own)
        posts = [r for r in requests if r.startswith("POST")]
        held = [r for r in requests if r.startswith("GET") and "/uploads/" in r]
        assert len(held) == 2  # the forced block, then back to its own path
        assert len(posts) == (3 if forgotten else 1), requests
        # The browser logs each 404 it was answered; the page itself reports nothing.
        refused = "Failed to load resource: the server responded with a status of 404"
        assert [e for e in ui.errors if not e.startswith(refused)] == []
        assert len(ui.errors) == (2 if forgotten else 0)
