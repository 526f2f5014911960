"""A sample's detail panel in headless Chromium: its path diagram and neighbours, a
block forced either way and reset, and its augmented views on the map."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser_support import DRAWN, MODEL, embedding, most_telling_flip

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_largest_marker(ui):
    """Hover, then click, the map's largest marker; returns the detail panel and its
    sample id."""
    selector = ui.scatter(0)
    ui.settled()
    x, y = ui.hover_largest_marker(selector)
    expect(ui.page.locator("#hover-card")).to_be_visible()
    ui.page.mouse.click(x, y)
    detail = ui.page.locator(".side-card .detail")
    expect(detail).to_be_visible()
    return detail, int(detail.get_attribute("data-sample"))


def test_click_opens_detail_with_path_diagram(ui, api):
    ui.open()
    detail, sample_id = open_largest_marker(ui)
    selector = "#scatter-0"
    table = api.get(f"/api/models/{MODEL}/paths").json()
    path = table["paths"][table["sample_ids"].index(sample_id)]
    model = api.get(f"/api/models/{MODEL}").json()
    diagram = detail.locator(".pathdiagram").first
    assert diagram.get_attribute("data-path") == path
    assert diagram.locator(".pd-block").count() == model["num_gates"]
    assert diagram.locator(".pd-stage").count() == len(model["stage_blocks"])
    executed = diagram.locator(".pd-block.on")
    assert executed.count() == path.count("1")
    states = diagram.locator(".pd-block").evaluate_all("blocks => blocks.map(b => b.dataset.state)")
    assert states == ["executed" if bit == "1" else "skipped" for bit in path]
    expect(diagram.locator(".pd-legend")).to_contain_text("executed")
    expect(diagram.locator(".pd-legend")).to_contain_text("skipped")
    # Nearest neighbours by Hamming distance, with thumbnails that load.
    tiles = detail.locator(".neighbors .tile")
    expect(tiles).to_have_count(8)
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('.detail .neighbors img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    distances = [int(t.split()[1]) for t in tiles.locator(".tile-caption").all_inner_texts()]
    assert distances == sorted(distances)
    # Images on its own path are said to share it, not listed as its nearest neighbours.
    assert min(distances) >= 1
    sharing = table["paths"].count(path) - 1
    note = detail.locator(".same-path-note")
    expect(note).to_contain_text(f"{sharing} other image" if sharing else "No other image")
    # The clicked sample is circled on the map.
    extra = ui.page.evaluate(DRAWN, selector)["extra"]
    assert [e["name"] for e in extra][-1] == "Clicked sample"  # over its views' lines
    # A neighbour opens its own detail.
    tiles.nth(3).click()
    expect(detail).not_to_have_attribute("data-sample", str(sample_id))
    assert ui.errors == []


def test_toggling_a_block_reroutes_the_sample_and_reset_restores_it(ui, api):
    embedding(api, "umap")  # so the forced path has a place on the map
    ui.open()
    detail, sample_id = open_largest_marker(ui)
    url = f"/api/models/{MODEL}/samples/{sample_id}/route"
    own = api.get(url).json()
    block, forced = most_telling_flip(api, url, own)
    diagram = detail.locator(".pathdiagram").first
    expect(diagram).to_have_attribute("data-path", own["path"])
    diagram.locator(f"button.pd-block[data-index='{block}']").click()

    box = detail.locator(".intervention")
    expect(box).to_have_attribute("data-state", "ready")
    expect(box).to_have_attribute("data-path", forced["path"])
    expect(box).to_have_attribute("data-prediction", str(forced["prediction"]))
    changed = forced["prediction"] != own["prediction"]
    expect(box).to_have_attribute("data-changed", "1" if changed else "0")
    rows = box.locator(".iv-table tbody tr")
    # One format for a prediction, here and in the panel's header: "6 · 99.9%".
    own_p = own["probabilities"][own["prediction"]]
    expect(rows.nth(0)).to_contain_text(f"{own['class_name']} · {100 * own_p:.1f}%")
    header = detail.locator(".stat", has_text="Predicted")
    expect(header).to_contain_text(re.compile(rf"{own['class_name']} · \d+\.\d%"))
    expect(rows.nth(0)).to_contain_text(f"{own['executed_blocks']} of {len(own['path'])}")
    expect(rows.nth(1)).to_contain_text(f"{forced['class_name']} · ")
    expect(rows.nth(1)).to_contain_text(f"{forced['executed_blocks']} of {len(own['path'])}")
    # The diagram shows the forced path, the flipped block outlined.
    expect(diagram).to_have_attribute("data-path", forced["path"])
    expect(diagram.locator(".pd-block.differs")).to_have_count(1)
    expect(diagram.locator(f".pd-block[data-index='{block}']")).to_have_class(re.compile("differs"))
    # The comparison is in view without scrolling the panel.
    assert box.evaluate(
        "b => { const r = b.getBoundingClientRect(), p = b.closest('.side-body')"
        ".getBoundingClientRect(); return r.top >= p.top && r.top < p.bottom; }"
    )
    # A star where the forced path lands on the map.
    selector = ui.scatter(0, forced="1")
    placed = forced["embedding"]["umap"]
    assert ui.page.evaluate(DRAWN, selector)["extra"][-1] == {
        "name": f"#{sample_id}, forced",
        "x": placed["x"],
        "y": placed["y"],
    }

    box.locator(".iv-reset").click()
    expect(detail.locator(".intervention")).to_have_count(0)
    expect(diagram).to_have_attribute("data-path", own["path"])
    ui.scatter(0, forced="0")
    assert ui.errors == []


PLOT_AREA = """(selector) => {
  const l = document.querySelector(selector)._fullLayout;
  return [l.xaxis._offset, l.xaxis._length, l.yaxis._offset, l.yaxis._length];
}"""


def test_the_plot_area_holds_still_when_the_legend_changes(ui, api):
    """Forcing a block adds the forced path's star to the legend, and the colouring
    changes its entries; the markers must not move (the legend has a fixed place)."""
    embedding(api, "umap")
    ui.open()
    detail, sample_id = open_largest_marker(ui)
    selector = ui.scatter(0)
    before = ui.page.evaluate(PLOT_AREA, selector)
    url = f"/api/models/{MODEL}/samples/{sample_id}/route"
    block, _ = most_telling_flip(api, url, api.get(url).json())
    detail.locator(f".pathdiagram button.pd-block[data-index='{block}']").first.click()
    ui.scatter(0, forced="1")
    assert ui.page.evaluate(PLOT_AREA, selector) == before
    for mode in ("cost", "correct", "prediction"):
        ui.page.click(f"#color-switch button[data-value={mode}]")
        ui.scatter(0, color=mode)
        assert ui.page.evaluate(PLOT_AREA, selector) == before, mode
    assert ui.errors == []


def test_the_neighbour_sections_follow_a_forced_path(ui, api):
    """After forcing, "same path" and the nearest images and paths describe the forced
    path, not the image's own; the count says so once."""
    ui.open()
    detail, sample_id = open_largest_marker(ui)
    url = f"/api/models/{MODEL}/samples/{sample_id}/route"
    own = api.get(url).json()
    block, forced = most_telling_flip(api, url, own)
    table = api.get(f"/api/models/{MODEL}/paths").json()
    on_forced = sum(p == forced["path"] for p in table["paths"])
    on_own = sum(p == own["path"] for p in table["paths"])
    heads = detail.locator("h4")
    expect(heads.filter(has_text="Same path")).to_contain_text(f"{on_own} image")
    detail.locator(f".pathdiagram button.pd-block[data-index='{block}']").first.click()
    expect(detail.locator(".intervention")).to_have_attribute("data-state", "ready")
    head = heads.filter(has_text="On the forced path")
    expect(head).to_contain_text(f"{on_forced} image" if on_forced != 1 else "1 image")
    expect(detail.locator(".strip .strip-item")).to_have_count(min(on_forced, 10))
    note = detail.locator(".same-path-note")
    expect(note).to_contain_text("the forced path")
    # Said once: no second "no other image" line under the note.
    expect(detail.get_by_text(re.compile("No other image"))).to_have_count(0 if on_forced else 1)
    # The nearest images are nearest to the forced path.
    expect(heads.filter(has_text="Nearest images to the forced path")).to_have_count(1)
    listed = detail.locator(".neighbors")
    expect(listed).to_have_attribute("data-path", forced["path"])
    expect(listed).to_have_attribute("data-state", "data")
    distances = [
        int(t.split()[1]) for t in detail.locator(".neighbors .tile-caption").all_inner_texts()
    ]
    nearest = sorted(
        sum(a != b for a, b in zip(p, forced["path"], strict=True))
        for p, i in zip(table["paths"], table["sample_ids"], strict=True)
        if p != forced["path"] and i != sample_id
    )
    assert distances == nearest[: len(distances)]
    assert ui.errors == []


