"""The dashboard in headless Chromium against a live server (digits trained in the session).

Debian's Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) drives the page through
Playwright; a missing browser fails the tests with the command that installs it.
"""

import base64
import json
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import digit_on_paper, encode, wait_for_result
from tests.browser_support import (
    LARGEST_MARKER,
    MARKER_POSITION,
    LiveServer,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODEL = "digits"
OTHER = "digits-b"
METHODS = ("umap", "tsne", "pca")
BUSY_TIMEOUT = 90_000  # ms: the first UMAP compiles numba code

# What the scatter drew: markers per sample trace and the names of the extra traces.
DRAWN = """(selector) => {
  const gd = document.querySelector(selector);
  const samples = gd.data.filter(t => t.hoverinfo !== 'skip');
  return {
    traces: samples.length,
    legend: samples.filter(t => t.showlegend !== false).length,
    markers: samples.reduce((n, t) => n + t.x.length, 0),
    types: [...new Set(gd.data.map(t => t.type))],
    extra: gd.data.filter(t => t.hoverinfo === 'skip')
      .map(t => ({name: t.name, x: t.x[0], y: t.y[0]})),
    legendonly: gd._fullData.filter(t => t.visible === 'legendonly').length,
  };
}"""

# The width of a map's x range.
X_RANGE_WIDTH = """(selector) => {
  const range = document.querySelector(selector)._fullLayout.xaxis.range;
  return range[1] - range[0];
}"""

# -- the live server and the browser ---------------------------------------------------


@pytest.fixture(scope="module")
def server(digits_runs, tmp_path_factory):
    """Two checkpoints (the session's digits model under two names) served live."""
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


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@dataclass
class UI:
    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.base}/{'#' + fragment if fragment else ''}")

    def scatter(self, index: int = 0, **attributes) -> str:
        """Wait until scatter `index` is drawn with the given data attributes."""
        selector = f"#scatter-{index}[data-state=ready]" + "".join(
            f"[data-{name}={value!r}]" for name, value in attributes.items()
        )
        self.page.wait_for_selector(selector, timeout=BUSY_TIMEOUT)
        return f"#scatter-{index}"

    def hover_largest_marker(self, selector: str) -> tuple[float, float]:
        """Move the mouse onto the map's largest marker, from a little away; returns
        where the marker is on the page."""
        trace, point = self.page.evaluate(LARGEST_MARKER, selector)
        x, y = self.page.evaluate(MARKER_POSITION, [selector, trace, point])
        self.page.mouse.move(x - 40, y - 40)
        self.page.mouse.move(x, y, steps=5)
        return x, y

    def wheel_zooms_in(self, selector: str) -> None:
        """One wheel step up over the map's centre; waits until the x range narrowed."""
        before = self.page.evaluate(X_RANGE_WIDTH, selector)
        box = self.page.locator(selector).bounding_box()
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        # Plotly zooms by at most exp(-20/200) = 0.905 per wheel event, whatever its size.
        self.page.mouse.wheel(0, -600)
        self.page.wait_for_function(f"() => ({X_RANGE_WIDTH})('{selector}') < 0.95 * {before}")

    def settled(self) -> None:
        """Wait for the side panel to load, so nothing moves under the mouse."""
        self.page.wait_for_selector(".side-card .empty, .side-card .detail", timeout=BUSY_TIMEOUT)
        self.page.wait_for_timeout(300)


@contextmanager
def page_session(browser, base: str, device_scale_factor: float = 1):
    """A fresh 1280x800 page on ``base`` that records console and page errors."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, device_scale_factor=device_scale_factor
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    session = UI(page, base)
    page.on("console", lambda m: m.type == "error" and session.errors.append(m.text))
    page.on("pageerror", lambda error: session.errors.append(f"page error: {error}"))
    try:
        yield session
    finally:
        context.close()


@pytest.fixture
def ui(browser, server):
    with page_session(browser, server.url) as session:
        yield session


def embedding(api, method: str, model: str = MODEL) -> dict:
    _, response = wait_for_result(api, f"/api/models/{model}/embeddings/{method}")
    return response.json()


def expected_markers(emb: dict, mode: str) -> int:
    """Distinct (path, colour group) pairs: the markers the scatter must draw."""
    ids, labels, preds = emb["path_ids"], emb["labels"], emb["predictions"]
    groups = {
        "label": labels,
        "prediction": preds,
        "correct": [a == b for a, b in zip(labels, preds, strict=True)],
        "cost": [emb["paths"][p].count("1") for p in ids],
    }[mode]
    return len(set(zip(ids, groups, strict=True)))


def png_file(tmp_path, image: Image.Image, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(encode(image, "PNG"))
    return path


# -- tests -----------------------------------------------------------------------------


def test_page_loads_without_console_errors(ui, api):
    ui.open()
    expect(ui.page).to_have_title("CoDiNet routing-space explorer")
    rows = ui.page.locator("#models-body tr[data-model]")
    expect(rows).to_have_count(2)
    model = next(m for m in api.get("/api/models").json() if m["id"] == MODEL)
    first = rows.nth(0)
    expect(first).to_contain_text(MODEL)
    expect(first).to_contain_text("digits")
    expect(first).to_contain_text("ResNet-20")
    expect(first).to_contain_text(f"{model['metrics']['accuracy'] * 100:.1f}%")
    expect(first).to_contain_text(f"of {model['num_gates']}")
    expect(first.locator("input[type=radio]")).to_be_checked()
    ui.scatter(0, method="umap")
    ui.settled()
    expect(ui.page.locator(".plot-foot").first).to_have_text(re.compile(r"^\d+ samples · "))
    expect(ui.page.locator("#server-status")).to_contain_text("server ok")
    assert ui.errors == []


def test_scatter_markers_for_each_method_and_colour(ui, api):
    ui.open()
    for method in METHODS:
        ui.page.click(f"#method-switch button[data-value={method}]")
        selector = ui.scatter(0, method=method, color="label")
        emb = embedding(api, method)
        plot = ui.page.locator(selector)
        want = expected_markers(emb, "label")
        assert plot.get_attribute("data-markers") == str(want), method
        assert plot.get_attribute("data-paths") == str(len(emb["paths"]))
        assert plot.get_attribute("data-samples") == str(len(emb["sample_ids"]))
        drawn = ui.page.evaluate(DRAWN, selector)
        assert drawn["markers"] == want and drawn["types"] == ["scattergl"]
        assert drawn["legend"] == len(set(emb["labels"]))  # one legend entry per class
        assert drawn["traces"] >= drawn["legend"]  # each class drawn in layers
        assert want < len(emb["sample_ids"])  # duplicate paths are drawn once
    emb = embedding(api, "pca")
    for mode in ("prediction", "correct", "cost", "label"):
        ui.page.click(f"#color-switch button[data-value={mode}]")
        selector = ui.scatter(0, method="pca", color=mode)
        assert ui.page.locator(selector).get_attribute("data-markers") == str(
            expected_markers(emb, mode)
        ), mode
        assert ui.page.evaluate(DRAWN, selector)["markers"] == expected_markers(emb, mode)
    # The legend hides a class.
    ui.page.locator("#scatter-0 .legend .traces").first.click()
    ui.page.wait_for_function(
        "() => document.querySelector('#scatter-0')._fullData[0].visible === 'legendonly'"
    )
    assert ui.errors == []


def test_hover_shows_thumbnails(ui, api):
    ui.open()
    selector = ui.scatter(0)
    ui.settled()
    card = ui.page.locator("#hover-card")
    expect(card).to_be_hidden()
    ui.hover_largest_marker(selector)
    expect(card).to_be_visible()
    images = card.locator("img")
    assert images.count() >= 1
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('#hover-card img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    paths = set(embedding(api, "umap")["paths"])
    assert card.locator("code").inner_text() in paths
    expect(card).to_contain_text("→")  # label -> prediction under each image
    ui.page.mouse.move(5, 5)
    expect(card).to_be_hidden()
    assert ui.errors == []


def test_the_mouse_wheel_zooms_the_map_around_the_pointer(ui):
    ui.open()
    selector = ui.scatter(0)
    ui.settled()
    ui.wheel_zooms_in(selector)
    assert ui.errors == []


# Counts the clears of the map's WebGL canvas: Plotly clears it once per redraw.
COUNT_WEBGL_REDRAWS = """() => {
  window.webglRedraws = 0;
  for (const Context of [WebGLRenderingContext, WebGL2RenderingContext]) {
    const clear = Context.prototype.clear;
    Context.prototype.clear = function (...args) {
      if (this.canvas.classList.contains('gl-canvas-context')) window.webglRedraws += 1;
      return clear.apply(this, args);
    };
  }
}"""

# The data coordinates under a page position, from the map's axes.
DATA_AT = """([selector, x, y]) => {
  const gd = document.querySelector(selector);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return [xa.p2d(x - box.left - xa._offset), ya.p2d(y - box.top - ya._offset)];
}"""


def test_a_wheel_gesture_scales_the_drawn_map_and_redraws_it_once_when_the_wheel_rests(ui):
    # Plotly's own wheel zoom redraws every marker at each wheel event and twice more
    # when the wheel stops: on a 60,000-sample map in a software renderer each redraw
    # takes a tenth of a second. The map is scaled while the wheel turns instead.
    ui.page.add_init_script(f"({COUNT_WEBGL_REDRAWS})()")
    ui.open()
    selector = ui.scatter(0)
    ui.settled()
    box = ui.page.locator(selector).bounding_box()
    # Off the centre, so that a zoom about the wrong point shows.
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6
    ui.page.mouse.move(x, y)
    under_pointer = ui.page.evaluate(DATA_AT, [selector, x, y])
    before = ui.page.evaluate(X_RANGE_WIDTH, selector)
    redraws = ui.page.evaluate("() => window.webglRedraws")
    for _ in range(3):
        ui.page.mouse.wheel(0, -120)
    # While the wheel turns the drawn map is scaled, not redrawn.
    transform = ui.page.evaluate(
        f"() => document.querySelector('{selector} canvas.gl-canvas-context').style.transform"
    )
    assert "scale" in transform
    ui.page.wait_for_function(f"() => ({X_RANGE_WIDTH})('{selector}') < 0.8 * {before}")
    ui.page.wait_for_timeout(500)  # no later redraw either
    assert ui.page.evaluate("() => window.webglRedraws") - redraws == 1
    transforms = ui.page.evaluate(
        f"""() => [...document.querySelectorAll('{selector} canvas')]
          .map(c => c.style.transform + c.style.clipPath)"""
    )
    assert set(transforms) == {""}  # redrawn at the new ranges, no longer scaled
    # Three steps of exp(-20/200) each, about the pointer: what was under it still is.
    width = ui.page.evaluate(X_RANGE_WIDTH, selector)
    assert width == pytest.approx(before * 0.905**3, rel=0.01)
    after = ui.page.evaluate(DATA_AT, [selector, x, y])
    assert after == pytest.approx(under_pointer, abs=0.002 * before)
    assert ui.errors == []


@pytest.mark.parametrize("scale", [1, 2])
def test_the_map_draws_its_webgl_at_the_screens_pixel_ratio(browser, server, scale):
    # Plotly draws WebGL at twice the CSS size by default: on a screen of ratio 1 that
    # is four times the pixels the screen shows, and it halves the zoom's frame rate.
    with page_session(browser, server.url, device_scale_factor=scale) as ui:
        ui.open()
        selector = ui.scatter(0)
        sizes = ui.page.evaluate(
            """(selector) => { const gd = document.querySelector(selector);
              return [...gd.querySelectorAll('canvas.gl-canvas')].map(c =>
                [c.width, c.height, gd._fullLayout.width, gd._fullLayout.height]); }""",
            selector,
        )
        assert ui.errors == []
    assert sizes, "the map has no WebGL canvas"
    for width, height, css_width, css_height in sizes:
        assert (width, height) == (css_width * scale, css_height * scale)


def open_largest_marker(ui):
    """Hover, then click, the map's largest marker; returns the detail panel and its
    sample id."""
    selector = ui.scatter(0)
    ui.settled()
    x, y = ui.hover_largest_marker(selector)
    expect(ui.page.locator("#hover-card")).to_be_visible()
    ui.page.mouse.click(x, y)
    detail = ui.page.locator(".side-card .detail")
    expect(detail).to_be_visible()
    return detail, int(detail.get_attribute("data-sample"))


def test_click_opens_detail_with_path_diagram(ui, api):
    ui.open()
    detail, sample_id = open_largest_marker(ui)
    selector = "#scatter-0"
    table = api.get(f"/api/models/{MODEL}/paths").json()
    path = table["paths"][table["sample_ids"].index(sample_id)]
    model = api.get(f"/api/models/{MODEL}").json()
    diagram = detail.locator(".pathdiagram").first
    assert diagram.get_attribute("data-path") == path
    assert diagram.locator(".pd-block").count() == model["num_gates"]
    assert diagram.locator(".pd-stage").count() == len(model["stage_blocks"])
    executed = diagram.locator(".pd-block.on")
    assert executed.count() == path.count("1")
    states = diagram.locator(".pd-block").evaluate_all("blocks => blocks.map(b => b.dataset.state)")
    assert states == ["executed" if bit == "1" else "skipped" for bit in path]
    expect(diagram.locator(".pd-legend")).to_contain_text("executed")
    expect(diagram.locator(".pd-legend")).to_contain_text("skipped")
    # Nearest neighbours by Hamming distance, with thumbnails that load.
    tiles = detail.locator(".neighbors .tile")
    expect(tiles).to_have_count(8)
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('.detail .neighbors img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    distances = [int(t.split()[1]) for t in tiles.locator(".tile-caption").all_inner_texts()]
    assert distances == sorted(distances)
    # Images on its own path are said to share it, not listed as its nearest neighbours.
    assert min(distances) >= 1
    sharing = table["paths"].count(path) - 1
    note = detail.locator(".same-path-note")
    expect(note).to_contain_text(f"{sharing} other image" if sharing else "No other image")
    # The clicked sample is circled on the map.
    extra = ui.page.evaluate(DRAWN, selector)["extra"]
    assert [e["name"] for e in extra][-1] == "Clicked sample"  # over its views' lines
    # A neighbour opens its own detail.
    tiles.nth(3).click()
    expect(detail).not_to_have_attribute("data-sample", str(sample_id))
    assert ui.errors == []


def flipped(path: str, block: int) -> str:
    return path[:block] + ("0" if path[block] == "1" else "1") + path[block + 1 :]


def most_telling_flip(api, url: str, own: dict) -> tuple[int, dict]:
    """The block whose flip changes the prediction (else lowers its probability most),
    with the server's forced result."""
    results = []
    for block in range(len(own["path"])):
        forced = api.get(url, params={"force_path": flipped(own["path"], block)}).json()
        changed = forced["prediction"] != own["prediction"]
        results.append((not changed, forced["probabilities"][own["prediction"]], block, forced))
    _, _, block, forced = min(results, key=lambda r: r[:3])
    return block, forced


