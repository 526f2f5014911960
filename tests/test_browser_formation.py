"""The Formation tab as a researcher uses it: play a run's recorded epochs, step through
them, compare two runs in step, pick an image to see its path per epoch; and a run whose
paths were not recorded."""

import shutil

import httpx
import pytest
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import FORMATION_EPOCHS, save_untrained_run, wait_for_result
from tests.browser_support import BUSY_TIMEOUT, LiveServer, page_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MAP = ".formation-run[data-model='{}'] .formation-map"
# Each probe image's drawn position: {sample index: [x, y]} from the map's traces.
POSITIONS = """(selector) => {
  const gd = document.querySelector(selector);
  const out = {};
  gd.data.forEach((t) => t.customdata.forEach((i, k) => { out[i] = [t.x[k], t.y[k]]; }));
  return out;
}"""
SET_EPOCH = """(index) => {
  const slider = document.getElementById('formation-epoch');
  slider.value = String(index);
  slider.dispatchEvent(new Event('input'));
}"""


@pytest.fixture(scope="module")
def server(untrained_runs, tmp_path_factory):
    runs = tmp_path_factory.mktemp("formation-page") / "runs"
    shutil.copytree(untrained_runs / "digits", runs / "codinet")
    save_untrained_run(runs / "other", seed=1)
    (runs / "unrecorded").mkdir()
    shutil.copy(untrained_runs / "digits" / "checkpoint.pt", runs / "unrecorded")
    settings = Settings(runs_dir=runs, cache_dir=tmp_path_factory.mktemp("cache"), warmup=False)
    with LiveServer(create_app(settings)) as live:
        yield live


@pytest.fixture
def ui(browser, server):
    with page_session(browser, server.url) as session:
        yield session


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def formation(api, model: str) -> dict:
    return wait_for_result(api, f"/api/models/{model}/formation?method=pca")[1].json()


def open_tab(ui, fragment: str, *models: str):
    """Open the tab on ``fragment`` and wait until the maps of ``models`` are drawn."""
    ui.page.goto(f"{ui.base}/#{fragment}&tab=formation&method=pca")
    for model in models:
        map_ = ui.page.locator(MAP.format(model))
        expect(map_).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)


def test_a_point_moves_exactly_when_its_images_path_changes(ui, api):
    data = formation(api, "codinet")
    open_tab(ui, "model=codinet", "codinet")
    selector = MAP.format("codinet")
    epochs = data["epochs"]
    assert len(epochs) == FORMATION_EPOCHS
    before = None
    for e, epoch in enumerate(epochs):
        ui.page.evaluate(SET_EPOCH, e)
        expect(ui.page.locator(selector)).to_have_attribute("data-epoch", str(epoch))
        expect(ui.page.locator("#formation-epoch-label")).to_have_text(
            f"epoch {epoch} of {epochs[-1]}"
        )
        now = ui.page.evaluate(POSITIONS, selector)
        assert len(now) == len(data["sample_ids"])
        if before is not None:
            ids, previous = data["path_ids"][e], data["path_ids"][e - 1]
            moved = {int(i) for i in now if now[i] != before[i]}
            changed = {i for i in range(len(ids)) if ids[i] != previous[i]}
            assert changed and moved == changed, epoch
        before = now
    assert ui.errors == []


def test_play_runs_to_the_last_epoch_and_stops(ui, api):
    data = formation(api, "codinet")
    open_tab(ui, "model=codinet", "codinet")
    ui.page.evaluate(SET_EPOCH, 0)
    ui.page.click("#formation-play")
    expect(ui.page.locator("#formation-play")).to_have_text("Pause")
    last = str(data["epochs"][-1])
    expect(ui.page.locator(MAP.format("codinet"))).to_have_attribute("data-epoch", last)
    expect(ui.page.locator("#formation-play")).to_have_text("Play")
    note = ui.page.locator(".formation-run .formation-epoch-note")
    expect(note).to_contain_text(f"Epoch {last}:")
    expect(ui.page.locator(".formation-settled")).to_have_text(
        f"90% of images keep their path from epoch {data['settled_90_epoch']}"
    )
    assert ui.errors == []


def test_play_skips_the_epochs_it_cannot_draw_in_time(ui, api):
    """Drawing an epoch slowed to 1 s, past the 450 ms step: the play keeps its pace by
    showing fewer epochs, not every epoch late."""
    data = formation(api, "codinet")
    open_tab(ui, "model=codinet", "codinet")
    ui.page.evaluate(SET_EPOCH, 0)
    ui.page.evaluate(
        """() => {
          const restyle = window.Plotly.restyle;
          window.Plotly.restyle = (...args) => {
            const until = performance.now() + 1000;
            while (performance.now() < until);
            return restyle(...args);
          };
          window.shown = [];
          const label = document.getElementById('formation-epoch-label');
          new MutationObserver(() => window.shown.push(label.textContent))
            .observe(label, { childList: true, characterData: true, subtree: true });
        }"""
    )
    ui.page.click("#formation-play")
    expect(ui.page.locator("#formation-play")).to_have_text("Play", timeout=20_000)
    shown = ui.page.evaluate("() => window.shown")
    epochs = data["epochs"]
    assert shown[-1] == f"epoch {epochs[-1]} of {epochs[-1]}"
    assert len(set(shown)) < len(epochs), shown  # some epoch skipped
    assert ui.errors == []


def test_two_runs_compared_play_in_step(ui):
    open_tab(ui, "model=codinet&compare=other", "codinet", "other")
    maps = [MAP.format("codinet"), MAP.format("other")]
    for index in (0, 2, FORMATION_EPOCHS - 1):
        ui.page.evaluate(SET_EPOCH, index)
        for selector in maps:
            expect(ui.page.locator(selector)).to_have_attribute("data-epoch", str(index + 1))
    assert ui.errors == []


def test_a_clicked_image_shows_its_path_at_every_epoch(ui, api):
    data = formation(api, "codinet")
    open_tab(ui, "model=codinet", "codinet")
    selector = MAP.format("codinet")
    x, y, index = ui.page.evaluate(
        """(selector) => {
          const gd = document.querySelector(selector);
          const t = gd._fullData[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          const box = gd.getBoundingClientRect();
          return [box.left + xa._offset + xa.d2p(t.x[0]), box.top + ya._offset + ya.d2p(t.y[0]),
                  t.customdata[0]];
        }""",
        selector,
    )
    ui.page.mouse.click(x, y)
    raster = ui.page.locator(".formation-run .formation-raster")
    expect(raster).to_have_attribute("data-sample", str(data["sample_ids"][index]))
    z = ui.page.evaluate("(s) => document.querySelector(s).data[0].z", ".formation-raster")
    expected = [[int(bit) for bit in data["paths"][ids[index]]] for ids in data["path_ids"]]
    assert z == expected
    text = ui.page.locator(".formation-picked-text")
    expect(text).to_contain_text(f"from epoch {data['settle_epochs'][index]}")
    assert ui.errors == []


def test_a_run_without_recordings_says_how_to_record_them(ui):
    open_tab(ui, "model=codinet&compare=unrecorded", "codinet")
    missing = ui.page.locator(".formation-missing[data-model='unrecorded']")
    expect(missing).to_contain_text("no recorded formation", timeout=BUSY_TIMEOUT)
    expect(missing).to_contain_text("--no-formation")
    expect(ui.page.locator(MAP.format("codinet"))).to_have_attribute("data-state", "ready")
