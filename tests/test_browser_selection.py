"""Selecting samples in headless Chromium: a box on one map or two, a class hidden
through the legend, and the Find box."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser_support import MODEL, download_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# A map's plot area on the page: [left, top, width, height].
PLOT_BOX = """(selector) => {
  const gd = document.querySelector(selector), r = gd.getBoundingClientRect();
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  return [r.left + xa._offset, r.top + ya._offset, xa._length, ya._length];
}"""

# The legend groups of a map's sample traces that hold selected (highlighted) markers.
HIGHLIGHTED_GROUPS = """(selector) => [...new Set(document.querySelector(selector).data
  .filter(t => t.hoverinfo !== 'skip' && t.selectedpoints && t.selectedpoints.length)
  .map(t => t.legendgroup))].sort()"""


def box_select_all(ui, selector: str) -> None:
    """Drag a box over the whole plot area of the map (in Box mode)."""
    left, top, width, height = ui.page.evaluate(PLOT_BOX, selector)
    ui.page.mouse.move(left + 2, top + 2)
    ui.page.mouse.down()
    ui.page.mouse.move(left + width / 2, top + height / 2, steps=5)
    ui.page.mouse.move(left + width - 2, top + height - 2, steps=5)
    ui.page.mouse.up()


def test_box_selection_summarises_samples(ui, api):
    ui.open()
    selector = ui.scatter(0)
    ui.settled()
    ui.page.click("#drag-switch button[data-value=select]")
    ui.scatter(0)
    box_select_all(ui, selector)
    summary = ui.page.locator(".side-card .selection")
    expect(summary).to_be_visible()
    n = len(api.get(f"/api/models/{MODEL}/paths").json()["sample_ids"])
    assert summary.get_attribute("data-count") == str(n)
    expect(summary.locator(".histogram li")).to_have_count(10)
    assert summary.locator(".path-list li").count() >= 1
    expect(summary).to_contain_text("Mean MACs")
    # The selection as CSV: one row per selected sample, as the paths table has it.
    table = api.get(f"/api/models/{MODEL}/paths").json()
    rows = download_csv(ui, summary.locator("[data-export=csv]"))
    assert len(rows) == n
    assert rows[0].keys() == {
        "sample_id", "label", "prediction", "path", "executed_blocks", "macs"
    }  # fmt: skip
    by_id = {int(r["sample_id"]): r for r in rows}
    for row, sample_id in enumerate(table["sample_ids"]):
        assert by_id[sample_id]["path"] == table["paths"][row]
        assert by_id[sample_id]["label"] == str(table["labels"][row])
        assert int(by_id[sample_id]["macs"]) == table["macs"][row]
    summary.locator("button", has_text="Clear").click()
    expect(ui.page.locator(".side-card .selection")).to_have_count(0)
    assert ui.errors == []


def test_second_map_links_the_selection(ui):
    """Two maps of one model side by side: a box drawn on one highlights the other."""
    ui.open("second=pca&drag=select")
    first = ui.scatter(0, method="umap")
    second = ui.scatter(1, method="pca")
    ui.settled()
    left, top, width, height = ui.page.evaluate(PLOT_BOX, first)
    ui.page.mouse.move(left + 2, top + 2)
    ui.page.mouse.down()
    ui.page.mouse.move(left + width * 0.5, top + height - 2, steps=8)
    ui.page.mouse.up()
    summary = ui.page.locator(".side-card .selection")
    expect(summary).to_be_visible()
    count = int(summary.get_attribute("data-count"))
    selected = ui.page.evaluate(
        """(selector) => document.querySelector(selector).data
          .filter(t => t.hoverinfo !== 'skip')
          .reduce((n, t) => n + (t.selectedpoints ? t.selectedpoints.length : 0), 0)""",
        second,
    )
    markers = int(ui.page.locator(second).get_attribute("data-markers"))
    samples = int(ui.page.locator(first).get_attribute("data-samples"))
    assert 0 < count < samples and 0 < selected < markers
    assert ui.errors == []


def test_a_class_hidden_through_the_legend_leaves_the_selection_summary(ui, api):
    """A class hidden with the legend is not on show: a box over the map must not count
    it, whether it was hidden before or after the box was drawn."""
    labels = api.get(f"/api/models/{MODEL}/paths").json()["labels"]
    ui.open("drag=select")
    selector = ui.scatter(0)
    ui.settled()
    box_select_all(ui, selector)
    summary = ui.page.locator(".side-card .selection")
    expect(summary).to_have_attribute("data-count", str(len(labels)))
    ui.page.locator("#scatter-0 .legend .traces").first.click()  # hides class 0
    zeros = labels.count(0)
    expect(summary).to_have_attribute("data-count", str(len(labels) - zeros))
    expect(summary.locator(".hidden-note")).to_contain_text(f"{zeros} samples of groups hidden")
    expect(summary.locator(".histogram li")).to_have_count(9)
    expect(ui.page.locator(".side-card .subtab[data-side=selection]")).to_have_text(
        f"Selection ({len(labels) - zeros})"
    )
    ui.page.locator("#scatter-0 .legend .traces").first.click()  # shows it again
    expect(summary).to_have_attribute("data-count", str(len(labels)))
    assert ui.errors == []


def test_find_a_sample_a_class_and_paths_on_every_map(ui, api):
    """The Find box: a class, a path pattern within k blocks and an exact path are
    highlighted on both maps and listed, every image paged; a sample number shows the
    sample; a query that finds nothing says so; Escape clears it."""
    table = api.get(f"/api/models/{MODEL}/paths").json()
    ui.open("second=pca")
    first = ui.scatter(0, method="umap")
    second = ui.scatter(1, method="pca")
    ui.settled()
    box = ui.page.locator("#find-input")
    summary = ui.page.locator(".side-card .selection")

    box.fill("class:3")
    box.press("Enter")
    threes = table["labels"].count(3)
    expect(summary).to_have_attribute("data-count", str(threes))
    expect(summary).to_contain_text("found: class 3")
    expect(ui.page.locator("#find-status")).to_have_text(f"{threes} images found.")
    for selector in (first, second):
        ui.page.wait_for_function(
            f"() => JSON.stringify(({HIGHLIGHTED_GROUPS})('{selector}')) === '[\"3\"]'"
        )

    # The most common path with its first block either way, within one block.
    paths = table["paths"]
    common = max(set(paths), key=paths.count)
    pattern = "?" + common[1:]
    near = [p for p in paths if sum(a != b for a, b in zip(pattern[1:], p[1:], strict=True)) <= 1]
    assert len(near) > 40  # more than a page
    box.fill(f"{pattern}~1")
    box.press("Enter")
    expect(summary).to_have_attribute("data-count", str(len(near)))
    expect(summary).to_contain_text(f"found: paths {pattern} within 1 block")
    strip = summary.locator(".paged-strip")
    expect(strip.locator(".strip-item")).to_have_count(40)
    expect(strip.locator(".pager-range")).to_have_text(f"1–40 of {len(near)}")
    strip.locator("button", has_text="Next").click()
    expect(strip.locator(".pager-range")).to_have_text(f"41–{min(80, len(near))} of {len(near)}")
    expect(strip.locator(".strip-item")).to_have_count(min(40, len(near) - 40))

    box.fill(common)
    box.press("Enter")
    expect(summary).to_have_attribute("data-count", str(paths.count(common)))

    box.fill("#7")
    box.press("Enter")
    expect(ui.page.locator(".side-card .detail")).to_have_attribute("data-sample", "7")
    assert "sample=7" in ui.page.url
    # From the shown sample: every image on its path, not only the first ten.
    own = paths[table["sample_ids"].index(7)]
    if paths.count(own) > 11:
        ui.page.locator(".side-card .browse-path").click()
        expect(summary).to_have_attribute("data-count", str(paths.count(own)))

    box.fill("zebra")
    box.press("Enter")
    expect(ui.page.locator("#find-status")).to_have_class(re.compile("tone-bad"))
    expect(ui.page.locator("#find-status")).to_contain_text("No class, sample or path")
    box.fill("class:3")
    box.press("Enter")
    expect(summary).to_have_attribute("data-count", str(threes))
    box.press("Escape")
    expect(summary).to_have_count(0)
    assert ui.page.evaluate(HIGHLIGHTED_GROUPS, first) == []
    assert ui.errors == []
