"""Playing a run's formation in Chromium: 20 and 200 recorded epochs of 2,000 images.

A CIFAR-format test split of 2,000 images and, per size, a run folder with an untrained
CIFAR ResNet-110 (54 gates) and a recorded formation whose paths settle over the epochs
(``bench.formation.synthetic_formation``). A server is started on them and their PCA
formation computed; then one headless Chromium page per run opens the Formation tab at
the first epoch and presses Play, and the page itself records, until play stops:

- **step:** how long each task that moved the epoch ran (the timer or frame callback
  that calls the page's ``showEpoch``: markers restyled, epoch lines moved, the note);
- **shown:** the time of the first animation frame at which each new epoch is on the
  page; the interval between two of them is the step a viewer sees;
- **total:** from Play to the frame that shows the last epoch.

The page's pace is one epoch every ``PLAY_MS / epochs``, within ``STEP_MS``
(frontend/formationview.js): 400 ms at 20 epochs, 40 ms at 200, about 8 s in all.
Headless Chromium draws WebGL in software (SwiftShader), so the times are a pessimistic
bound for a desktop browser with a GPU.
"""

import argparse
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

from bench.common import cpu_summary, parse_args, pass_fail, print_table
from bench.formation import synthetic_formation
from bench.server import backend_server, wait_until_ready
from tests.browser_support import CHROMIUM, LAUNCH_ARGS
from tests.cifar_files import write_cifar10
from tests.untrained_models import write_varied_model

# The pace the page means to keep (frontend/formationview.js, PLAY_MS and STEP_MS).
PLAY_MS = 8000
STEP_MS = (40, 450)
# Smooth: the step a viewer sees at p95, and the whole play, at most this much off pace.
SLACK = 1.5

# Installed before the page's own scripts. Every timer and frame callback is timed, and
# the one that changes the epoch label is a step; a frame loop of its own notes the first
# frame that shows each new label. Recording runs between `start` and the play's end.
RECORDER = """(() => {
  const rec = (window.__play = { on: false, steps: [], shown: [], started: 0, error: null });
  window.addEventListener('error', (event) => { rec.error = String(event.message); });
  const label = () => document.getElementById('formation-epoch-label')?.textContent;
  const frame = window.requestAnimationFrame.bind(window);
  for (const name of ['setInterval', 'setTimeout', 'requestAnimationFrame']) {
    const original = window[name].bind(window);
    window[name] = (callback, ...rest) => typeof callback !== 'function'
      ? original(callback, ...rest)
      : original(function (...args) {
          if (!rec.on) return callback.apply(this, args);
          const before = label(), started = performance.now();
          try { return callback.apply(this, args); } finally {
            const after = label();
            if (after !== before) rec.steps.push({ label: after, ms: performance.now() - started });
          }
        }, ...rest);
  }
  rec.start = () => {
    let last = label();
    const watch = (t) => {
      const now = label();
      if (now !== last) { rec.shown.push({ label: now, t }); last = now; }
      if (rec.on) frame(watch);
    };
    rec.on = true;
    rec.started = performance.now();
    frame(watch);
    document.getElementById('formation-play').click();
  };
})()"""
DRAWN_OR_FAILED = (
    "() => document.querySelector('.formation-map[data-state=ready]') || window.__play.error"
)
PLAYING_STOPPED = "() => document.getElementById('formation-play').textContent === 'Play'"
SET_FIRST_EPOCH = """() => {
  const slider = document.getElementById('formation-epoch');
  slider.value = '0';
  slider.dispatchEvent(new Event('input'));
}"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs", type=int, nargs="+", default=[20, 200], help="recorded epochs, per run"
    )
    parser.add_argument("--images", type=int, default=2000, help="probe images of each run")
    parser.add_argument("--arch", default="codinet_resnet110", help="the runs' network")


def intended_ms(epochs: int) -> float:
    return min(STEP_MS[1], max(STEP_MS[0], PLAY_MS / epochs))


def prepare(root: Path, sizes: Sequence[int], images: int, arch: str) -> list[str]:
    """CIFAR-format data with ``images`` test images and one run per size; the ids."""
    from trainer.models import create_model

    write_cifar10(root / "data", per_batch=4, test_size=images)
    gates = create_model(arch, num_classes=10).num_gates
    ids = []
    for epochs in sizes:
        run = root / "runs" / f"formation-{epochs}"
        write_varied_model(run, root / "data", arch, images=20)
        synthetic_formation(run, epochs, images, gates)
        ids.append(run.name)
    return ids


def play(browser, base: str, model_id: str) -> dict:
    """Open the run's Formation tab, play it from the first epoch; what the page saw."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(600_000)
    page.add_init_script(RECORDER)
    page.goto(f"{base}/#model={model_id}&tab=formation&method=pca")
    page.wait_for_function(DRAWN_OR_FAILED, polling=200)
    failed = page.evaluate("() => window.__play.error")
    if failed:
        raise RuntimeError(f"{model_id}: the page failed: {failed}")
    page.evaluate(SET_FIRST_EPOCH)
    page.wait_for_timeout(500)  # the first epoch drawn, and the page at rest
    page.evaluate("() => window.__play.start()")
    page.wait_for_function(PLAYING_STOPPED, polling=100)
    page.wait_for_timeout(200)  # the last frame noted
    recorded = page.evaluate("() => { window.__play.on = false; return window.__play; }")
    page.close()
    if recorded["error"]:
        raise RuntimeError(f"{model_id}: the page failed: {recorded['error']}")
    return recorded