def test_toggling_a_block_reroutes_the_sample_and_reset_restores_it(ui, api):
    embedding(api, "umap")  # so the forced path has a place on the map
    ui.open()
    detail, sample_id = open_largest_marker(ui)
    url = f"/api/models/{MODEL}/samples/{sample_id}/route"
    own = api.get(url).json()
    block, forced = most_telling_flip(api, url, own)
    diagram = detail.locator(".pathdiagram").first
    expect(diagram).to_have_attribute("data-path", own["path"])
    diagram.locator(f"button.pd-block[data-index='{block}']").click()

    box = detail.locator(".intervention")
    expect(box).to_have_attribute("data-state", "ready")
    expect(box).to_have_attribute("data-path", forced["path"])
    expect(box).to_have_attribute("data-prediction", str(forced["prediction"]))
    changed = forced["prediction"] != own["prediction"]
    expect(box).to_have_attribute("data-changed", "1" if changed else "0")
    rows = box.locator(".iv-table tbody tr")
    # One format for a prediction, here and in the panel's header: "6 · 99.9%".
    own_p = own["probabilities"][own["prediction"]]
    expect(rows.nth(0)).to_contain_text(f"{own['class_name']} · {100 * own_p:.1f}%")
    header = detail.locator(".stat", has_text="Predicted")
    expect(header).to_contain_text(re.compile(rf"{own['class_name']} · \d+\.\d%"))
    expect(rows.nth(0)).to_contain_text(f"{own['executed_blocks']} of {len(own['path'])}")
    expect(rows.nth(1)).to_contain_text(f"{forced['class_name']} · ")
    expect(rows.nth(1)).to_contain_text(f"{forced['executed_blocks']} of {len(own['path'])}")
    # The diagram shows the forced path, the flipped block outlined.
    expect(diagram).to_have_attribute("data-path", forced["path"])
    expect(diagram.locator(".pd-block.differs")).to_have_count(1)
    expect(diagram.locator(f".pd-block[data-index='{block}']")).to_have_class(re.compile("differs"))
    # The comparison is in view without scrolling the panel.
    assert box.evaluate(
        "b => { const r = b.getBoundingClientRect(), p = b.closest('.side-body')"
        ".getBoundingClientRect(); return r.top >= p.top && r.top < p.bottom; }"
    )
    # A star where the forced path lands on the map.
    selector = ui.scatter(0, forced="1")
    placed = forced["embedding"]["umap"]
    assert ui.page.evaluate(DRAWN, selector)["extra"][-1] == {
        "name": f"#{sample_id}, forced",
        "x": placed["x"],
        "y": placed["y"],
    }

    box.locator(".iv-reset").click()
    expect(detail.locator(".intervention")).to_have_count(0)
    expect(diagram).to_have_attribute("data-path", own["path"])
    ui.scatter(0, forced="0")
    assert ui.errors == []


PLOT_AREA = """(selector) => {
  const l = document.querySelector(selector)._fullLayout;
  return [l.xaxis._offset, l.xaxis._length, l.yaxis._offset, l.yaxis._length];
}"""


