"""Screenshots of the dashboard's main views, taken with headless Chromium.

    .venv/bin/python docs/screenshots/make_screenshots.py

Serves ``runs/digits-demo`` plus a second digits checkpoint trained without the
consistency and diversity terms (for the compare view; trained once, about 1.5 min on
CPU, into ``--work-dir``), then writes PNGs next to this file. ``--no-compare`` skips it.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.settings import Settings  # noqa: E402
from tests.backend_helpers import digit_on_paper, encode  # noqa: E402
from tests.browser_support import (  # noqa: E402
    CHROMIUM,
    LARGEST_MARKER,
    LAUNCH_ARGS,
    MARKER_POSITION,
    LiveServer,
)

OUT = Path(__file__).resolve().parent
READY = 180_000  # ms: embeddings are computed on first request
SIZES = ((1280, 800), (1920, 1080))


def train_compare_run(out: Path) -> None:
    if (out / "checkpoint.pt").exists():
        return
    print(f"training the compare model (no consistency/diversity terms) into {out} ...")
    subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--config", "recipes/digits.yaml"]
        + ["--w-con", "0", "--w-div", "0", "--out", str(out)],
        cwd=ROOT,
        check=True,
    )


def sample_with_moving_views(base: str, model: str, moved: int = 3) -> int:
    """A test sample at least ``moved`` of whose 8 augmented views (as the page routes
    them) take another path than its own, so that the shot shows views on the map: most
    samples' views all keep their path."""
    with httpx.Client(base_url=base, timeout=60) as client:
        ids = client.get(f"/api/models/{model}/paths").json()["sample_ids"]
        for sample_id in ids:
            route = client.get(f"/api/models/{model}/samples/{sample_id}/route?views=8")
            if sum(d > 0 for d in route.json()["views"]["distances"]) >= moved:
                return sample_id
    raise SystemExit(f"no sample of {model} has {moved} views off its path")