def p95(values: Sequence[float]) -> float:
    return float(np.percentile(values, 95))


def summarise(epochs: int, recorded: dict) -> dict:
    shown = [entry["t"] for entry in recorded["shown"]]
    intervals = np.diff(shown).tolist()
    step = intended_ms(epochs)
    return {
        "epochs": epochs,
        "intended": step,
        "steps": [entry["ms"] for entry in recorded["steps"]],
        "shown": len(shown),
        "intervals": intervals,
        "total": (shown[-1] - recorded["started"]) / 1e3,
        "intended_total": (epochs - 1) * step / 1e3,
    }


def row(result: dict, images: int) -> list:
    steps, intervals = result["steps"], result["intervals"]
    seen_p95, total = p95(intervals), result["total"]
    met = seen_p95 <= SLACK * result["intended"] and (
        1 / SLACK <= total / result["intended_total"] <= SLACK
    )
    return [
        f"{result['epochs']} x {images:,}",
        f"{result['intended']:.0f}",
        f"{statistics.median(steps):.0f} / {p95(steps):.0f}",
        f"{statistics.median(intervals):.0f} / {seen_p95:.0f}",
        f"{result['shown']} of {result['epochs'] - 1}",
        f"{total:.1f} / {result['intended_total']:.1f}",
        pass_fail(met),
    ]


def main(argv: Sequence[str] | None = None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    if args.tiny:
        args.epochs, args.images, args.arch = [3, 5], 60, "codinet_resnet20"
    print(cpu_summary())
    results = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        ids = prepare(root, args.epochs, args.images, args.arch)
        served = backend_server(root / "runs", root / "cache", root / "data", warmup=False)
        with served as server, httpx.Client(base_url=server.url, timeout=600) as client:
            wait_until_ready(client, "/api/health", 120)
            for model_id in ids:
                wait_until_ready(client, f"/api/models/{model_id}/formation?method=pca", 1800)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
                for epochs, model_id in zip(args.epochs, ids, strict=True):
                    results.append(summarise(epochs, play(browser, server.url, model_id)))
                browser.close()

    print(
        f"\ntarget: the step shown at p95 at most {SLACK:g}x the intended step, and the "
        f"whole play within {SLACK:g}x of the intended time\n"
    )
    print_table(
        ["epochs x images", "intended step ms", "step task ms median / p95",
         "step shown ms median / p95", "epochs shown", "play s / intended", "target"],
        [row(result, args.images) for result in results],
    )  # fmt: skip
    return results


if __name__ == "__main__":
    main()