def test_the_plot_area_holds_still_when_the_legend_changes(ui, api):
    """Forcing a block adds the forced path's star to the legend, and the colouring
    changes its entries; the markers must not move (the legend has a fixed place)."""
    embedding(api, "umap")
    ui.open()
    detail, sample_id = open_largest_marker(ui)
    selector = ui.scatter(0)
    before = ui.page.evaluate(PLOT_AREA, selector)
    url = f"/api/models/{MODEL}/samples/{sample_id}/route"
    block, _ = most_telling_flip(api, url, api.get(url).json())
    detail.locator(f".pathdiagram button.pd-block[data-index='{block}']").first.click()
    ui.scatter(0, forced="1")
    assert ui.page.evaluate(PLOT_AREA, selector) == before
    for mode in ("cost", "correct", "prediction"):
        ui.page.click(f"#color-switch button[data-value={mode}]")
        ui.scatter(0, color=mode)
        assert ui.page.evaluate(PLOT_AREA, selector) == before, mode
    assert ui.errors == []


def test_the_neighbour_sections_follow_a_forced_path(ui, api):
    """After forcing, "same path" and the nearest images and paths describe the forced
    path, not the image's own; the count says so once."""
    ui.open()
    detail, sample_id = open_largest_marker(ui)
    url = f"/api/models/{MODEL}/samples/{sample_id}/route"
    own = api.get(url).json()
    block, forced = most_telling_flip(api, url, own)
    table = api.get(f"/api/models/{MODEL}/paths").json()
    on_forced = sum(p == forced["path"] for p in table["paths"])
    on_own = sum(p == own["path"] for p in table["paths"])
    heads = detail.locator("h4")
    expect(heads.filter(has_text="Same path")).to_contain_text(f"{on_own} image")
    detail.locator(f".pathdiagram button.pd-block[data-index='{block}']").first.click()
    expect(detail.locator(".intervention")).to_have_attribute("data-state", "ready")
    head = heads.filter(has_text="On the forced path")
    expect(head).to_contain_text(f"{on_forced} image" if on_forced != 1 else "1 image")
    expect(detail.locator(".strip .strip-item")).to_have_count(min(on_forced, 10))
    note = detail.locator(".same-path-note")
    expect(note).to_contain_text("the forced path")
    # Said once: no second "no other image" line under the note.
    expect(detail.get_by_text(re.compile("No other image"))).to_have_count(0 if on_forced else 1)
    # The nearest images are nearest to the forced path.
    expect(heads.filter(has_text="Nearest images to the forced path")).to_have_count(1)
    distances = [
        int(t.split()[1]) for t in detail.locator(".neighbors .tile-caption").all_inner_texts()
    ]
    nearest = sorted(
        sum(a != b for a, b in zip(p, forced["path"], strict=True))
        for p, i in zip(table["paths"], table["sample_ids"], strict=True)
        if p != forced["path"] and i != sample_id
    )
    assert distances == nearest[: len(distances)]
    assert ui.errors == []


def test_toggling_a_block_of_an_upload_reroutes_it(ui, api, tmp_path):
    digit, _ = digit_on_paper(8)
    upload = png_file(tmp_path, digit, "eight.png")
    own = api.post(f"/api/models/{MODEL}/route", files={"file": upload.open("rb")}).json()
    block = own["path"].index("1")
    forced = api.post(
        f"/api/models/{MODEL}/route",
        files={"file": upload.open("rb")},
        data={"force_path": flipped(own["path"], block)},
    ).json()
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(upload))
    card = ui.page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    card.locator(f".result-main button.pd-block[data-index='{block}']").click()
    box = card.locator(".intervention")
    expect(box).to_have_attribute("data-state", "ready")
    expect(box).to_have_attribute("data-path", forced["path"])
    expect(card.locator(".prediction-value")).to_have_text(forced["class_name"])
    expect(card.locator(".stats")).to_contain_text(f"{forced['executed_blocks']} of")
    expect(box.locator(".iv-table tbody tr").nth(0)).to_contain_text(own["class_name"])
    box.locator(".iv-reset").click()
    expect(card.locator(".intervention")).to_have_count(0)
    expect(card.locator(".result-main .pathdiagram")).to_have_attribute("data-path", own["path"])
    assert ui.errors == []


def download_csv(ui, button) -> list[dict]:
    """Click a CSV button; the downloaded file's rows as dicts."""
    import csv
    import io

    with ui.page.expect_download() as download:
        button.click()
    text = Path(download.value.path()).read_text()
    return list(csv.DictReader(io.StringIO(text)))


def download_figure(ui, button) -> tuple[str, bytes]:
    """Click a PNG or SVG button; the file's suggested name and its bytes."""
    with ui.page.expect_download() as download:
        button.click()
    return download.value.suggested_filename, Path(download.value.path()).read_bytes()


def test_box_selection_summarises_samples(ui, api):
    ui.open()
    selector = ui.scatter(0)
    ui.settled()
    ui.page.click("#drag-switch button[data-value=select]")
    ui.scatter(0)
    box = ui.page.evaluate(
        """(selector) => {
          const gd = document.querySelector(selector), r = gd.getBoundingClientRect();
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          return [r.left + xa._offset, r.top + ya._offset, xa._length, ya._length];
        }""",
        selector,
    )
    left, top, width, height = box
    ui.page.mouse.move(left + 2, top + 2)
    ui.page.mouse.down()
    ui.page.mouse.move(left + width / 2, top + height / 2, steps=5)
    ui.page.mouse.move(left + width - 2, top + height - 2, steps=5)
    ui.page.mouse.up()
    summary = ui.page.locator(".side-card .selection")
    expect(summary).to_be_visible()
    n = len(api.get(f"/api/models/{MODEL}/paths").json()["sample_ids"])
    assert summary.get_attribute("data-count") == str(n)
    expect(summary.locator(".histogram li")).to_have_count(10)
    assert summary.locator(".path-list li").count() >= 1
    expect(summary).to_contain_text("Mean MACs")
    # The selection as CSV: one row per selected sample, as the paths table has it.
    table = api.get(f"/api/models/{MODEL}/paths").json()
    rows = download_csv(ui, summary.locator("[data-export=csv]"))
    assert len(rows) == n
    assert rows[0].keys() == {
        "sample_id", "label", "prediction", "path", "executed_blocks", "macs"
    }  # fmt: skip
    by_id = {int(r["sample_id"]): r for r in rows}
    for row, sample_id in enumerate(table["sample_ids"]):
        assert by_id[sample_id]["path"] == table["paths"][row]
        assert by_id[sample_id]["label"] == str(table["labels"][row])
        assert int(by_id[sample_id]["macs"]) == table["macs"][row]
    summary.locator("button", has_text="Clear").click()
    expect(ui.page.locator(".side-card .selection")).to_have_count(0)
    assert ui.errors == []


def test_second_map_links_the_selection(ui):
    """Two maps of one model side by side: a box drawn on one highlights the other."""
    ui.open("second=pca&drag=select")
    first = ui.scatter(0, method="umap")
    second = ui.scatter(1, method="pca")
    ui.settled()
    left, top, width, height = ui.page.evaluate(
        """(selector) => {
          const gd = document.querySelector(selector), r = gd.getBoundingClientRect();
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          return [r.left + xa._offset, r.top + ya._offset, xa._length, ya._length];
        }""",
        first,
    )
    ui.page.mouse.move(left + 2, top + 2)
    ui.page.mouse.down()
    ui.page.mouse.move(left + width * 0.5, top + height - 2, steps=8)
    ui.page.mouse.up()
    summary = ui.page.locator(".side-card .selection")
    expect(summary).to_be_visible()
    count = int(summary.get_attribute("data-count"))
    selected = ui.page.evaluate(
        """(selector) => document.querySelector(selector).data
          .filter(t => t.hoverinfo !== 'skip')
          .reduce((n, t) => n + (t.selectedpoints ? t.selectedpoints.length : 0), 0)""",
        second,
    )
    markers = int(ui.page.locator(second).get_attribute("data-markers"))
    samples = int(ui.page.locator(first).get_attribute("data-samples"))
    assert 0 < count < samples and 0 < selected < markers
    assert ui.errors == []


