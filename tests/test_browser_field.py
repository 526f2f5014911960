"""Imported networks of the field in the page, as a researcher compares them: a SkipNet
(17 gates) and a BlockDrop (15) imported from the committed reference files, next to a
CoDiNet made here (9), on the same CIFAR-format images, in every view of the dashboard."""

import re
from pathlib import Path

import httpx
import pytest
import torch
from PIL import Image
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import encode, wait_for_result
from tests.browser_support import BUSY_TIMEOUT, LiveServer, flipped, most_telling_flip, page_session
from tests.cifar_files import varied_images, write_cifar10

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATA = Path(__file__).parent / "data" / "field"
SHOTS = Path("/tmp/field_shots")  # screenshots for a person to look at
SLOW = BUSY_TIMEOUT  # ms: what waits on the server (routing, maps) on a busy machine
# model id -> (--from, the original file)
IMPORTED = {
    "skipnet": ("skipnet", DATA / "skipnet" / "model_best.pth.tar"),
    "blockdrop": (
        "blockdrop",
        DATA / "blockdrop" / "ckpt_E_2000_A_0.062_R_-4.64E+00_S_6.69_#_16.t7",
    ),
}
CODINET = "codinet"
# model id -> what the model table says of its network
NETWORKS = {
    "skipnet": "SkipNet ResNet-38 · 17 gates",
    "blockdrop": "BlockDrop ResNet-32 · 15 gates",
    CODINET: "CoDiNet ResNet-20 · 9 gates",
}


def write_codinet(run: Path, data_dir: Path) -> None:
    """An untrained CIFAR-10 CoDiNet ResNet-20 with randomised gates. Its BatchNorm
    statistics are set from the training images first, as a trained model's would be:
    fresh ones let the activations grow until nearly every image takes one path."""
    from tests.conftest import randomize_gates
    from trainer.checkpoint import build_checkpoint, save_atomic
    from trainer.data import build_transform, load_dataset
    from trainer.models import create_model

    bundle = load_dataset("cifar10", data_dir, 32)
    transform = build_transform(bundle.preprocessing, train=False)
    images = torch.stack([transform(bundle.train[i][0]) for i in range(len(bundle.train))])
    torch.manual_seed(0)
    model = create_model("codinet_resnet20", num_classes=10, in_channels=3)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # a plain average
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()
    randomize_gates(model, seed=0)
    run.mkdir(parents=True)
    checkpoint = build_checkpoint(
        model, bundle.class_names, bundle.preprocessing, {}, {"seed": 0}, epoch=0
    )
    save_atomic(checkpoint, run / "checkpoint.pt")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from trainer.field.importer import import_checkpoint

    root = tmp_path_factory.mktemp("field-browser")
    data, runs = root / "data", root / "runs"
    write_cifar10(data, per_batch=12, test_size=60, images=varied_images)
    for model_id, (source, original) in IMPORTED.items():
        import_checkpoint(source, original, "cifar10", runs / model_id, data_dir=data)
    write_codinet(runs / CODINET, data)
    settings = Settings(runs_dir=runs, data_dir=data, cache_dir=root / "cache", warmup=False)
    with LiveServer(create_app(settings)) as live:
        yield live


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server.url, timeout=300) as client:
        yield client


@pytest.fixture
def ui(browser, server):
    with page_session(browser, server.url) as session:
        session.page.set_default_timeout(BUSY_TIMEOUT)
        yield session


# Captions of the neighbour tiles that stick out of their tile, or tiles that overlap the
# next one in their row: [[caption, why], ...].
TILES_OVERFLOWING = """(selector) => {
  const bad = [];
  for (const grid of document.querySelectorAll(selector)) {
    const tiles = [...grid.querySelectorAll('.tile')];
    tiles.forEach((tile, i) => {
      const t = tile.getBoundingClientRect();
      const caption = tile.querySelector('.tile-caption');
      const c = caption.getBoundingClientRect();
      if (c.left < t.left - 0.5 || c.right > t.right + 0.5) bad.push([caption.textContent, 'out']);
      const next = tiles[i + 1] && tiles[i + 1].getBoundingClientRect();
      if (next && Math.abs(next.top - t.top) < 1 && next.left < t.right - 0.5)
        bad.push([caption.textContent, 'overlaps the next tile']);
    });
  }
  return bad;
}"""


