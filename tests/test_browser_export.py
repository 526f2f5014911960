"""Downloads in headless Chromium: the map and the charts as PNG, SVG and CSV."""

import re

import pytest
from PIL import Image

from tests.browser_support import BUSY_TIMEOUT, MODEL, download_csv, download_figure, embedding

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