def test_upload_photo_and_digit(ui, api, tmp_path):
    from skimage import data as skimage_data

    embedding(api, "umap")  # computed, so uploads get a place on the UMAP map
    camera = png_file(tmp_path, Image.fromarray(skimage_data.camera()), "camera.png")
    expected = api.post(f"/api/models/{MODEL}/route", files={"file": camera.open("rb")}).json()
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(camera))
    card = ui.page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    expect(card.locator(".prediction-value")).to_have_text(expected["class_name"])
    diagram = card.locator(".result-main .pathdiagram")
    expect(diagram).to_have_attribute("data-path", expected["path"])
    expect(card.locator(".views .path-list li")).to_have_count(4)  # 4 augmented views
    expect(ui.page.locator("#prob-chart-0[data-state=ready]")).to_have_count(1)
    expect(card.locator(".placement-note")).to_have_attribute("data-placed", "1")
    expect(ui.page.locator("#upload-scatter-0[data-state=ready]")).to_have_count(1)
    # Its star on the routing-space map.
    ui.page.click("#tab-btn-routing")
    selector = ui.scatter(0, upload="1")
    star = ui.page.evaluate(DRAWN, selector)["extra"][-1]  # over its views' lines
    assert star == {
        "name": "Your image",
        "x": expected["embedding"]["umap"]["x"],
        "y": expected["embedding"]["umap"]["y"],
    }

    # A handwritten digit, dropped on the drop zone.
    digit, _ = digit_on_paper(3)
    png = encode(digit, "PNG")
    routed = api.post(f"/api/models/{MODEL}/route", files={"file": ("d.png", png)}).json()
    ui.page.click("#tab-btn-upload")
    ui.page.evaluate(
        """([b64, name]) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name, {type: 'image/png'}));
          document.querySelector('#dropzone').dispatchEvent(
            new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        [base64.b64encode(png).decode(), "digit.png"],
    )
    expect(ui.page.locator("#upload-file-name")).to_contain_text("digit.png")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    expect(card.locator(".prediction-value")).to_have_text(routed["class_name"])
    expect(diagram).to_have_attribute("data-path", routed["path"])
    expect(card).to_contain_text(f"{routed['macs'] / routed['full_macs'] * 100:.0f}% of full")
    expect(ui.page.locator("#drop-preview")).to_be_visible()
    assert ui.errors == []


# The legend groups of a map's sample traces that hold selected (highlighted) markers.
HIGHLIGHTED_GROUPS = """(selector) => [...new Set(document.querySelector(selector).data
  .filter(t => t.hoverinfo !== 'skip' && t.selectedpoints && t.selectedpoints.length)
  .map(t => t.legendgroup))].sort()"""


def box_select_all(ui, selector: str) -> None:
    """Drag a box over the whole plot area of the map (in Box mode)."""
    left, top, width, height = ui.page.evaluate(
        """(selector) => {
          const gd = document.querySelector(selector), r = gd.getBoundingClientRect();
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          return [r.left + xa._offset, r.top + ya._offset, xa._length, ya._length];
        }""",
        selector,
    )
    ui.page.mouse.move(left + 2, top + 2)
    ui.page.mouse.down()
    ui.page.mouse.move(left + width / 2, top + height / 2, steps=5)
    ui.page.mouse.move(left + width - 2, top + height - 2, steps=5)
    ui.page.mouse.up()


def test_a_class_hidden_through_the_legend_leaves_the_selection_summary(ui, api):
    """A class hidden with the legend is not on show: a box over the map must not count
    it, whether it was hidden before or after the box was drawn."""
    labels = api.get(f"/api/models/{MODEL}/paths").json()["labels"]
    ui.open("drag=select")
    selector = ui.scatter(0)
    ui.settled()
    box_select_all(ui, selector)
    summary = ui.page.locator(".side-card .selection")
    expect(summary).to_have_attribute("data-count", str(len(labels)))
    ui.page.locator("#scatter-0 .legend .traces").first.click()  # hides class 0
    zeros = labels.count(0)
    expect(summary).to_have_attribute("data-count", str(len(labels) - zeros))
    expect(summary.locator(".hidden-note")).to_contain_text(f"{zeros} samples of groups hidden")
    expect(summary.locator(".histogram li")).to_have_count(9)
    expect(ui.page.locator(".side-card .subtab[data-side=selection]")).to_have_text(
        f"Selection ({len(labels) - zeros})"
    )
    ui.page.locator("#scatter-0 .legend .traces").first.click()  # shows it again
    expect(summary).to_have_attribute("data-count", str(len(labels)))
    assert ui.errors == []


def test_at_1280_px_the_per_class_table_is_whole_and_upload_figures_hold_their_line(
    ui, api, tmp_path
):
    """The per-class table has no column behind a scroll bar, alone or compared; an
    upload's stats keep each figure on one line ("6.83 M of 10.1 M"), and its map has a
    legend."""
    overflow = """() => [...document.querySelectorAll('.table-card .table-wrap')]
      .map(w => w.scrollWidth - w.clientWidth)"""
    ui.open(f"model={MODEL}&tab=classes")
    expect(ui.page.locator(".table-card .data-table")).to_have_count(1, timeout=BUSY_TIMEOUT)
    assert ui.page.evaluate(overflow) == [0]
    ui.open(f"model={MODEL}&compare={OTHER}&tab=classes")
    expect(ui.page.locator(".table-card .data-table")).to_have_count(2, timeout=BUSY_TIMEOUT)
    assert ui.page.evaluate(overflow) == [0, 0]

    embedding(api, "umap")  # computed, so the upload has a place on the map
    digit = png_file(tmp_path, digit_on_paper(2)[0], "digit.png")
    ui.page.set_input_files("#file-input", str(digit))
    cards = ui.page.locator(".result-card")
    expect(cards).to_have_count(2)
    for i in range(2):
        expect(cards.nth(i)).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    one_line = """(card) => [...card.querySelectorAll('.result-top .stat-value')].map(v =>
      v.getBoundingClientRect().height < 1.5 * parseFloat(getComputedStyle(v).lineHeight))"""
    for i in range(2):
        assert cards.nth(i).evaluate(one_line) == [True, True, True]
        expect(cards.nth(i).locator(".stat", has_text="MACs").first).to_contain_text(" of ")
    ui.page.wait_for_selector("#upload-scatter-0[data-state=ready]", timeout=BUSY_TIMEOUT)
    legend = ui.page.locator("#upload-scatter-0 .legend")
    expect(legend).to_contain_text("True class")
    expect(legend).to_contain_text("Your image")
    assert ui.errors == []


def test_find_a_sample_a_class_and_paths_on_every_map(ui, api):
    """The Find box: a class, a path pattern within k blocks and an exact path are
    highlighted on both maps and listed, every image paged; a sample number shows the
    sample; a query that finds nothing says so; Escape clears it."""
    table = api.get(f"/api/models/{MODEL}/paths").json()
    ui.open("second=pca")
    first = ui.scatter(0, method="umap")
    second = ui.scatter(1, method="pca")
    ui.settled()
    box = ui.page.locator("#find-input")
    summary = ui.page.locator(".side-card .selection")

    box.fill("class:3")
    box.press("Enter")
    threes = table["labels"].count(3)
    expect(summary).to_have_attribute("data-count", str(threes))
    expect(summary).to_contain_text("found: class 3")
    expect(ui.page.locator("#find-status")).to_have_text(f"{threes} images found.")
    for selector in (first, second):
        ui.page.wait_for_function(
            f"() => JSON.stringify(({HIGHLIGHTED_GROUPS})('{selector}')) === '[\"3\"]'"
        )

    # The most common path with its first block either way, within one block.
    paths = table["paths"]
    common = max(set(paths), key=paths.count)
    pattern = "?" + common[1:]
    near = [p for p in paths if sum(a != b for a, b in zip(pattern[1:], p[1:], strict=True)) <= 1]
    assert len(near) > 40  # more than a page
    box.fill(f"{pattern}~1")
    box.press("Enter")
    expect(summary).to_have_attribute("data-count", str(len(near)))
    expect(summary).to_contain_text(f"found: paths {pattern} within 1 block")
    strip = summary.locator(".paged-strip")
    expect(strip.locator(".strip-item")).to_have_count(40)
    expect(strip.locator(".pager-range")).to_have_text(f"1–40 of {len(near)}")
    strip.locator("button", has_text="Next").click()
    expect(strip.locator(".pager-range")).to_have_text(f"41–{min(80, len(near))} of {len(near)}")
    expect(strip.locator(".strip-item")).to_have_count(min(40, len(near) - 40))

    box.fill(common)
    box.press("Enter")
    expect(summary).to_have_attribute("data-count", str(paths.count(common)))

    box.fill("#7")
    box.press("Enter")
    expect(ui.page.locator(".side-card .detail")).to_have_attribute("data-sample", "7")
    assert "sample=7" in ui.page.url
    # From the shown sample: every image on its path, not only the first ten.
    own = paths[table["sample_ids"].index(7)]
    if paths.count(own) > 11:
        ui.page.locator(".side-card .browse-path").click()
        expect(summary).to_have_attribute("data-count", str(paths.count(own)))

    box.fill("zebra")
    box.press("Enter")
    expect(ui.page.locator("#find-status")).to_have_class(re.compile("tone-bad"))
    expect(ui.page.locator("#find-status")).to_contain_text("No class, sample or path")
    box.fill("class:3")
    box.press("Enter")
    expect(summary).to_have_attribute("data-count", str(threes))
    box.press("Escape")
    expect(summary).to_have_count(0)
    assert ui.page.evaluate(HIGHLIGHTED_GROUPS, first) == []
    assert ui.errors == []


def test_a_samples_augmented_views_are_drawn_on_the_map_joined_to_it(ui, api, tmp_path):
    """A shown sample's augmented views: each view path's point on the map, joined to
    the sample's own point and labelled with its distance; listed in the side panel."""
    embedding(api, "umap")  # so the views have places on the map
    table = api.get(f"/api/models/{MODEL}/paths").json()
    for sample_id in table["sample_ids"][:40]:
        routed = api.get(
            f"/api/models/{MODEL}/samples/{sample_id}/route", params={"views": 8}
        ).json()
        if any(routed["views"]["distances"]):
            break
    views = routed["views"]
    ui.open(f"sample={sample_id}")
    selector = ui.scatter(0)
    detail = ui.page.locator(".side-card .detail")
    expect(detail.locator(".views .path-list li")).to_have_count(8)
    ui.page.wait_for_function(
        f"() => document.querySelector('{selector}').data.some(t => /views moved/.test(t.name))"
    )
    drawn = ui.page.evaluate(
        """(selector) => {
          const data = document.querySelector(selector).data;
          const pick = (test) => data.find(t => test(t.name));
          const views = pick(n => /views moved/.test(n)), links = pick(n => n === 'View links');
          const ring = pick(n => n === 'Clicked sample');
          return {name: views.name, x: views.x, y: views.y, text: views.text,
                  links: [links.x, links.y], ring: [ring.x[0], ring.y[0]]};
        }""",
        selector,
    )
    moved = {}
    for i, (path, distance) in enumerate(zip(views["paths"], views["distances"], strict=True)):
        if distance:
            moved.setdefault(path, []).append(i)
    count = sum(len(v) for v in moved.values())
    assert drawn["name"] == f"{count}/8 views moved"
    placed = views["embedding"]["umap"]
    expected = [
        (placed[i[0]]["x"], placed[i[0]]["y"], views["distances"][i[0]], len(i))
        for i in moved.values()
    ]
    points = sorted(zip(drawn["x"], drawn["y"], strict=True))
    assert [c for point in points for c in point] == pytest.approx(
        [c for x, y, _, _ in sorted(expected) for c in (x, y)]
    )
    assert sorted(drawn["text"]) == sorted(
        f"d {d}" + (f" ×{k}" if k > 1 else "") for _, _, d, k in expected
    )
    # Each line starts at the sample's own (ringed) point.
    starts = list(zip(drawn["links"][0][::3], drawn["links"][1][::3], strict=True))
    assert starts == [tuple(drawn["ring"])] * len(expected)
    ui.page.locator(".plot-card").first.screenshot(path=str(tmp_path / "views.png"))
    assert ui.errors == []


def test_the_density_layer_draws_each_groups_contours(ui):
    """Density on: each colour group's contour lines in its colour, hidden with the group
    through the legend; in the URL; off again removes them."""
    ui.open()
    selector = ui.scatter(0)
    ui.settled()
    ui.page.locator("#density-toggle").check()
    contours = f"""() => document.querySelector('{selector}')._fullData
      .filter(t => t.type === 'contour')
      .map(t => ({{group: t.legendgroup, visible: t.visible, color: t.colorscale[0][1]}}))"""
    ui.page.wait_for_function(f"() => ({contours})().length > 0")
    drawn = ui.page.evaluate(contours)
    colors = ui.page.evaluate(
        f"""() => Object.fromEntries(document.querySelector('{selector}')._fullData
          .filter(t => t.type === 'scattergl' && t.hoverinfo !== 'skip')
          .map(t => [t.legendgroup, t.marker.color]))"""
    )
    assert sorted(c["group"] for c in drawn) == sorted(colors)  # one per group
    assert all(c["color"] == colors[c["group"]] for c in drawn)
    assert "density=on" in ui.page.url
    ui.page.locator("#scatter-0 .legend .traces").first.click()  # hides group 0
    ui.page.wait_for_function(
        f"() => ({contours})().find(c => c.group === '0').visible === 'legendonly'"
    )
    ui.page.locator("#density-toggle").uncheck()
    ui.page.wait_for_function(f"() => ({contours})().length === 0")
    assert "density" not in ui.page.url
    assert ui.errors == []


def test_compare_shows_the_normalised_measures_beside_the_maps(ui, api):
    measures = [m for m in api.get("/api/measures").json() if m["normalised"]]
    overall = {m: api.get(f"/api/models/{m}/metrics").json()["overall"] for m in (MODEL, OTHER)}
    ui.open(f"model={MODEL}&compare={OTHER}")
    ui.scatter(1, model=OTHER)
    strip = ui.page.locator("#routing-measures .measures-strip")
    expect(strip.locator("tbody tr")).to_have_count(3, timeout=BUSY_TIMEOUT)
    heads = strip.locator("thead th").all_inner_texts()
    for measure in measures:
        assert any(measure["label"] in head for head in heads), measure["label"]
    rows = strip.locator("tbody tr")
    expect(rows.nth(0).locator("th")).to_have_text(MODEL)
    column = [i for i, h in enumerate(heads) if "View ratio" in h][0] - 1  # after "Model"
    for row, model in ((0, MODEL), (1, OTHER)):
        value = rows.nth(row).locator("td").nth(column)
        expect(value).to_have_text(f"{overall[model]['view_ratio']:.3f}")
    # Between the maps and the side panels, across both columns.
    maps = ui.page.locator(".plot-card").first.bounding_box()
    card = ui.page.locator("#routing-measures").bounding_box()
    side = ui.page.locator(".side-card").first.bounding_box()
    assert maps["y"] + maps["height"] <= card["y"] < side["y"]
    ui.page.locator(f"#models-body tr[data-model={OTHER}] input[type=checkbox]").uncheck()
    expect(ui.page.locator("#routing-measures")).to_have_count(0)
    assert ui.errors == []


def test_invalid_upload_shows_the_server_message(ui, api, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image at all\n")
    refused = api.post(f"/api/models/{MODEL}/route", files={"file": text.open("rb")})
    detail = refused.json()["detail"]
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(text))
    error = ui.page.locator(".result-card .upload-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(detail)
    heading = ui.page.locator(".result-card h3")
    expect(heading).to_have_text(f"Not routed through {MODEL}")  # not "Routed through"
    expect(ui.page.locator("#drop-preview")).to_be_hidden()  # no broken preview image
    # The only console error is the browser's note of the refused request.
    assert all("415" in e for e in ui.errors), ui.errors


def test_per_class_charts_render(ui, api):
    metrics = api.get(f"/api/models/{MODEL}/metrics").json()
    classes = len(metrics["class_names"])
    gates = api.get(f"/api/models/{MODEL}").json()["num_gates"]
    ui.open()
    ui.page.click("#tab-btn-classes")
    for chart in ("consistency", "diversity", "unique-paths", "block-rate"):
        card = ui.page.locator(f".chart-card[data-chart={chart}]")
        expect(card.locator(".explain")).not_to_be_empty()
        expect(card.locator(".better")).not_to_be_empty()
        ui.page.wait_for_selector(f"#chart-{chart}-0[data-state=ready]", timeout=BUSY_TIMEOUT)
    shapes = ui.page.evaluate(
        """() => Object.fromEntries(['consistency', 'diversity', 'unique-paths', 'block-rate']
          .map(id => {
            const t = document.querySelector(`#chart-${id}-0`).data[0];
            return [id, t.z ? [t.z.length, t.z[0].length] : [t.y.length]];
          }))"""
    )
    assert shapes == {
        "consistency": [classes],
        "diversity": [classes, classes],
        "unique-paths": [classes],
        "block-rate": [classes, gates],
    }
    rows = ui.page.locator(".table-card tbody tr")
    expect(rows).to_have_count(classes)
    expect(ui.page.locator(".overview-card")).to_contain_text("Accuracy")
    assert ui.errors == []


def test_block_importance_heatmap_shows_the_change_in_accuracy_each_way(ui, api):
    _, response = wait_for_result(api, f"/api/models/{MODEL}/importance")
    importance = response.json()
    ui.open()
    ui.page.click("#tab-btn-classes")
    card = ui.page.locator(".chart-card[data-chart=importance]")
    expect(card.locator(".explain")).to_contain_text("forced off")
    for direction in ("off", "on"):
        card.locator(f"button[data-direction={direction}]").click()
        expect(ui.page.locator(".chart-card[data-chart=importance]")).to_have_attribute(
            "data-direction", direction
        )
        ui.page.wait_for_selector("#chart-importance-0[data-state=ready]", timeout=BUSY_TIMEOUT)
        z = ui.page.evaluate("() => document.querySelector('#chart-importance-0').data[0].z")
        table = importance[direction]
        expected = [
            [None if f is None else f - o for f, o in zip(forced, own, strict=True)]
            for forced, own in zip(table["forced_accuracy"], table["own_accuracy"], strict=True)
        ]
        assert len(z) == len(importance["class_names"])
        for row, want in zip(z, expected, strict=True):
            assert [v is None for v in row] == [w is None for w in want]  # no image, no cell
            shown = [v for v in row if v is not None]
            assert shown == pytest.approx([w for w in want if w is not None])
    expect(card.locator(".explain")).to_contain_text("forced on")
    # A copied link reopens the same direction.
    assert "flip=on" in ui.page.url
    ui.page.goto(ui.page.url)
    ui.page.reload()
    expect(ui.page.locator(".chart-card[data-chart=importance]")).to_have_attribute(
        "data-direction", "on"
    )
    assert ui.errors == []


def test_block_importance_of_a_sampled_split_says_how_many_images_it_counted(ui, api, monkeypatch):
    # The server runs in this process: a bound of 100 images makes digits' training
    # split (1,437) a sampled one.
    monkeypatch.setattr("backend.importance.MAX_IMAGES", 100)
    wait_for_result(api, f"/api/models/{MODEL}/importance?split=train")
    ui.open("split=train")
    ui.page.click("#tab-btn-classes")
    ui.page.wait_for_selector("#chart-importance-0[data-state=ready]", timeout=BUSY_TIMEOUT)
    note = ui.page.locator(".chart-card[data-chart=importance] .sample-note")
    expect(note).to_have_text(
        "Measured on 100 of the split's 1,437 images, a seeded random sample."
    )
    # A split measured whole (the test split's 360 images, under the real bound) has no note.
    monkeypatch.undo()
    wait_for_result(api, f"/api/models/{MODEL}/importance")
    # A new document: the open page ignores an edited hash and may write its own state
    # (split=train) back over it before a reload.
    ui.page.goto("about:blank")
    ui.open("split=test")
    ui.page.click("#tab-btn-classes")
    ui.page.wait_for_selector("#chart-importance-0[data-state=ready]", timeout=BUSY_TIMEOUT)
    expect(note).to_have_count(0)
    assert ui.errors == []


def test_compare_two_checkpoints(ui, api):
    ui.open()
    ui.scatter(0)
    ui.page.locator(f"#models-body tr[data-model={OTHER}] input[type=checkbox]").check()
    ui.scatter(0, model=MODEL)
    ui.scatter(1, model=OTHER)
    expect(ui.page.locator("#routing-grid.layout-compare .side-card")).to_have_count(2)
    expect(ui.page.locator("#model-chips")).to_contain_text(OTHER)
    # Switching the method switches both columns.
    ui.page.click("#method-switch button[data-value=pca]")
    ui.scatter(0, method="pca")
    ui.scatter(1, method="pca")
    ui.page.click("#tab-btn-classes")
    ui.page.wait_for_selector("#chart-block-rate-1[data-state=ready]", timeout=BUSY_TIMEOUT)
    expect(ui.page.locator(".chart-card[data-chart=diversity] .cell-title")).to_have_text(
        [MODEL, OTHER]
    )
    # The choice is in the URL, so a reload keeps it.
    ui.page.reload()
    ui.page.wait_for_selector("#chart-block-rate-1[data-state=ready]", timeout=BUSY_TIMEOUT)
    assert ui.errors == []


def test_progress_indicator_follows_the_job_and_errors_show(ui):
    """The embedding's job is mocked: progress is shown, the page stays usable, a failed
    job's error is shown and "Try again" recovers."""
    job = {"status": "running", "progress": 0.42, "error": None}
    served = {"fake": True}

    def embedding_route(route):
        if served["fake"]:
            body = {"job_id": "fake-job", "status": "queued", "progress": 0.0, "error": None}
            route.fulfill(status=202, content_type="application/json", body=json.dumps(body))
        else:
            route.continue_()

    def job_route(route):
        body = {"job_id": "fake-job", "description": "t-SNE", **job}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    ui.page.route("**/api/models/*/embeddings/tsne*", embedding_route)
    ui.page.route("**/api/jobs/fake-job", job_route)
    ui.open("method=tsne")
    overlay = ui.page.locator("#tab-routing .plot-overlay.is-progress")
    expect(overlay).to_contain_text("42%")
    expect(overlay.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "42")
    assert ui.page.locator("#scatter-0").get_attribute("data-state") == "loading"
    # The rest of the page stays usable meanwhile.
    ui.page.click("#tab-btn-classes")
    ui.page.wait_for_selector("#chart-consistency-0[data-state=ready]", timeout=BUSY_TIMEOUT)
    ui.page.click("#tab-btn-routing")
    job.update(status="failed", error="t-SNE ran out of memory")
    error = ui.page.locator("#tab-routing .plot-overlay.is-error")
    expect(error).to_contain_text("t-SNE ran out of memory")
    served["fake"] = False
    error.locator("button", has_text="Try again").click()
    ui.scatter(0, method="tsne")
    expect(ui.page.locator("#tab-routing .plot-overlay")).to_be_hidden()
    assert ui.errors == []


def test_layout_holds_at_full_hd(ui):
    """At 1920x1080 the toolbar fits one row and nothing overflows the window."""
    ui.page.set_viewport_size({"width": 1920, "height": 1080})
    ui.open()
    ui.scatter(0)
    ui.settled()
    widths = ui.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1]
    rows = ui.page.locator(".toolbar .control").evaluate_all(
        "controls => controls.map(c => { const r = c.getBoundingClientRect();"
        " return (r.top + r.bottom) / 2; })"
    )
    assert max(rows) - min(rows) < 4, rows  # one row
    plot = ui.page.locator("#scatter-0").bounding_box()
    side = ui.page.locator(".side-card").bounding_box()
    assert plot["x"] + plot["width"] <= side["x"]  # side by side, not overlapping
    assert plot["y"] + plot["height"] <= 1080  # the whole map is in view
    assert ui.errors == []


@pytest.fixture(scope="module")
def ablation_server(digits_runs, tmp_path_factory):
    """An ablation's runs: two variants over two seeds, their gates made to differ."""
    import torch

    from tests.conftest import randomize_gates
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    root = tmp_path_factory.mktemp("ablation")
    runs = root / "runs"
    source = load_checkpoint(digits_runs / "digits" / "checkpoint.pt")
    for variant, seed in (("codinet", 0), ("codinet", 1), ("no-codi", 0), ("no-codi", 1)):
        model = model_from_checkpoint(source)
        randomize_gates(model, seed=seed + (10 if variant == "no-codi" else 0))
        metrics = {
            **source["metrics"],
            "neighbor_agreement": 0.5 + 0.1 * seed - 0.2 * (variant == "no-codi"),
        }
        run = runs / "abl" / f"{variant}-s{seed}"
        run.mkdir(parents=True)
        torch.save(
            {**source, "state_dict": model.state_dict(), "metrics": metrics}, run / "checkpoint.pt"
        )
    app = create_app(Settings(runs_dir=runs, cache_dir=root / "cache", warmup=False))
    with LiveServer(app) as live:
        yield live


def test_compare_view_shows_normalised_measures_their_difference_and_seed_spread(
    browser, ablation_server, tmp_path
):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    a, b = "abl.codinet-s0", "abl.no-codi-s0"
    with httpx.Client(base_url=ablation_server.url, timeout=120) as api:
        overall = {m: api.get(f"/api/models/{m}/metrics").json()["overall"] for m in (a, b)}
        measures = api.get("/api/measures").json()
    page.goto(f"{ablation_server.url}/#model={a}&compare={b}&tab=classes")
    card = page.locator("#measures-card")
    # The page asks for the metrics beside the block importance's jobs: on a busy machine
    # the table comes after Playwright's 5 s.
    expect(card.locator("tr[data-measure]").first).to_be_visible(timeout=BUSY_TIMEOUT)
    for measure in measures:
        row = card.locator(f"tr[data-measure={measure['name']}]")
        expect(row).to_have_count(1)
        expect(row.locator("th")).to_contain_text(measure["label"])
        expect(row.locator("th")).to_have_attribute("title", measure["description"])
    row = card.locator("tr[data-measure=same_class_ratio] td")
    va, vb = (overall[m]["same_class_ratio"] for m in (a, b))
    expect(row).to_have_text([f"{va:.3f}", f"{vb:.3f}", f"{vb - va:+.3f}"])
    assert va != vb
    # The seed group: each variant's mean and spread, and the paired difference.
    page.wait_for_selector("#seeds-abl .seeds-chart[data-state=ready]", timeout=BUSY_TIMEOUT)
    drawn = page.evaluate(
        """() => {
          const gd = document.querySelector('#seeds-abl .seeds-chart');
          const means = gd.data.filter(t => t.error_y && t.error_y.visible);
          const agreement = gd.data.findIndex((t, i) => t.error_y && gd.layout.annotations
            [Math.floor(i / 3)].text.startsWith('Nearest-path'));
          return {charts: means.length, agreement: gd.data[agreement]};
        }"""
    )
    assert drawn["charts"] == 2 + sum(m["normalised"] for m in measures)
    assert drawn["agreement"]["x"] == ["codinet", "no-codi"]
    assert drawn["agreement"]["y"] == pytest.approx([0.55, 0.35])
    assert drawn["agreement"]["error_y"]["array"] == pytest.approx([0.0707107, 0.0707107])
    difference = page.locator("#seeds-abl .differences-table tbody tr")
    expect(difference.locator("th")).to_have_text("codinet − no-codi")
    expect(difference).to_contain_text("0.200")
    page.screenshot(path=str(tmp_path / "compare-measures.png"), full_page=True)
    assert errors == []
    context.close()


# -- the layout and the defects a researcher hit ---------------------------------------


@pytest.fixture(scope="module")
def odd_server(digits_runs, tmp_path_factory):
    """Models that stretch the page: a deep one (27 gates), one with long class names,
    and one whose gates leave two distinct paths (too few for UMAP)."""
    import torch

    from tests.backend_helpers import quick_config
    from trainer.train import main as train

    root = tmp_path_factory.mktemp("odd")
    runs = root / "runs"
    train(quick_config(runs / "deep", arch="codinet_resnet56", epochs=1))
    source = torch.load(digits_runs / "digits" / "checkpoint.pt", weights_only=True)
    long_names = {**source, "class_names": [f"{n}-{name}" for n, name in enumerate(CIFAR_NAMES)]}
    few = {**source, "state_dict": dict(source["state_dict"])}
    for block in range(1, few["num_gates"]):  # every gate but the first always executes
        weight = few["state_dict"][f"blocks.{block}.gate.fc2.weight"]
        few["state_dict"][f"blocks.{block}.gate.fc2.weight"] = torch.zeros_like(weight)
        few["state_dict"][f"blocks.{block}.gate.fc2.bias"] = torch.tensor([8.0, -8.0])
    for name, checkpoint in (("long-names", long_names), ("few-paths", few)):
        (runs / name).mkdir(parents=True)
        torch.save(checkpoint, runs / name / "checkpoint.pt")
    app = create_app(Settings(runs_dir=runs, cache_dir=root / "cache", warmup=False))
    with LiveServer(app) as live:
        yield live


CIFAR_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
]  # fmt: skip