# What sticks out of the hover card's content box: [[text, pixels out], ...].
HOVER_CARD_OVERFLOWING = """() => {
  const card = document.querySelector('#hover-card');
  const box = card.getBoundingClientRect(), style = getComputedStyle(card);
  const left = box.left + parseFloat(style.borderLeftWidth) + parseFloat(style.paddingLeft);
  const right = box.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight);
  return [...card.querySelectorAll('.hc-thumbs figcaption, .hc-head, .hc-sub, .hc-path')]
    .map(n => [n.textContent, n.getBoundingClientRect()])
    .filter(([, r]) => r.right > right + 0.5 || r.left < left - 0.5)
    .map(([text, r]) => [text, Math.round(Math.max(r.right - right, left - r.left))]);
}"""


# A class x block heatmap's crowding: cell labels that run into the next one in their
# row, whether the x-axis title stands clear below the (rotated) block labels, and lines
# drawn over the cells.
HEATMAP_CROWDING = """(id) => {
  const gd = document.getElementById(id);
  const boxes = [...gd.querySelectorAll('.heatmaplayer text')]
    .map(t => t.getBoundingClientRect()).filter(r => r.width > 0)
    .sort((a, b) => a.top - b.top || a.left - b.left);
  let overlapping = 0;
  boxes.forEach((r, i) => {
    const next = boxes[i + 1];
    if (next && Math.abs(next.top - r.top) < 1 && next.left < r.right - 0.5) overlapping += 1;
  });
  const title = gd.querySelector('.g-xtitle text').getBoundingClientRect();
  const ticks = [...gd.querySelectorAll('.xaxislayer-above .xtick text')]
    .map(t => t.getBoundingClientRect());
  const lowest = Math.max(...ticks.map(r => r.bottom));
  // A zero line would be drawn down the first block's column, through its empty cells.
  const zerolines = gd.querySelectorAll('.zerolinelayer path').length;
  return {labels: boxes.length, overlapping, titleGap: Math.round(title.top - lowest), zerolines};
}"""


def shot(ui, name: str, locator=None, full_page: bool = False) -> None:
    """A screenshot for a person to look at (the viewport is 1280x800)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if locator is not None:
        locator.screenshot(path=str(SHOTS / name))
    else:
        ui.page.screenshot(path=str(SHOTS / name), full_page=full_page)


def model_row(ui, model_id: str):
    return ui.page.locator(f"#models-body tr[data-model='{model_id}']")


def both_maps(ui, **attributes) -> None:
    for index in (0, 1):
        ui.scatter(index, **attributes)


def open_largest_marker(ui, name: str):
    """Hover, then click, the first map's largest marker; returns the first model's
    detail panel and the sample's id (in a comparison each model's panel shows it).
    The hover card's screenshot is hover-{name}.png."""
    selector = ui.scatter(0)
    ui.settled()
    x, y = ui.hover_largest_marker(selector)
    expect(ui.page.locator("#hover-card")).to_be_visible()
    # CIFAR's class names ("automobile→airplane") under the thumbnails stay in the card.
    assert ui.page.evaluate(HOVER_CARD_OVERFLOWING) == []
    shot(ui, f"hover-{name}.png", ui.page.locator("#hover-card"))
    ui.page.mouse.click(x, y)
    detail = ui.page.locator(".side-card[data-side='0'] .detail")
    expect(detail).to_be_visible(timeout=SLOW)
    return detail, int(detail.get_attribute("data-sample"))


def photo_file(tmp_path) -> Path:
    from skimage import data as skimage_data

    astronaut = Image.fromarray(skimage_data.astronaut()).resize((128, 128))
    path = tmp_path / "astronaut.png"
    path.write_bytes(encode(astronaut, "PNG"))
    return path


# -- tests -----------------------------------------------------------------------------


