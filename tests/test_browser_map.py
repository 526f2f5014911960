"""The routing tab's map in headless Chromium: its markers for each method and colour, hover
cards, wheel zoom, WebGL resolution, the density layer and the job's progress."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser_support import BUSY_TIMEOUT, DRAWN, MODEL, X_RANGE_WIDTH, embedding, page_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]


METHODS = ("umap", "tsne", "pca")


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
