"""What the browser tests and the screenshot script share: Chromium, a live server, and
the Plotly look-ups that find a marker on the page."""

import os
import threading
import time

import uvicorn

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
