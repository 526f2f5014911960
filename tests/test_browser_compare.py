"""Two checkpoints compared in headless Chromium: both maps and their measures, the
per-class charts side by side, and an ablation's variants over seeds."""

import httpx
import pytest
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.browser_support import BUSY_TIMEOUT, MODEL, OTHER, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
