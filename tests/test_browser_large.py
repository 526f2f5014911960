"""The page at scale: a 60,000-image training split of varied CIFAR-format images,
routed by a real network, mapped, hovered and zoomed in Chromium."""

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import wait_for_result
from tests.browser_support import CHROMIUM, LAUNCH_ARGS, LiveServer, page_session
from tests.cifar_files import varied_images, write_cifar10
from tests.untrained_models import write_varied_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODEL = "cifar"
TRAIN_IMAGES = 60_000

# Per sample trace: its legend group, marker sizes, and whether it is in the legend.
LAYERS = """(selector) => document.querySelector(selector).data
  .filter(t => t.hoverinfo !== 'skip')
  .map(t => ({group: t.legendgroup, sizes: t.marker.size, legend: t.showlegend !== false}))"""


@pytest.fixture(scope="module")
def large_server(tmp_path_factory):
    """60,000 training images (five CIFAR batches of 12,000) and a CIFAR ResNet-56, whose
    27 gates spread them over thousands of paths (ResNet-20's 9 gates give about 100)."""
    root = tmp_path_factory.mktemp("large")
    write_cifar10(root / "data", per_batch=TRAIN_IMAGES // 5, test_size=500, images=varied_images)
    write_varied_model(root / "runs" / MODEL, root / "data", "codinet_resnet56")
    settings = Settings(
        runs_dir=root / "runs", data_dir=root / "data", cache_dir=root / "cache", warmup=False
    )
    with LiveServer(create_app(settings)) as live:
        with httpx.Client(base_url=live.url, timeout=600) as client:
            # Routed and mapped once here, so the page's own wait stays short.
            wait_for_result(client, f"/api/models/{MODEL}/embeddings/umap?split=train", 900)
        yield live


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def ui(browser, large_server):
    with page_session(browser, large_server.url) as session:
        yield session


def test_a_60000_image_training_split_is_mapped_hovered_and_zoomed_with_the_wheel(ui):
    ui.open(f"model={MODEL}&split=train")
    selector = ui.scatter(0, samples=str(TRAIN_IMAGES))
    expect(ui.page.locator("#dataset-split-switch button[data-value=train]")).to_have_attribute(
        "aria-checked", "true"
    )
    ui.settled()

    # Hover: the card shows the marker's training images.
    ui.hover_largest_marker(selector)
    card = ui.page.locator("#hover-card")
    expect(card).to_be_visible()
    assert "split=train" in card.locator("img").first.get_attribute("src")

    # The mouse wheel zooms in around the pointer.
    ui.page.mouse.move(5, 5)
    ui.wheel_zooms_in(selector)
    assert ui.errors == []


def test_every_class_is_drawn_on_top_somewhere_and_large_markers_underneath(ui):
    ui.open(f"model={MODEL}&split=train")
    selector = ui.scatter(0, samples=str(TRAIN_IMAGES))
    traces = ui.page.evaluate(LAYERS, selector)
    classes = {t["group"] for t in traces}
    assert len(classes) == 10
    assert sum(t["legend"] for t in traces) == 10  # one legend entry per class
    # Layers are drawn in order, each holding markers of many classes: the last layer,
    # on top of all the others, holds every class, not only the last one.
    layers, current, seen = [], [], set()
    for t in traces:
        if t["group"] in seen:  # a class repeats: a new layer began
            layers.append(current)
            current, seen = [], set()
        current.append(t)
        seen.add(t["group"])
    layers.append(current)
    assert len(layers) > 1
    assert {t["group"] for t in layers[-1]} == classes
    # Larger markers (more images on the path) lie under smaller ones.
    smallest_below = [min(s for t in layer for s in t["sizes"]) for layer in layers]
    largest_above = [max(s for t in layer for s in t["sizes"]) for layer in layers]
    for lower, upper in zip(smallest_below, largest_above[1:], strict=False):
        assert upper <= lower
    assert ui.errors == []


# Painted area of the sample markers (disks) over the area of the plot.
COVERAGE = """(selector) => {
  const gd = document.querySelector(selector);
  const painted = gd._fullData.filter(t => t.hoverinfo !== 'skip')
    .reduce((sum, t) => sum + t.marker.size.reduce((a, d) => a + Math.PI * d * d / 4, 0), 0);
  return painted / (gd._fullLayout._size.w * gd._fullLayout._size.h);
}"""


def test_a_dense_map_shrinks_its_markers_to_stay_legible(ui):
    """At full size (7 to 34 pixels) the disks of a map this dense would paint its plot
    over about twice; shrunk, about half of it shows between them."""
    ui.open(f"model={MODEL}&split=train")
    selector = ui.scatter(0, samples=str(TRAIN_IMAGES))
    assert int(ui.page.get_attribute(selector, "data-markers")) > 5_000
    assert ui.page.evaluate(COVERAGE, selector) < 1.5
    assert ui.errors == []


def test_choosing_the_training_split_on_the_page_maps_its_images(ui, large_server):
    ui.open(f"model={MODEL}")
    ui.scatter(0, samples="500")
    ui.page.click("#dataset-split-switch button[data-value=train]")
    ui.scatter(0, samples=str(TRAIN_IMAGES))
    assert "split=train" in ui.page.url
    ui.page.click("#tab-btn-classes")
    expect(ui.page.locator("#tab-classes")).to_contain_text("Training split.")
    assert ui.errors == []