@pytest.fixture
def odd_ui(browser, odd_server):
    with page_session(browser, odd_server.url) as session:
        yield session


def test_the_map_follows_its_card_when_compare_is_ticked_and_unticked(ui):
    ui.open()
    ui.scatter(0)
    ui.settled()
    fits = """() => {
      const card = document.querySelector('#scatter-0').closest('.plot-card');
      const svg = document.querySelector('#scatter-0 .main-svg');
      return [svg.getBoundingClientRect().width, card.clientWidth];
    }"""
    single, single_card = ui.page.evaluate(fits)
    ui.page.locator(f"#models-body tr[data-model='{OTHER}'] input[type=checkbox]").check()
    ui.scatter(1)
    ui.page.wait_for_function(f"() => ({fits})()[0] <= ({fits})()[1]")
    narrow, narrow_card = ui.page.evaluate(fits)
    assert narrow_card < single_card and narrow <= narrow_card
    ui.page.locator(f"#models-body tr[data-model='{OTHER}'] input[type=checkbox]").uncheck()
    ui.page.wait_for_function(f"() => ({fits})()[0] > 0.9 * ({fits})()[1]")
    wide, wide_card = ui.page.evaluate(fits)
    assert wide_card == single_card and abs(wide - single) < 2
    assert ui.errors == []