def test_the_model_table_names_each_family_and_says_imported(ui, api):
    models = {m["id"]: m for m in api.get("/api/models").json()}
    assert set(models) == set(NETWORKS)
    ui.open()
    expect(ui.page.locator("#models-body tr[data-model]")).to_have_count(3, timeout=SLOW)
    for model_id, network in NETWORKS.items():
        cells = model_row(ui, model_id).locator("td")
        expect(cells.nth(2)).to_have_text(network)
        epoch = cells.nth(7)
        if model_id in IMPORTED:
            source_file = IMPORTED[model_id][1].name
            expect(epoch).to_have_text("imported")
            expect(epoch).to_have_attribute("title", re.compile(re.escape(source_file)))
            expect(cells.nth(2)).to_have_attribute(
                "title", re.compile(f"imported from {re.escape(source_file)}")
            )
        else:
            expect(epoch).to_have_text(str(models[model_id]["epoch"]))
            expect(cells.nth(2)).to_have_attribute("title", re.compile("trained here"))
        expect(cells.nth(1)).to_have_text("CIFAR-10")
    ui.scatter(0)
    ui.settled()
    shot(ui, "model-table.png", ui.page.locator("#models-body").locator("xpath=ancestor::table"))
    shot(ui, "page-single.png")
    # BlockDrop's 15 blocks across the whole page: each cell labelled, none crowded.
    ui.page.click("#tab-btn-classes")
    ui.page.wait_for_selector("#chart-block-rate-0[data-state=ready]")
    crowding = ui.page.evaluate(HEATMAP_CROWDING, "chart-block-rate-0")
    assert crowding["labels"] == 15 * 10
    assert crowding["overlapping"] == crowding["zerolines"] == 0 and crowding["titleGap"] >= 0
    shot(ui, "single-block-rate.png", ui.page.locator(".chart-card[data-chart=block-rate]"))
    assert ui.errors == []


