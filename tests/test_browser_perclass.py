"""The per-class tab in headless Chromium: its charts, and the block importance heatmap
of a whole split and of a sampled one."""

import pytest
from playwright.sync_api import expect

from tests.backend_helpers import wait_for_result
from tests.browser_support import BUSY_TIMEOUT, MODEL

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
