"""Hover and wheel zoom on a 60,000-sample map in Chromium, against the same page on a
1,000-sample split side by side.

Runs on what ``python -m bench.large_maps --keep DIR`` left in DIR (its runs, data and
server cache, so the maps are served from the cache). A server is started on DIR; one
Chromium page opens the model's map on the training split (60,000 images) and one on
the test split (1,000), and both are measured alike, taking turns:

- **hover:** the mouse moves onto a marker (a different one each time); the time until
  the hover card shows that marker;
- **wheel zoom:** one wheel step over the map; the time until the first frame shows it
  zoomed (the page scales the drawn map at once, ``plotly_relayouting``), and the time
  until a frame shows the map redrawn at the new ranges (the relayout the page runs when
  the wheel has rested 100 ms, ``plotly_afterplot``). Both wait for the frame holding
  the change to be committed, not only begun.

Headless Chromium here draws WebGL in software (SwiftShader), so absolute times are a
pessimistic bound for a desktop browser with a GPU; the ratio to the small map is the
figure to compare.
"""

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import parse_args, pass_fail, print_table
from bench.server import backend_server, wait_until_ready
from tests.browser_support import CHROMIUM, LARGEST_MARKERS, LAUNCH_ARGS, MARKER_POSITION

RATIO_TARGET = 2.0  # 60,000-sample map at most this much slower than the 1,000-sample one
SMOOTH_MS = 100  # and under this, the time people begin to notice a lag

HOVERED = 200  # the hovers go round the largest markers, a different one each time

# Promises, kept by the page: the first frame that shows a wheel step's zoom, and the
# first frame that shows the map redrawn at the new ranges. Each waits two animation
# frames: the first begins the frame holding the change, the second runs once that frame
# has been committed (with a software compositor, after the WebGL canvas was read back).
NEXT_REDRAW = """(selector) => {
  const gd = document.querySelector(selector);
  const painted = resolve => requestAnimationFrame(() => requestAnimationFrame(resolve));
  window.firstFrame = new Promise(resolve => gd.once('plotly_relayouting', () => painted(resolve)));
  window.nextRedraw = new Promise(resolve => gd.once('plotly_afterplot', () => painted(resolve)));
}"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="what bench.large_maps --keep left")
    parser.add_argument("--model", default="cifar-resnet110", help="the model's id in DIR")
    parser.add_argument("--repeats", type=int, default=20, help="hovers and wheel steps per map")


def open_map(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(600_000)
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#scatter-0[data-state=ready]")
    loaded = time.perf_counter() - started
    page.wait_for_selector(".side-card .empty, .side-card .detail")
    return page, loaded


def hover_ms(page, i: int) -> float:
    """Time from a mouse move onto one of the largest markers to its hover card."""
    page.mouse.move(5, 5)
    page.wait_for_selector("#hover-card", state="hidden")
    markers = page.evaluate(LARGEST_MARKERS, ["#scatter-0", HOVERED])
    trace, point = markers[i % len(markers)]
    x, y = page.evaluate(MARKER_POSITION, ["#scatter-0", trace, point])
    started = time.perf_counter()
    page.mouse.move(x, y)
    page.wait_for_selector("#hover-card", state="visible")
    return (time.perf_counter() - started) * 1e3


def zoom_ms(page, step: int) -> tuple[float, float]:
    """One wheel step: ms to the first zoomed frame, and to the finished redraw."""
    box = page.locator("#scatter-0").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.evaluate(NEXT_REDRAW, "#scatter-0")
    started = time.perf_counter()
    page.mouse.wheel(0, -120 if step % 2 == 0 else 120)  # in, out, in, out...
    page.evaluate("() => window.firstFrame.then(() => true)")
    first = time.perf_counter()
    page.evaluate("() => window.nextRedraw.then(() => true)")
    return (first - started) * 1e3, (time.perf_counter() - started) * 1e3


def main(argv: Sequence[str] | None = None) -> list[list]:
    from playwright.sync_api import sync_playwright

    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    repeats = 2 if args.tiny else args.repeats
    # The cache large_maps left after routing the split through `backend extract`.
    served = backend_server(args.dir / "runs", args.dir / "cache-extracted", args.dir / "data")
    with served as server:
        import httpx

        base = server.url

        with httpx.Client(base_url=base, timeout=600) as client:
            wait_until_ready(client, "/api/health", 120)
            for split in ("train", "test"):  # served from the cache; computed if missing
                wait_until_ready(
                    client, f"/api/models/{args.model}/embeddings/umap?split={split}", 3600
                )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            pages = {}
            for split in ("train", "test"):
                page, loaded = open_map(browser, f"{base}/#model={args.model}&split={split}")
                samples = page.get_attribute("#scatter-0", "data-samples")
                markers = page.get_attribute("#scatter-0", "data-markers")
                pages[split] = {"page": page, "loaded": loaded, "samples": samples,
                                "markers": markers, "hover": [], "first frame": [],
                                "finished redraw": []}  # fmt: skip
            for repeat in range(repeats):
                for split in ("train", "test") if repeat % 2 == 0 else ("test", "train"):
                    entry = pages[split]
                    entry["hover"].append(hover_ms(entry["page"], repeat))
                    first, finished = zoom_ms(entry["page"], repeat)
                    entry["first frame"].append(first)
                    entry["finished redraw"].append(finished)
            browser.close()

    big, small = pages["train"], pages["test"]
    rows = []
    for action in ("hover", "first frame", "finished redraw"):
        ours, base_ms = statistics.median(big[action]), statistics.median(small[action])
        ratio = ours / base_ms
        rows.append(
            [
                action if action == "hover" else f"wheel zoom, {action}",
                f"{big['samples']} ({big['markers']} markers)",
                f"{small['samples']} ({small['markers']} markers)",
                f"{ours:.0f} / {base_ms:.0f}",
                f"{max(big[action]):.0f}",
                f"{ratio:.2f}",
                pass_fail(ratio <= RATIO_TARGET and ours <= SMOOTH_MS),
            ]
        )
    print(
        f"\nfirst draw from the server's cache: {big['loaded']:.1f} s (60,000-sample map), "
        f"{small['loaded']:.1f} s (small map); {repeats} repeats each\n"
        f"target: median at most {RATIO_TARGET:g}x the small map's and under {SMOOTH_MS} ms\n"
    )
    print_table(
        ["action", "large map", "small map", "median ms large / small", "slowest large ms",
         "ratio", "target"],
        rows,
    )  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