def test_skipnet_and_codinet_side_by_side_in_every_view(ui, api, tmp_path):
    for model_id in ("skipnet", CODINET):  # mapped once here: the page's waits stay short
        wait_for_result(api, f"/api/models/{model_id}/embeddings/umap", 600)
    skipnet = api.get("/api/models/skipnet").json()
    codinet = api.get(f"/api/models/{CODINET}").json()

    # The routing maps, side by side.
    ui.open("model=skipnet")
    ui.scatter(0, method="umap")
    ui.settled()
    model_row(ui, CODINET).locator("input[type=checkbox]").check()
    both_maps(ui, method="umap")
    expect(ui.page.locator("#model-chips")).to_contain_text("skipnet")
    expect(ui.page.locator("#model-chips")).to_contain_text(f"vs {CODINET}")
    titles = ui.page.locator(".side-card .side-title")
    expect(titles).to_have_text(["skipnet", CODINET])
    ui.page.wait_for_timeout(500)
    shot(ui, "compare-skipnet-codinet.png")
    for method in ("pca", "tsne"):
        ui.page.click(f"#method-switch button[data-value={method}]")
        both_maps(ui, method=method)

    # Classes: each chart for each model.
    ui.page.click("#tab-btn-classes")
    for chart in ("consistency", "diversity", "unique-paths", "block-rate", "importance"):
        for index in (0, 1):
            ui.page.wait_for_selector(f"#chart-{chart}-{index}[data-state=ready]")
    # 17 and 9 blocks in half a page: no cell label runs into the next, and the x-axis
    # title stands below the rotated block labels.
    for chart in ("block-rate", "importance"):
        for index in (0, 1):
            crowding = ui.page.evaluate(HEATMAP_CROWDING, f"chart-{chart}-{index}")
            clear = crowding["overlapping"] == crowding["zerolines"] == 0
            assert clear and crowding["titleGap"] >= 0, (chart, index, crowding)
    shot(ui, "compare-classes.png", ui.page.locator("#tab-classes"))

    # An uploaded photo, routed through both.
    ui.page.click("#tab-btn-upload")
    ui.page.set_input_files("#file-input", str(photo_file(tmp_path)))
    for model in (skipnet, codinet):
        card = ui.page.locator(f".result-card[data-model='{model['id']}']")
        expect(card).to_have_attribute("data-state", "ready", timeout=SLOW)
        diagram = card.locator(".result-main .pathdiagram")
        expect(diagram).to_have_attribute("data-blocks", str(model["num_gates"]))
        expect(diagram.locator(".pd-block")).to_have_count(model["num_gates"])
        expect(card.locator(".stats")).to_contain_text(f"of {model['num_gates']} blocks")
    expect(ui.page.locator(".result-card .neighbors .tile")).to_have_count(16)
    assert ui.page.evaluate(TILES_OVERFLOWING, ".result-card .neighbors") == []
    ui.page.wait_for_timeout(300)
    shot(ui, "compare-upload.png", full_page=True)

    # Training: an imported model has no curves, and says so.
    ui.page.click("#tab-btn-training")
    summary = ui.page.locator(".training-summary")
    expect(summary.locator("[data-model='skipnet']")).to_contain_text(
        "imported from model_best.pth.tar (ucbdrive/skipnet), not trained here, "
        "so there are no training curves",
        timeout=SLOW,
    )
    expect(summary.locator(f"[data-model='{CODINET}']")).to_contain_text(
        "the run folder has no readable metrics.jsonl, so there are no curves to show"
    )
    expect(ui.page.locator("#training-accuracy")).to_have_count(0)
    shot(ui, "compare-training.png")

    # Back to the maps: a SkipNet sample, its 17 blocks, one of them forced.
    ui.page.click("#tab-btn-routing")
    both_maps(ui, method="tsne")
    # The photo is starred on both maps, after the classes (and its views) in their legends.
    for index in (0, 1):
        legend = ui.page.locator(f"#scatter-{index} .legend .traces .legendtext").evaluate_all(
            "texts => texts.map(t => t.textContent)"
        )
        assert legend[-1] == "Your image", legend
        classes = [entry for entry in legend[:-1] if not entry.endswith(" views moved")]
        assert len(classes) >= len(legend) - 2, legend
        assert all(re.fullmatch(r"[a-z]+ \(\d+\)", entry) for entry in classes), legend
    detail, sample_id = open_largest_marker(ui, "skipnet")
    table = api.get("/api/models/skipnet/paths").json()
    path = table["paths"][table["sample_ids"].index(sample_id)]
    diagram = detail.locator(".pathdiagram").first
    expect(diagram).to_have_attribute("data-path", path)
    expect(diagram.locator(".pd-block")).to_have_count(17)
    expect(diagram.locator(".pd-stage")).to_have_count(len(skipnet["stage_blocks"]))
    states = diagram.locator(".pd-block").evaluate_all("blocks => blocks.map(b => b.dataset.state)")
    assert states == ["executed" if bit == "1" else "skipped" for bit in path]
    # The same image in the CoDiNet's panel, on its own 9 blocks.
    other = ui.page.locator(".side-card[data-side='1'] .detail .pathdiagram").first
    expect(other).to_have_attribute("data-blocks", "9", timeout=SLOW)
    # CIFAR's class names under the neighbours fit the half-width panels.
    expect(ui.page.locator(".side-card .detail .neighbors .tile")).to_have_count(16)
    assert ui.page.evaluate(TILES_OVERFLOWING, ".side-card .detail .neighbors") == []
    shot(ui, "compare-detail.png", full_page=True)

    url = f"/api/models/skipnet/samples/{sample_id}/route"
    own = api.get(url).json()
    assert own["path"] == path
    block, forced = most_telling_flip(api, url, own)
    assert forced["path"] == flipped(path, block)
    diagram.locator(f"button.pd-block[data-index='{block}']").click()
    box = detail.locator(".intervention")
    expect(box).to_have_attribute("data-state", "ready", timeout=SLOW)
    expect(box).to_have_attribute("data-path", forced["path"])
    expect(box).to_have_attribute("data-prediction", str(forced["prediction"]))
    expect(diagram).to_have_attribute("data-path", forced["path"])
    expect(diagram.locator(".pd-block.differs")).to_have_count(1)
    rows = box.locator(".iv-table tbody tr")
    expect(rows.nth(0)).to_contain_text(f"{own['executed_blocks']} of 17")
    expect(rows.nth(1)).to_contain_text(f"{forced['executed_blocks']} of 17")
    ui.scatter(0, forced="1")
    shot(ui, "compare-forced.png", full_page=True)
    box.locator(".iv-reset").click()
    expect(detail.locator(".intervention")).to_have_count(0)
    expect(diagram).to_have_attribute("data-path", path)
    assert ui.errors == []


def test_blockdrop_compares_with_skipnet(ui, api):
    for model_id in ("blockdrop", "skipnet"):
        wait_for_result(api, f"/api/models/{model_id}/embeddings/umap", 600)
    ui.open("model=blockdrop&compare=skipnet")
    both_maps(ui, method="umap")
    detail, _ = open_largest_marker(ui, "blockdrop")
    expect(detail.locator(".pathdiagram").first).to_have_attribute("data-blocks", "15")
    expect(detail.locator(".pathdiagram").first.locator(".pd-block")).to_have_count(15)
    other = ui.page.locator(".side-card[data-side='1'] .detail .pathdiagram").first
    expect(other).to_have_attribute("data-blocks", "17", timeout=SLOW)
    ui.page.wait_for_timeout(300)
    shot(ui, "compare-blockdrop-skipnet.png", full_page=True)
    assert ui.errors == []