def test_a_pca_fallback_is_called_pca_on_the_map(odd_ui):
    api = httpx.Client(base_url=odd_ui.base, timeout=120)
    _, response = wait_for_result(api, "/api/models/few-paths/embeddings/umap")
    params = response.json()["params"]
    assert params["fallback"].startswith("pca")
    odd_ui.open("model=few-paths")
    selector = odd_ui.scatter(0, method="umap", drawn="pca")
    expect(odd_ui.page.locator(".plot-title").first).to_have_text("PCA map of the routing paths")
    expect(odd_ui.page.locator(".fallback-note")).to_contain_text(
        f"UMAP was asked for, but the model takes only {params['distinct_paths']} distinct paths"
    )
    axis = odd_ui.page.evaluate(
        f"() => document.querySelector('{selector}')._fullLayout.xaxis.title.text"
    )
    assert axis.startswith("PCA")
    assert odd_ui.errors == []


def test_a_path_of_27_blocks_stays_inside_the_hover_card(odd_ui):
    odd_ui.open("model=deep")
    selector = odd_ui.scatter(0)
    odd_ui.settled()
    odd_ui.hover_largest_marker(selector)
    card = odd_ui.page.locator("#hover-card")
    expect(card).to_be_visible()
    assert len(card.locator("code").inner_text()) == 27
    inside = card.evaluate(
        """c => { const box = c.getBoundingClientRect();
          return [...c.querySelectorAll('.hc-path code, .hc-path .pd-mini')].every(n => {
            const r = n.getBoundingClientRect(); return r.right <= box.right && r.left >= box.left;
          }); }"""
    )
    assert inside
    assert odd_ui.errors == []