def test_a_samples_augmented_views_are_drawn_on_the_map_joined_to_it(ui, api, tmp_path):
    """A shown sample's augmented views: each view path's point on the map, joined to
    the sample's own point and labelled with its distance; listed in the side panel."""
    embedding(api, "umap")  # so the views have places on the map
    table = api.get(f"/api/models/{MODEL}/paths").json()
    for sample_id in table["sample_ids"][:40]:
        routed = api.get(
            f"/api/models/{MODEL}/samples/{sample_id}/route", params={"views": 8}
        ).json()
        if any(routed["views"]["distances"]):
            break
    views = routed["views"]
    ui.open(f"sample={sample_id}")
    selector = ui.scatter(0)
    detail = ui.page.locator(".side-card .detail")
    expect(detail.locator(".views .path-list li")).to_have_count(8)
    ui.page.wait_for_function(
        f"() => document.querySelector('{selector}').data.some(t => /views moved/.test(t.name))"
    )
    drawn = ui.page.evaluate(
        """(selector) => {
          const data = document.querySelector(selector).data;
          const pick = (test) => data.find(t => test(t.name));
          const views = pick(n => /views moved/.test(n)), links = pick(n => n === 'View links');
          const ring = pick(n => n === 'Clicked sample');
          return {name: views.name, x: views.x, y: views.y, text: views.text,
                  links: [links.x, links.y], ring: [ring.x[0], ring.y[0]]};
        }""",
        selector,
    )
    moved = {}
    for i, (path, distance) in enumerate(zip(views["paths"], views["distances"], strict=True)):
        if distance:
            moved.setdefault(path, []).append(i)
    count = sum(len(v) for v in moved.values())
    assert drawn["name"] == f"{count}/8 views moved"
    placed = views["embedding"]["umap"]
    expected = [
        (placed[i[0]]["x"], placed[i[0]]["y"], views["distances"][i[0]], len(i))
        for i in moved.values()
    ]
    points = sorted(zip(drawn["x"], drawn["y"], strict=True))
    assert [c for point in points for c in point] == pytest.approx(
        [c for x, y, _, _ in sorted(expected) for c in (x, y)]
    )
    assert sorted(drawn["text"]) == sorted(
        f"d {d}" + (f" ×{k}" if k > 1 else "") for _, _, d, k in expected
    )
    # Each line starts at the sample's own (ringed) point.
    starts = list(zip(drawn["links"][0][::3], drawn["links"][1][::3], strict=True))
    assert starts == [tuple(drawn["ring"])] * len(expected)
    ui.page.locator(".plot-card").first.screenshot(path=str(tmp_path / "views.png"))
    assert ui.errors == []


ROW_COLUMNS = """lists => lists.map(list => [...list.children].map(row => {
    const last = row.lastElementChild.getBoundingClientRect();
    const top = row.getBoundingClientRect().top;
    return {left: Math.round(last.left), top: Math.round(last.top - top)};
}))"""


def test_the_path_lists_rows_keep_their_columns_when_text_wraps(ui):
    """A long "Nearest other paths" row wraps within its own column, beside the path
    and its distance, as the short rows sit: no row drops its text under the path (at
    1280 px the side panel is about 360 px wide)."""
    ui.open()
    detail, _ = open_largest_marker(ui)
    expect(detail.locator(".path-list li").first).to_be_visible()
    for rows in detail.locator(".path-list").evaluate_all(ROW_COLUMNS):
        assert len({row["left"] for row in rows}) == 1, rows
        assert all(row["top"] <= 4 for row in rows), rows
    assert ui.errors == []
