"""What the browser tests and the screenshot script share: Chromium, a live server, the
Plotly look-ups that find a marker on the page, and the page session the dashboard tests
drive (``UI``) with the helpers more than one of their modules uses."""

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from PIL import Image
from playwright.sync_api import Page

from tests.backend_helpers import encode, wait_for_result

# Debian's Chromium; Playwright's own browser download needs the internet.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Pixel position of marker `point` of trace `trace` in the page, from Plotly's axes.
MARKER_POSITION = """([selector, trace, point]) => {
  const gd = document.querySelector(selector);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const t = gd._fullData[trace];
  const box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.d2p(t.x[point]), box.top + ya._offset + ya.d2p(t.y[point])];
}"""

# The `count` largest markers of the sample traces, largest first: [[trace, point], ...].
LARGEST_MARKERS = """([selector, count]) => {
  const gd = document.querySelector(selector);
  const markers = [];
  gd._fullData.forEach((t, c) => {
    if (t.hoverinfo === 'skip') return;
    t.marker.size.forEach((size, i) => markers.push([c, i, size]));
  });
  markers.sort((a, b) => b[2] - a[2] || a[0] - b[0] || a[1] - b[1]);
  return markers.slice(0, count).map(m => m.slice(0, 2));
}"""

# The largest marker of the sample traces: [trace, point].
LARGEST_MARKER = f"(selector) => ({LARGEST_MARKERS})([selector, 1])[0]"


class LiveServer:
    """uvicorn serving the app on a free loopback port, in a background thread."""

    def __init__(self, app):
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)
        self.url = ""

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


# -- the dashboard tests: the session's digits model served under two names
# (``server`` in tests/conftest.py), one page per test ----------------------------------

MODEL = "digits"
OTHER = "digits-b"
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


def embedding(api, method: str, model: str = MODEL) -> dict:
    _, response = wait_for_result(api, f"/api/models/{model}/embeddings/{method}")
    return response.json()


def png_file(tmp_path, image: Image.Image, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(encode(image, "PNG"))
    return path


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
