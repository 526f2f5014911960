"""The training tab in headless Chromium: the curves of one run and of two, and the
loss terms as optimised."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser_support import BUSY_TIMEOUT, MODEL, OTHER

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_training_curves_with_one_epoch_numbering_and_a_run_without_them(ui, api):
    log = api.get(f"/api/models/{MODEL}/training").json()
    assert api.get(f"/api/models/{OTHER}/training").json()["epochs"] == []
    model = api.get(f"/api/models/{MODEL}").json()
    ui.open(f"model={MODEL}&compare={OTHER}&tab=training")
    ui.page.wait_for_selector("#training-accuracy[data-state=ready]", timeout=BUSY_TIMEOUT)
    traces = ui.page.evaluate(
        "() => document.querySelector('#training-accuracy').data"
        ".map(t => ({name: t.name, x: t.x, y: t.y, dash: t.line.dash}))"
    )
    assert [t["name"] for t in traces] == ["test", "train"]
    assert traces[0]["dash"] == "solid"
    assert traces[0]["x"] == [row["epoch"] for row in log["epochs"]]
    assert traces[0]["y"] == [row["accuracy"] for row in log["epochs"]]
    assert traces[0]["x"][0] == 1
    line = ui.page.evaluate(
        "() => document.querySelector('#training-accuracy').layout.shapes[0].x0"
    )
    assert line == model["epoch"] == log["checkpoint_epoch"]
    summary = ui.page.locator(".training-summary")
    expect(summary.locator(f"[data-model='{MODEL}']")).to_contain_text(
        f"{len(log['epochs'])} epochs from metrics.jsonl; the served checkpoint is from epoch "
        f"{model['epoch']}"
    )
    expect(summary.locator(f"[data-model='{OTHER}']")).to_contain_text("no readable metrics.jsonl")
    table = ui.page.locator(f"#models-body tr[data-model='{MODEL}'] td.num").last
    expect(table).to_have_text(str(model["epoch"]))
    for panel in ("cost", "macs", "measures", "losses", "lr"):
        ui.page.wait_for_selector(f"#training-{panel}[data-state=ready]")
    assert ui.errors == []


def test_the_loss_panel_plots_each_term_as_optimised(ui, api):
    """weight x term, with the weights the run was trained with: the terms add up to the
    total the optimiser saw."""
    log = api.get(f"/api/models/{MODEL}/training").json()
    weights = log["loss_weights"]
    assert weights["consistency_loss"] > 0 and weights["ce"] == 1
    ui.open(f"model={MODEL}&tab=training")
    ui.page.wait_for_selector("#training-losses[data-state=ready]", timeout=BUSY_TIMEOUT)
    traces = ui.page.evaluate(
        "() => Object.fromEntries(document.querySelector('#training-losses').data"
        ".map(t => [t.name, t.y]))"
    )
    logged = [row["consistency_loss"] for row in log["epochs"]]
    expected = [weights["consistency_loss"] * value for value in logged]
    assert traces["consistency"] == pytest.approx(expected)
    terms = ("cross-entropy", "consistency", "diversity", "cost", "target rate")
    for epoch, total in enumerate(traces["total"]):
        assert sum(traces[name][epoch] for name in terms if name in traces) == pytest.approx(
            total, rel=1e-6
        )
    card = ui.page.locator(".chart-card[data-chart=training-losses]")
    expect(card).to_contain_text("weight × term")
    assert ui.errors == []


def test_compared_training_curves_name_each_run_and_spread_the_loss_terms(ui, api):
    """Two runs' curves: the legend says which run each line is; the loss terms, orders
    of magnitude apart, are on a log axis, and a term switched off is named, not drawn."""
    log = api.get(f"/api/models/{MODEL}/training").json()
    other = {**log, "loss_weights": {**log["loss_weights"], "consistency_loss": 0.0}}
    ui.page.route(
        f"**/api/models/{OTHER}/training*",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(other)
        ),
    )
    ui.open(f"model={MODEL}&compare={OTHER}&tab=training")
    ui.page.wait_for_selector("#training-losses[data-state=ready]", timeout=BUSY_TIMEOUT)
    for panel in ("accuracy", "losses"):
        legend = ui.page.locator(f"#training-{panel} .legend")
        expect(legend).to_contain_text(f"{MODEL} (solid)")
        expect(legend).to_contain_text(f"{OTHER} (dashed)")
    drawn = ui.page.evaluate(
        """() => {
          const gd = document.querySelector('#training-losses');
          return {axis: gd._fullLayout.yaxis.type,
                  traces: gd.data.filter(t => t.meta.series)
                    .map(t => [t.meta.run, t.meta.series, Math.min(...t.y), t.line.dash])};
        }"""
    )
    assert drawn["axis"] == "log"
    names = {(run, series) for run, series, _, _ in drawn["traces"]}
    assert (MODEL, "consistency_loss") in names and (OTHER, "consistency_loss") not in names
    assert all(low > 0 for _, _, low, _ in drawn["traces"])
    assert {(run, dash) for run, _, _, dash in drawn["traces"]} == {
        (MODEL, "solid"),
        (OTHER, "dash"),
    }
    note = ui.page.locator(".chart-card[data-chart=training-losses] .undrawn-note")
    expect(note).to_contain_text(f"{OTHER}: consistency")
    expect(note).to_contain_text("at 0 every epoch")
    assert ui.errors == []
