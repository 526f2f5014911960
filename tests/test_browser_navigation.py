"""Moving through the page in headless Chromium: the keyboard within radio groups and
along common paths, Back and Forward, and an address edited by hand."""

import pytest
from playwright.sync_api import expect

from tests.browser_support import embedding

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_keyboard_moves_within_radio_groups_and_steps_through_common_paths(ui, api):
    ui.open()
    ui.scatter(0)
    ui.settled()
    group = ui.page.locator("#method-switch")
    focusable = group.locator("button[tabindex='0']")
    expect(focusable).to_have_count(1)  # one Tab stop for the group
    focusable.focus()
    ui.page.keyboard.press("ArrowRight")
    ui.scatter(0, method="tsne")
    expect(group.locator("button[data-value=tsne]")).to_be_focused()
    expect(group.locator("button[data-value=tsne]")).to_have_attribute("aria-checked", "true")
    ui.page.keyboard.press("ArrowLeft")
    ui.scatter(0, method="umap")

    emb = embedding(api, "umap")
    by_count = sorted(range(len(emb["paths"])), key=lambda p: (-emb["path_counts"][p], p))
    ui.page.locator("#scatter-0").focus()
    for rank in (0, 1):
        ui.page.keyboard.press("ArrowRight")
        detail = ui.page.locator(".side-card .detail")
        expect(detail.locator(".pathdiagram").first).to_have_attribute(
            "data-path", emb["paths"][by_count[rank]]
        )
    ui.page.keyboard.press("ArrowLeft")
    expect(detail.locator(".pathdiagram").first).to_have_attribute(
        "data-path", emb["paths"][by_count[0]]
    )
    assert ui.errors == []


def test_back_forward_and_an_edited_hash_change_the_view(ui, api):
    """Each view is a history entry: Back and Forward step through them, an address
    edited by hand shows its view, and the shown sample is in the URL."""
    ui.open()
    ui.scatter(0, method="umap")
    ui.settled()
    ui.page.click("#method-switch button[data-value=pca]")
    ui.scatter(0, method="pca")
    ui.page.click("#color-switch button[data-value=correct]")
    ui.scatter(0, method="pca", color="correct")
    ui.page.locator("#scatter-0").focus()
    ui.page.keyboard.press("ArrowRight")  # the most common path's first image
    detail = ui.page.locator(".side-card .detail")
    expect(detail).to_be_visible()
    sample = detail.get_attribute("data-sample")
    assert f"sample={sample}" in ui.page.url
    ui.page.go_back()
    expect(ui.page.locator(".side-card .empty")).to_be_visible()
    ui.scatter(0, method="pca", color="correct")
    assert "sample=" not in ui.page.url
    ui.page.go_back()
    ui.scatter(0, method="pca", color="label")
    ui.page.go_back()
    ui.scatter(0, method="umap", color="label")
    expect(ui.page.locator("#method-switch button[data-value=umap]")).to_have_attribute(
        "aria-checked", "true"
    )
    ui.page.go_forward()
    ui.page.go_forward()
    ui.scatter(0, method="pca", color="correct")
    ui.page.go_forward()
    expect(detail).to_have_attribute("data-sample", sample)
    # An address edited by hand: another tab, and a sample chosen by its id.
    ui.page.evaluate("() => { location.hash = 'method=tsne&sample=7'; }")
    ui.scatter(0, method="tsne")
    expect(detail).to_have_attribute("data-sample", "7")
    ui.page.evaluate("() => { location.hash = 'tab=classes'; }")
    expect(ui.page.locator("#tab-classes")).to_be_visible()
    ui.page.go_back()
    expect(ui.page.locator("#tab-routing")).to_be_visible()
    expect(detail).to_have_attribute("data-sample", "7")
    # A copied link opens on the same sample.
    ui.page.reload()
    expect(detail).to_have_attribute("data-sample", "7")
    ui.scatter(0, method="tsne")
    assert ui.errors == []
