"""Models that stretch the page, in headless Chromium: a deep one (27 gates), one with
long class names, and one with too few distinct paths for UMAP."""

import httpx
import pytest
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import wait_for_result
from tests.browser_support import BUSY_TIMEOUT, LiveServer, page_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def odd_server(digits_runs, tmp_path_factory):
    """Models that stretch the page: a deep one (27 gates), one with long class names,
    and one whose gates leave two distinct paths (too few for UMAP)."""
    import torch

    from tests.backend_helpers import quick_config
    from trainer.train import main as train

    root = tmp_path_factory.mktemp("odd")
    runs = root / "runs"
    train(quick_config(runs / "deep", arch="codinet_resnet56", epochs=1))
    source = torch.load(digits_runs / "digits" / "checkpoint.pt", weights_only=True)
    long_names = {**source, "class_names": [f"{n}-{name}" for n, name in enumerate(CIFAR_NAMES)]}
    few = {**source, "state_dict": dict(source["state_dict"])}
    for block in range(1, few["num_gates"]):  # every gate but the first always executes
        weight = few["state_dict"][f"blocks.{block}.gate.fc2.weight"]
        few["state_dict"][f"blocks.{block}.gate.fc2.weight"] = torch.zeros_like(weight)
        few["state_dict"][f"blocks.{block}.gate.fc2.bias"] = torch.tensor([8.0, -8.0])
    for name, checkpoint in (("long-names", long_names), ("few-paths", few)):
        (runs / name).mkdir(parents=True)
        torch.save(checkpoint, runs / name / "checkpoint.pt")
    app = create_app(Settings(runs_dir=runs, cache_dir=root / "cache", warmup=False))
    with LiveServer(app) as live:
        yield live


CIFAR_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
]  # fmt: skip


@pytest.fixture
def odd_ui(browser, odd_server):
    with page_session(browser, odd_server.url) as session:
        yield session


def test_a_pca_fallback_is_called_pca_on_the_map(odd_ui):
    api = httpx.Client(base_url=odd_ui.base, timeout=120)
    _, response = wait_for_result(api, "/api/models/few-paths/embeddings/umap")
    params = response.json()["params"]
    assert params["fallback"].startswith("pca")
    odd_ui.open("model=few-paths")
    selector = odd_ui.scatter(0, method="umap", drawn="pca")
    expect(odd_ui.page.locator(".plot-title").first).to_have_text("PCA map of the routing paths")
    expect(odd_ui.page.locator(".fallback-note")).to_contain_text(
        f"UMAP was asked for, but the model takes only {params['distinct_paths']} distinct paths"
    )
    axis = odd_ui.page.evaluate(
        f"() => document.querySelector('{selector}')._fullLayout.xaxis.title.text"
    )
    assert axis.startswith("PCA")
    assert odd_ui.errors == []


def test_a_path_of_27_blocks_stays_inside_the_hover_card(odd_ui):
    odd_ui.open("model=deep")
    selector = odd_ui.scatter(0)
    odd_ui.settled()
    odd_ui.hover_largest_marker(selector)
    card = odd_ui.page.locator("#hover-card")
    expect(card).to_be_visible()
    assert len(card.locator("code").inner_text()) == 27
    inside = card.evaluate(
        """c => { const box = c.getBoundingClientRect();
          return [...c.querySelectorAll('.hc-path code, .hc-path .pd-mini')].every(n => {
            const r = n.getBoundingClientRect(); return r.right <= box.right && r.left >= box.left;
          }); }"""
    )
    assert inside
    assert odd_ui.errors == []


def test_long_class_names_are_not_clipped_on_the_heatmaps(odd_ui):
    odd_ui.open("model=long-names&tab=classes")
    for chart in ("chart-block-rate-0", "chart-diversity-0"):
        odd_ui.page.wait_for_selector(f"#{chart}[data-state=ready]", timeout=BUSY_TIMEOUT)
        fits = odd_ui.page.evaluate(
            """(id) => { const gd = document.getElementById(id);
              const labels = [...gd.querySelectorAll('.yaxislayer-above .ytick text')];
              const plot = gd.getBoundingClientRect();
              const title = gd.querySelector('.g-ytitle text').getBoundingClientRect();
              const boxes = labels.map(t => t.getBoundingClientRect());
              return {
                names: labels.map(t => t.textContent),
                inside: boxes.every(b => b.left >= plot.left),
                clear: boxes.every(b => b.left >= title.right),
              }; }""",
            chart,
        )
        assert "0-airplane" in fits["names"] and "1-automobile" in fits["names"], fits
        assert fits["inside"] and fits["clear"], (chart, fits)
    assert odd_ui.errors == []