def test_long_class_names_are_not_clipped_on_the_heatmaps(odd_ui):
    odd_ui.open("model=long-names&tab=classes")
    for chart in ("chart-block-rate-0", "chart-diversity-0"):
        odd_ui.page.wait_for_selector(f"#{chart}[data-state=ready]", timeout=BUSY_TIMEOUT)
        fits = odd_ui.page.evaluate(
            """(id) => { const gd = document.getElementById(id);
              const labels = [...gd.querySelectorAll('.yaxislayer-above .ytick text')];
              const plot = gd.getBoundingClientRect();
              const title = gd.querySelector('.g-ytitle text').getBoundingClientRect();
              const boxes = labels.map(t => t.getBoundingClientRect());
              return {
                names: labels.map(t => t.textContent),
                inside: boxes.every(b => b.left >= plot.left),
                clear: boxes.every(b => b.left >= title.right),
              }; }""",
            chart,
        )
        assert "0-airplane" in fits["names"] and "1-automobile" in fits["names"], fits
        assert fits["inside"] and fits["clear"], (chart, fits)
    assert odd_ui.errors == []


def test_keyboard_moves_within_radio_groups_and_steps_through_common_paths(ui, api):
    ui.open()
    ui.scatter(0)
    ui.settled()
    group = ui.page.locator("#method-switch")
    focusable = group.locator("button[tabindex='0']")
    expect(focusable).to_have_count(1)  # one Tab stop for the group
    focusable.focus()
    ui.page.keyboard.press("ArrowRight")
    ui.scatter(0, method="tsne")
    expect(group.locator("button[data-value=tsne]")).to_be_focused()
    expect(group.locator("button[data-value=tsne]")).to_have_attribute("aria-checked", "true")
    ui.page.keyboard.press("ArrowLeft")
    ui.scatter(0, method="umap")

    emb = embedding(api, "umap")
    by_count = sorted(range(len(emb["paths"])), key=lambda p: (-emb["path_counts"][p], p))
    ui.page.locator("#scatter-0").focus()
    for rank in (0, 1):
        ui.page.keyboard.press("ArrowRight")
        detail = ui.page.locator(".side-card .detail")
        expect(detail.locator(".pathdiagram").first).to_have_attribute(
            "data-path", emb["paths"][by_count[rank]]
        )
    ui.page.keyboard.press("ArrowLeft")
    expect(detail.locator(".pathdiagram").first).to_have_attribute(
        "data-path", emb["paths"][by_count[0]]
    )
    assert ui.errors == []


def test_back_forward_and_an_edited_hash_change_the_view(ui, api):
    """Each view is a history entry: Back and Forward step through them, an address
    edited by hand shows its view, and the shown sample is in the URL."""
    ui.open()
    ui.scatter(0, method="umap")
    ui.settled()
    ui.page.click("#method-switch button[data-value=pca]")
    ui.scatter(0, method="pca")
    ui.page.click("#color-switch button[data-value=correct]")
    ui.scatter(0, method="pca", color="correct")
    ui.page.locator("#scatter-0").focus()
    ui.page.keyboard.press("ArrowRight")  # the most common path's first image
    detail = ui.page.locator(".side-card .detail")
    expect(detail).to_be_visible()
    sample = detail.get_attribute("data-sample")
    assert f"sample={sample}" in ui.page.url
    ui.page.go_back()
    expect(ui.page.locator(".side-card .empty")).to_be_visible()
    ui.scatter(0, method="pca", color="correct")
    assert "sample=" not in ui.page.url
    ui.page.go_back()
    ui.scatter(0, method="pca", color="label")
    ui.page.go_back()
    ui.scatter(0, method="umap", color="label")
    expect(ui.page.locator("#method-switch button[data-value=umap]")).to_have_attribute(
        "aria-checked", "true"
    )
    ui.page.go_forward()
    ui.page.go_forward()
    ui.scatter(0, method="pca", color="correct")
    ui.page.go_forward()
    expect(detail).to_have_attribute("data-sample", sample)
    # An address edited by hand: another tab, and a sample chosen by its id.
    ui.page.evaluate("() => { location.hash = 'method=tsne&sample=7'; }")
    ui.scatter(0, method="tsne")
    expect(detail).to_have_attribute("data-sample", "7")
    ui.page.evaluate("() => { location.hash = 'tab=classes'; }")
    expect(ui.page.locator("#tab-classes")).to_be_visible()
    ui.page.go_back()
    expect(ui.page.locator("#tab-routing")).to_be_visible()
    expect(detail).to_have_attribute("data-sample", "7")
    # A copied link opens on the same sample.
    ui.page.reload()
    expect(detail).to_have_attribute("data-sample", "7")
    ui.scatter(0, method="tsne")
    assert ui.errors == []


def test_training_curves_with_one_epoch_numbering_and_a_run_without_them(ui, api):
    log = api.get(f"/api/models/{MODEL}/training").json()
    assert api.get(f"/api/models/{OTHER}/training").json()["epochs"] == []
    model = api.get(f"/api/models/{MODEL}").json()
    ui.open(f"model={MODEL}&compare={OTHER}&tab=training")
    ui.page.wait_for_selector("#training-accuracy[data-state=ready]", timeout=BUSY_TIMEOUT)
    traces = ui.page.evaluate(
        "() => document.querySelector('#training-accuracy').data"
        ".map(t => ({name: t.name, x: t.x, y: t.y, dash: t.line.dash}))"
    )
    assert [t["name"] for t in traces] == ["test", "train"]
    assert traces[0]["dash"] == "solid"
    assert traces[0]["x"] == [row["epoch"] for row in log["epochs"]]
    assert traces[0]["y"] == [row["accuracy"] for row in log["epochs"]]
    assert traces[0]["x"][0] == 1
    line = ui.page.evaluate(
        "() => document.querySelector('#training-accuracy').layout.shapes[0].x0"
    )
    assert line == model["epoch"] == log["checkpoint_epoch"]
    summary = ui.page.locator(".training-summary")
    expect(summary.locator(f"[data-model='{MODEL}']")).to_contain_text(
        f"{len(log['epochs'])} epochs from metrics.jsonl; the served checkpoint is from epoch "
        f"{model['epoch']}"
    )
    expect(summary.locator(f"[data-model='{OTHER}']")).to_contain_text("no readable metrics.jsonl")
    table = ui.page.locator(f"#models-body tr[data-model='{MODEL}'] td.num").last
    expect(table).to_have_text(str(model["epoch"]))
    for panel in ("cost", "macs", "measures", "losses", "lr"):
        ui.page.wait_for_selector(f"#training-{panel}[data-state=ready]")
    assert ui.errors == []