class Shooter:
    def __init__(self, browser, base: str):
        self.browser = browser
        self.base = base
        self.page = None

    def open(self, fragment: str = "", width: int = 1280, height: int = 800):
        if self.page:
            self.page.context.close()
        context = self.browser.new_context(viewport={"width": width, "height": height})
        self.page = context.new_page()
        self.page.on("pageerror", lambda error: print("page error:", error))
        self.page.goto(f"{self.base}/#{fragment}")
        return self.page

    def ready(self, selector: str):
        self.page.wait_for_selector(selector, timeout=READY)
        self.page.wait_for_timeout(700)  # let Plotly finish drawing

    def hover_largest(self, selector: str = "#scatter-0"):
        trace, point = self.page.evaluate(LARGEST_MARKER, selector)
        x, y = self.page.evaluate(MARKER_POSITION, [selector, trace, point])
        self.page.mouse.move(x - 30, y - 30)
        self.page.mouse.move(x, y, steps=5)
        self.page.wait_for_selector("#hover-card:not([hidden])")
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('#hover-card img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        return x, y

    def open_detail(self, fragment: str, width: int = 1280, height: int = 800):
        """Open the page and click the largest marker: the side panel shows its sample."""
        page = self.open(fragment, width, height)
        self.ready("#scatter-0[data-state=ready]")
        page.wait_for_selector(".side-card .empty")
        x, y = self.hover_largest()
        page.mouse.click(x, y)
        page.wait_for_selector(".side-card .detail")
        page.mouse.move(5, 400)
        page.wait_for_selector("#hover-card", state="hidden")
        return page

    def images_loaded(self):
        self.page.wait_for_function(
            """() => [...document.images].every(i => {
              const r = i.getBoundingClientRect();
              const seen = r.bottom > 0 && r.top < innerHeight && r.width > 0;
              return !seen || !i.src || (i.complete && i.naturalWidth > 0);
            })""",
            timeout=30_000,
        )

    def shot(self, name: str, full_page: bool = False):
        path = OUT / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        print("wrote", path.relative_to(ROOT))


def take(shooter: Shooter, model: str, compare: str | None, work: Path) -> None:
    # Overview, at both sizes.
    for width, height in SIZES:
        shooter.open(f"model={model}", width, height)
        shooter.ready("#scatter-0[data-state=ready]")
        shooter.page.wait_for_selector(".side-card .empty")
        shooter.shot(f"overview-{width}x{height}")

    # Hover, then the clicked sample's detail.
    page = shooter.open(f"model={model}")
    shooter.ready("#scatter-0[data-state=ready]")
    page.wait_for_selector(".side-card .empty")
    x, y = shooter.hover_largest()
    shooter.shot("hover-1280x800")
    page.mouse.click(x, y)
    page.wait_for_selector(".side-card .detail")
    page.mouse.move(5, 400)
    page.wait_for_selector("#hover-card", state="hidden")
    shooter.images_loaded()
    page.wait_for_timeout(500)
    shooter.shot("detail-1280x800")

    # A box selection's summary.
    page.click("#drag-switch button[data-value=select]")
    page.wait_for_timeout(300)
    left, top, width, height = page.evaluate(
        """() => { const gd = document.querySelector('#scatter-0'), r = gd.getBoundingClientRect();
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          return [r.left + xa._offset, r.top + ya._offset, xa._length, ya._length]; }"""
    )
    page.mouse.move(left + 4, top + 4)
    page.mouse.down()
    page.mouse.move(left + width * 0.55, top + height * 0.6, steps=8)
    page.mouse.up()
    page.wait_for_selector(".side-card .selection")
    shooter.images_loaded()
    page.wait_for_timeout(500)
    shooter.shot("selection-1280x800")

    # Find: a class's images highlighted on the map and listed, page by page.
    for width, height in SIZES:
        page = shooter.open(f"model={model}", width, height)
        shooter.ready("#scatter-0[data-state=ready]")
        page.fill("#find-input", "class:8")
        page.press("#find-input", "Enter")
        page.wait_for_selector(".side-card .selection")
        shooter.images_loaded()
        page.wait_for_timeout(500)
        shooter.shot(f"find-{width}x{height}")

    # A sample's augmented views on the map, joined to it, with their distances; and the
    # density layer, each class's contours, at both sizes.
    moving = sample_with_moving_views(shooter.base, model)
    for width, height in SIZES:
        page = shooter.open(f"model={model}&density=on&sample={moving}", width, height)
        page.wait_for_selector(".side-card .detail .views")
        shooter.ready("#scatter-0[data-state=ready]")
        shooter.images_loaded()
        shooter.shot(f"views-density-{width}x{height}")

    # Cost colours with a second map (PCA) side by side.
    shooter.open(f"model={model}&color=cost&second=pca")
    shooter.ready("#scatter-1[data-state=ready]")
    shooter.ready("#scatter-0[data-state=ready]")
    shooter.shot("split-cost-1280x800")

    # A block forced off in the clicked sample's path: the forced answer beside its own.
    page = shooter.open_detail(f"model={model}")
    page.locator(".side-card .detail button.pd-block.on").first.click()
    page.wait_for_selector(".intervention[data-state=ready]")
    shooter.images_loaded()
    page.wait_for_timeout(500)
    shooter.shot("intervene-1280x800")

    # Per-class analysis (block importance at the end) and training curves.
    for width, height in SIZES:
        page = shooter.open(f"model={model}&tab=classes", width, height)
        shooter.ready("#chart-block-rate-0[data-state=ready]")
        shooter.ready("#chart-importance-0[data-state=ready]")
        shooter.shot(f"classes-{width}x{height}")
        page = shooter.open(f"model={model}&tab=training", width, height)
        shooter.ready("#training-losses[data-state=ready]")
        shooter.shot(f"training-{width}x{height}")
    page = shooter.open(f"model={model}&tab=classes")
    shooter.ready("#chart-importance-0[data-state=ready]")
    shooter.ready("#chart-block-rate-0[data-state=ready]")  # the metrics, the table's too
    shooter.shot("classes-full-1280", full_page=True)

    # An uploaded photo of a handwritten digit.
    digit, _ = digit_on_paper(7)
    photo = work / "digit-photo.png"
    photo.write_bytes(encode(digit, "PNG"))
    for width, height in SIZES:
        page = upload(shooter, f"model={model}&tab=upload", photo, width, height)
        shooter.shot(f"upload-{width}x{height}")
        page.evaluate(
            "() => window.scrollTo(0, document.querySelector('.result-card').offsetTop - 12)"
        )
        page.wait_for_timeout(300)
        shooter.shot(f"upload-result-{width}x{height}")

    if not compare:
        return
    # Two checkpoints side by side.
    for width, height in SIZES:
        page = shooter.open_detail(f"model={model}&compare={compare}", width, height)
        shooter.ready("#scatter-1[data-state=ready]")
        shooter.images_loaded()
        page.wait_for_timeout(500)
        shooter.shot(f"compare-{width}x{height}")
    for width, height in SIZES:
        shooter.open(f"model={model}&compare={compare}&tab=classes", width, height)
        shooter.ready("#chart-block-rate-1[data-state=ready]")
        shooter.ready("#chart-importance-1[data-state=ready]")
        shooter.shot(f"compare-classes-{width}x{height}")
        shooter.open(f"model={model}&compare={compare}&tab=training", width, height)
        shooter.ready("#training-losses[data-state=ready]")
        shooter.shot(f"compare-training-{width}x{height}")
        page = upload(shooter, f"model={model}&compare={compare}&tab=upload", photo, width, height)
        shooter.ready(".result-card[data-index='1'][data-state=ready]")
        page.evaluate(
            "() => window.scrollTo(0, document.querySelector('.result-card').offsetTop - 12)"
        )
        page.wait_for_timeout(300)
        shooter.shot(f"compare-upload-{width}x{height}")


def upload(shooter: Shooter, fragment: str, photo: Path, width: int, height: int):
    page = shooter.open(fragment, width, height)
    page.wait_for_selector("#models-body tr[data-model]")
    page.set_input_files("#file-input", str(photo))
    shooter.ready(".result-card[data-state=ready] .mini-scatter[data-state=ready]")
    shooter.images_loaded()
    return page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs")
    parser.add_argument("--model", default="digits-demo")
    parser.add_argument("--compare-run", type=Path, help="a second run directory to compare")
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "codinet-shots"
    )
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium not found at {CHROMIUM}; install it or set $CHROMIUM")
    main_run = args.runs_dir / args.model
    if not (main_run / "checkpoint.pt").exists():
        raise SystemExit(f"{main_run}/checkpoint.pt is missing; train it with `make train-demo`")
    work = args.work_dir
    runs = work / "runs"
    shutil.rmtree(runs, ignore_errors=True)  # only the runs shown: none left from before
    runs.mkdir(parents=True)
    runs_shown = {args.model: main_run.resolve()}
    compare = None
    if not args.no_compare:
        compare_run = args.compare_run or work / "trained" / "digits-no-codi"
        if args.compare_run is None:
            train_compare_run(compare_run)
        compare = compare_run.name
        runs_shown[compare] = compare_run.resolve()
    for name, source in runs_shown.items():
        # Copied, not linked: the server follows no symbolic link out of its runs folder.
        shutil.copytree(source, runs / name)
    app = create_app(Settings(runs_dir=runs, cache_dir=work / "cache", warmup=False))
    with LiveServer(app) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            take(Shooter(browser, server.url), args.model, compare, work)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
