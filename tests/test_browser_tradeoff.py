"""The trade-off card of a sweep's runs (Per-class tab): each variant at its mean over
seeds, as /api/groups gives them, the front's variants filled, the shown run ringed."""

import httpx
import pytest
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import save_untrained_run
from tests.browser_support import BUSY_TIMEOUT, LiveServer, page_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUNS = {"wcon0-s0": 0, "wcon0-s1": 1, "wcon1-s0": 2, "wcon1-s1": 3, "no-codi-s0": 4}
PANEL = """(selector) => document.querySelector(selector).data.map((t) => ({
  x: t.x, y: t.y, text: t.text, color: t.marker.color, line: t.marker.line.color}))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("sweep-page") / "runs"
    for name, seed in RUNS.items():  # untrained: seeds give each run its own figures
        save_untrained_run(runs / "sweep" / name, seed=seed)
    save_untrained_run(runs / "solo", seed=5)  # a run of no sweep
    settings = Settings(runs_dir=runs, cache_dir=tmp_path_factory.mktemp("cache"), warmup=False)
    with LiveServer(create_app(settings)) as live:
        yield live


def test_each_variant_is_drawn_at_its_means_the_front_filled(browser, server):
    (group,) = httpx.get(f"{server.url}/api/groups", timeout=60).json()
    assert set(group["variants"]) == {"wcon0", "wcon1", "no-codi"} and group["front"]
    with page_session(browser, server.url) as ui:
        ui.page.goto(f"{server.url}/#model=sweep.wcon1-s0&tab=classes")
        chart = ui.page.locator(".tradeoff-chart")
        expect(chart).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
        panels = ui.page.evaluate(PANEL, ".tradeoff-chart")
        assert len(panels) == 3  # view ratio, linear probe, neighbour agreement
        measures = ("view_ratio", "probe_accuracy", "neighbor_agreement")
        for panel, measure in zip(panels, measures, strict=True):
            drawn = (panel[k] for k in ("text", "x", "y", "color", "line"))
            for variant, x, y, color, line in zip(*drawn, strict=True):
                stats = group["variants"][variant]
                assert x == pytest.approx(stats[measure]["mean"])
                assert y == pytest.approx(stats["accuracy"]["mean"])
                filled = color != "#ffffff"
                assert filled == (variant in group["front"]), variant
                assert (line == "#e15759") == (variant == "wcon1"), variant
        expect(ui.page.locator(".tradeoff h3")).to_have_text("Trade-off over the runs of sweep")
        assert ui.errors == []


def test_a_model_outside_any_group_has_no_trade_off(browser, server):
    with page_session(browser, server.url) as ui:
        ui.page.goto(f"{server.url}/#model=solo&tab=classes")
        ui.page.wait_for_selector("#classes-grid .js-plotly-plot", timeout=BUSY_TIMEOUT)
        expect(ui.page.locator("#tradeoff")).to_be_hidden()
        assert ui.errors == []