def test_the_loss_panel_plots_each_term_as_optimised(ui, api):
    """weight x term, with the weights the run was trained with: the terms add up to the
    total the optimiser saw."""
    log = api.get(f"/api/models/{MODEL}/training").json()
    weights = log["loss_weights"]
    assert weights["consistency_loss"] > 0 and weights["ce"] == 1
    ui.open(f"model={MODEL}&tab=training")
    ui.page.wait_for_selector("#training-losses[data-state=ready]", timeout=BUSY_TIMEOUT)
    traces = ui.page.evaluate(
        "() => Object.fromEntries(document.querySelector('#training-losses').data"
        ".map(t => [t.name, t.y]))"
    )
    logged = [row["consistency_loss"] for row in log["epochs"]]
    expected = [weights["consistency_loss"] * value for value in logged]
    assert traces["consistency"] == pytest.approx(expected)
    terms = ("cross-entropy", "consistency", "diversity", "cost", "target rate")
    for epoch, total in enumerate(traces["total"]):
        assert sum(traces[name][epoch] for name in terms if name in traces) == pytest.approx(
            total, rel=1e-6
        )
    card = ui.page.locator(".chart-card[data-chart=training-losses]")
    expect(card).to_contain_text("weight × term")
    assert ui.errors == []


def test_compared_training_curves_name_each_run_and_spread_the_loss_terms(ui, api):
    """Two runs' curves: the legend says which run each line is; the loss terms, orders
    of magnitude apart, are on a log axis, and a term switched off is named, not drawn."""
    log = api.get(f"/api/models/{MODEL}/training").json()
    other = {**log, "loss_weights": {**log["loss_weights"], "consistency_loss": 0.0}}
    ui.page.route(
        f"**/api/models/{OTHER}/training*",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(other)
        ),
    )
    ui.open(f"model={MODEL}&compare={OTHER}&tab=training")
    ui.page.wait_for_selector("#training-losses[data-state=ready]", timeout=BUSY_TIMEOUT)
    for panel in ("accuracy", "losses"):
        legend = ui.page.locator(f"#training-{panel} .legend")
        expect(legend).to_contain_text(f"{MODEL} (solid)")
        expect(legend).to_contain_text(f"{OTHER} (dashed)")
    drawn = ui.page.evaluate(
        """() => {
          const gd = document.querySelector('#training-losses');
          return {axis: gd._fullLayout.yaxis.type,
                  traces: gd.data.filter(t => t.meta.series)
                    .map(t => [t.meta.run, t.meta.series, Math.min(...t.y), t.line.dash])};
        }"""
    )
    assert drawn["axis"] == "log"
    names = {(run, series) for run, series, _, _ in drawn["traces"]}
    assert (MODEL, "consistency_loss") in names and (OTHER, "consistency_loss") not in names
    assert all(low > 0 for _, _, low, _ in drawn["traces"])
    assert {(run, dash) for run, _, _, dash in drawn["traces"]} == {
        (MODEL, "solid"),
        (OTHER, "dash"),
    }
    note = ui.page.locator(".chart-card[data-chart=training-losses] .undrawn-note")
    expect(note).to_contain_text(f"{OTHER}: consistency")
    expect(note).to_contain_text("at 0 every epoch")
    assert ui.errors == []


def test_map_and_charts_download_as_png_svg_and_csv(ui, api):
    import io

    ui.open()
    ui.scatter(0)
    ui.settled()
    head = ui.page.locator(".plot-card .plot-head").first
    name, png = download_figure(ui, head.locator("[data-export=png]"))
    assert name == f"UMAP-map-of-the-routing-paths-{MODEL}.png"
    image = Image.open(io.BytesIO(png))
    assert image.size == (3600, 2400)  # 1200 x 800 at 3x: 12 x 8 inches at 300 dpi
    name, svg = download_figure(ui, head.locator("[data-export=svg]"))
    text = svg.decode()
    assert name.endswith(".svg") and text.startswith("<svg")
    assert f"UMAP map of the routing paths · {MODEL}" in text  # the title
    assert "True class" in text  # the legend
    # Vector markers, one per marker of the map, not the WebGL canvas as a raster image.
    assert "<image" not in text
    points = len(re.findall(r'<path class="point"', text))
    assert points == int(ui.page.locator("#scatter-0").get_attribute("data-markers"))
    emb = embedding(api, "umap")
    rows = download_csv(ui, head.locator("[data-export=csv]"))
    assert [int(r["sample_id"]) for r in rows] == emb["sample_ids"]
    assert [r["path"] for r in rows] == [emb["paths"][p] for p in emb["path_ids"]]
    assert [float(r["umap_x"]) for r in rows] == pytest.approx(emb["x"], abs=1e-4)

    ui.page.click("#tab-btn-classes")
    ui.page.wait_for_selector("#chart-block-rate-0[data-state=ready]", timeout=BUSY_TIMEOUT)
    card = ui.page.locator(".chart-card[data-chart=block-rate]")
    name, svg = download_figure(ui, card.locator("[data-export=svg]"))
    assert f"Block execution rate per class · {MODEL}" in svg.decode()
    metrics = api.get(f"/api/models/{MODEL}/metrics").json()
    rows = download_csv(ui, ui.page.locator(".table-card [data-export=csv]"))
    assert [r["class_name"] for r in rows] == metrics["class_names"]
    assert [float(r["view_ratio"]) for r in rows] == pytest.approx(
        [c["view_ratio"] for c in metrics["per_class"]]
    )
    ui.page.click("#tab-btn-training")
    ui.page.wait_for_selector("#training-accuracy[data-state=ready]", timeout=BUSY_TIMEOUT)
    log = api.get(f"/api/models/{MODEL}/training").json()
    rows = download_csv(
        ui, ui.page.locator(".chart-card[data-chart=training-accuracy] [data-export=csv]")
    )
    assert [float(r["accuracy"]) for r in rows] == [e["accuracy"] for e in log["epochs"]]
    assert ui.errors == []


def test_an_upload_result_downloads_as_csv_and_its_charts_as_svg(ui, api, tmp_path):
    embedding(api, "umap")  # computed, so the upload gets a place on the UMAP map
    digit, _ = digit_on_paper(4)
    upload = png_file(tmp_path, digit, "four.png")
    expected = api.post(f"/api/models/{MODEL}/route", files={"file": upload.open("rb")}).json()
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(upload))
    card = ui.page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    rows = download_csv(ui, card.locator(".card-head [data-export=csv]"))
    assert [r["class"] for r in rows] == [str(c) for c in range(10)]
    assert [float(r["probability"]) for r in rows] == pytest.approx(expected["probabilities"])
    assert {r["path"] for r in rows} == {expected["path"]}
    assert {r["prediction"] for r in rows} == {expected["class_name"]}
    assert {r["file"] for r in rows} == {"four.png"}
    name, svg = download_figure(ui, card.locator(".card-head [data-export=svg]"))
    assert "Class probabilities of four.png" in svg.decode()
    expect(ui.page.locator("#upload-scatter-0[data-state=ready]")).to_have_count(
        1, timeout=BUSY_TIMEOUT
    )
    name, svg = download_figure(ui, card.locator(".placement [data-export=svg]"))
    assert f"four.png on the UMAP map · {MODEL}" in svg.decode()
    assert ui.errors == []


def test_an_upload_shows_what_the_network_saw_and_warns_off_domain(ui, api, tmp_path):
    from skimage import data as skimage_data

    camera = png_file(tmp_path, Image.fromarray(skimage_data.camera()), "camera.png")
    expected = api.post(f"/api/models/{MODEL}/route", files={"file": camera.open("rb")}).json()
    assert expected["warnings"]
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(camera))
    card = ui.page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    warning = card.locator(".upload-warning")
    expect(warning).to_contain_text("looks like a photo")
    expect(card.locator(".prediction-value")).to_have_text(expected["class_name"])  # routed
    seen = card.locator(".network-input img")
    ui.page.wait_for_function("() => document.querySelector('.network-input img').naturalWidth > 0")
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [16, 16]
    assert seen.get_attribute("src") == expected["input_image"]
    # A digit on paper is in the domain: no warning.
    digit, _ = digit_on_paper(2)
    ui.page.set_input_files("#file-input", str(png_file(tmp_path, digit, "two.png")))
    expect(card.locator(".upload-warning")).to_have_count(0)
    assert ui.errors == []
