"""The upload tab in headless Chromium: a photo and a digit routed, a block of an upload
forced, a refused file, downloads of the result, and what the network saw."""

import base64

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.backend_helpers import digit_on_paper, encode
from tests.browser_support import (
    BUSY_TIMEOUT,
    DRAWN,
    MODEL,
    download_csv,
    download_figure,
    embedding,
    flipped,
    png_file,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_toggling_a_block_of_an_upload_reroutes_it(ui, api, tmp_path):
    digit, _ = digit_on_paper(8)
    upload = png_file(tmp_path, digit, "eight.png")
    own = api.post(f"/api/models/{MODEL}/route", files={"file": upload.open("rb")}).json()
    block = own["path"].index("1")
    forced = api.post(
        f"/api/models/{MODEL}/route",
        files={"file": upload.open("rb")},
        data={"force_path": flipped(own["path"], block)},
    ).json()
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(upload))
    card = ui.page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    card.locator(f".result-main button.pd-block[data-index='{block}']").click()
    box = card.locator(".intervention")
    expect(box).to_have_attribute("data-state", "ready")
    expect(box).to_have_attribute("data-path", forced["path"])
    expect(card.locator(".prediction-value")).to_have_text(forced["class_name"])
    expect(card.locator(".stats")).to_contain_text(f"{forced['executed_blocks']} of")
    expect(box.locator(".iv-table tbody tr").nth(0)).to_contain_text(own["class_name"])
    box.locator(".iv-reset").click()
    expect(card.locator(".intervention")).to_have_count(0)
    expect(card.locator(".result-main .pathdiagram")).to_have_attribute("data-path", own["path"])
    assert ui.errors == []


def test_upload_photo_and_digit(ui, api, tmp_path):
    from skimage import data as skimage_data

    embedding(api, "umap")  # computed, so uploads get a place on the UMAP map
    camera = png_file(tmp_path, Image.fromarray(skimage_data.camera()), "camera.png")
    expected = api.post(f"/api/models/{MODEL}/route", files={"file": camera.open("rb")}).json()
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(camera))
    card = ui.page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    expect(card.locator(".prediction-value")).to_have_text(expected["class_name"])
    diagram = card.locator(".result-main .pathdiagram")
    expect(diagram).to_have_attribute("data-path", expected["path"])
    expect(card.locator(".views .path-list li")).to_have_count(4)  # 4 augmented views
    expect(ui.page.locator("#prob-chart-0[data-state=ready]")).to_have_count(1)
    expect(card.locator(".placement-note")).to_have_attribute("data-placed", "1")
    expect(ui.page.locator("#upload-scatter-0[data-state=ready]")).to_have_count(1)
    # Its star on the routing-space map.
    ui.page.click("#tab-btn-routing")
    selector = ui.scatter(0, upload="1")
    star = ui.page.evaluate(DRAWN, selector)["extra"][-1]  # over its views' lines
    assert star == {
        "name": "Your image",
        "x": expected["embedding"]["umap"]["x"],
        "y": expected["embedding"]["umap"]["y"],
    }

    # A handwritten digit, dropped on the drop zone.
    digit, _ = digit_on_paper(3)
    png = encode(digit, "PNG")
    routed = api.post(f"/api/models/{MODEL}/route", files={"file": ("d.png", png)}).json()
    ui.page.click("#tab-btn-upload")
    ui.page.evaluate(
        """([b64, name]) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name, {type: 'image/png'}));
          document.querySelector('#dropzone').dispatchEvent(
            new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        [base64.b64encode(png).decode(), "digit.png"],
    )
    expect(ui.page.locator("#upload-file-name")).to_contain_text("digit.png")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    expect(card.locator(".prediction-value")).to_have_text(routed["class_name"])
    expect(diagram).to_have_attribute("data-path", routed["path"])
    expect(card).to_contain_text(f"{routed['macs'] / routed['full_macs'] * 100:.0f}% of full")
    expect(ui.page.locator("#drop-preview")).to_be_visible()
    assert ui.errors == []


def test_invalid_upload_shows_the_server_message(ui, api, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image at all\n")
    refused = api.post(f"/api/models/{MODEL}/route", files={"file": text.open("rb")})
    detail = refused.json()["detail"]
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(text))
    error = ui.page.locator(".result-card .upload-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(detail)
    heading = ui.page.locator(".result-card h3")
    expect(heading).to_have_text(f"Not routed through {MODEL}")  # not "Routed through"
    expect(ui.page.locator("#drop-preview")).to_be_hidden()  # no broken preview image
    # The only console error is the browser's note of the refused request.
    assert all("415" in e for e in ui.errors), ui.errors


def test_an_upload_result_downloads_as_csv_and_its_charts_as_svg(ui, api, tmp_path):
    embedding(api, "umap")  # computed, so the upload gets a place on the UMAP map
    digit, _ = digit_on_paper(4)
    upload = png_file(tmp_path, digit, "four.png")
    expected = api.post(f"/api/models/{MODEL}/route", files={"file": upload.open("rb")}).json()
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(upload))
    card = ui.page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    rows = download_csv(ui, card.locator(".card-head [data-export=csv]"))
    assert [r["class"] for r in rows] == [str(c) for c in range(10)]
    assert [float(r["probability"]) for r in rows] == pytest.approx(expected["probabilities"])
    assert {r["path"] for r in rows} == {expected["path"]}
    assert {r["prediction"] for r in rows} == {expected["class_name"]}
    assert {r["file"] for r in rows} == {"four.png"}
    name, svg = download_figure(ui, card.locator(".card-head [data-export=svg]"))
    assert "Class probabilities of four.png" in svg.decode()
    expect(ui.page.locator("#upload-scatter-0[data-state=ready]")).to_have_count(
        1, timeout=BUSY_TIMEOUT
    )
    name, svg = download_figure(ui, card.locator(".placement [data-export=svg]"))
    assert f"four.png on the UMAP map · {MODEL}" in svg.decode()
    assert ui.errors == []


def test_an_upload_shows_what_the_network_saw_and_warns_off_domain(ui, api, tmp_path):
    from skimage import data as skimage_data

    camera = png_file(tmp_path, Image.fromarray(skimage_data.camera()), "camera.png")
    expected = api.post(f"/api/models/{MODEL}/route", files={"file": camera.open("rb")}).json()
    assert expected["warnings"]
    ui.open("tab=upload")
    ui.page.set_input_files("#file-input", str(camera))
    card = ui.page.locator(".result-card[data-model='digits']")
    expect(card).to_have_attribute("data-state", "ready", timeout=BUSY_TIMEOUT)
    warning = card.locator(".upload-warning")
    expect(warning).to_contain_text("looks like a photo")
    expect(card.locator(".prediction-value")).to_have_text(expected["class_name"])  # routed
    seen = card.locator(".network-input img")
    ui.page.wait_for_function("() => document.querySelector('.network-input img').naturalWidth > 0")
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [16, 16]
    assert seen.get_attribute("src") == expected["input_image"]
    # A digit on paper is in the domain: no warning.
    digit, _ = digit_on_paper(2)
    ui.page.set_input_files("#file-input", str(png_file(tmp_path, digit, "two.png")))
    expect(card.locator(".upload-warning")).to_have_count(0)
    assert ui.errors == []
