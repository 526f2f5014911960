"""Routing uploaded images: every common format, and every kind of bad input."""

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from skimage import data as photos

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import digit_on_paper, encode

URL = "/api/models/digits/route"


def post(client, content: bytes, name="upload", mime="application/octet-stream", **params):
    return client.post(URL, files={"file": (name, content, mime)}, params=params)


def sixteen_bit_png() -> bytes:
    ramp = (np.linspace(0, 65535, 128 * 96).reshape(96, 128)).astype(np.uint16)
    image = Image.fromarray(ramp)
    assert image.mode.startswith("I;16")
    return encode(image, "PNG")


def animated_gif() -> bytes:
    frames = [Image.fromarray(photos.camera()[::4, ::4]).convert("P") for _ in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return out.getvalue()


def exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return encode(Image.fromarray(photos.astronaut()), "JPEG", exif=exif)


def rgba_png() -> bytes:
    rgba = Image.fromarray(photos.astronaut()).convert("RGBA")
    rgba.putalpha(Image.fromarray((np.arange(512)[None, :].repeat(512, 0) // 2).astype(np.uint8)))
    return encode(rgba, "PNG")


FORMATS = {
    "jpeg": lambda: encode(Image.fromarray(photos.astronaut()), "JPEG", quality=90),
    "png_alpha": rgba_png,
    "greyscale_png": lambda: encode(Image.fromarray(photos.camera()), "PNG"),
    "png_16bit": sixteen_bit_png,
    "gif_animated": animated_gif,
    "bmp": lambda: encode(Image.fromarray(photos.coffee()), "BMP"),
    "tiff": lambda: encode(Image.fromarray(photos.chelsea()), "TIFF"),
    "webp": lambda: encode(Image.fromarray(photos.rocket()), "WEBP"),
    "cmyk_jpeg": lambda: encode(Image.fromarray(photos.astronaut()).convert("CMYK"), "JPEG"),
    "exif_rotated_jpeg": exif_rotated_jpeg,
    "palette_png": lambda: encode(Image.fromarray(photos.coffee()).convert("P"), "PNG"),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_common_format_is_routed(client, name):
    response = post(client, FORMATS[name](), name=f"photo.{name}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 <= body["prediction"] < 10 and body["class_name"] == str(body["prediction"])
    assert sum(body["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert len(body["path"]) == 9 and body["executed_blocks"] == body["path"].count("1")
    assert 0 < body["macs"] <= body["full_macs"]
    assert len(body["neighbors"]) == 8
    distances = [n["distance"] for n in body["neighbors"]]
    assert distances == sorted(distances)
    assert all(
        sum(a != b for a, b in zip(n["path"], body["path"], strict=True)) == n["distance"]
        for n in body["neighbors"]
    )


def test_exif_orientation_is_applied(client):
    upright = Image.fromarray(photos.astronaut()).rotate(-90, expand=True)
    expected = post(client, encode(upright, "PNG")).json()
    exif = Image.Exif()
    exif[0x0112] = 6
    tagged = post(client, encode(Image.fromarray(photos.astronaut()), "PNG", exif=exif)).json()
    assert tagged["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)


@pytest.fixture(scope="module")
def trained_client(digits_runs, tmp_path_factory):
    settings = Settings(
        runs_dir=digits_runs, cache_dir=tmp_path_factory.mktemp("cache"), warmup=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.slow  # a trained model: an untrained one's answers hang on any pixel
def test_dark_digits_on_paper_are_routed_like_the_dataset_digit(trained_client):
    client = trained_client
    # The photo (dark ink, paper margin, 240 px, JPEG) must be prepared so that the
    # model sees what it sees for the dataset's own 8x8 digit.
    dataset_predictions = client.get("/api/models/digits/paths").json()["predictions"]
    agree = 0
    for index in range(20):
        image, _ = digit_on_paper(index)
        body = post(client, encode(image, "JPEG", quality=92)).json()
        agree += body["prediction"] == dataset_predictions[index]
    assert agree >= 17, f"only {agree}/20 photographed digits predicted as their dataset copy"


def test_views_report_the_spread_of_augmented_paths(client):
    image, _ = digit_on_paper(3)
    body = post(client, encode(image, "PNG"), views=5).json()
    assert len(body["views"]["paths"]) == 5
    paths = body["views"]["paths"]
    pairs = [(a, b) for i, a in enumerate(paths) for b in paths[i + 1 :]]
    expected = np.mean([sum(x != y for x, y in zip(a, b, strict=True)) for a, b in pairs])
    assert body["views"]["mean_distance"] == pytest.approx(expected)
    assert post(client, encode(image, "PNG")).json()["views"] is None


def test_upload_is_placed_in_computed_embeddings(client):
    from tests.backend_helpers import wait_for_result

    wait_for_result(client, "/api/models/digits/embeddings/pca")
    image, _ = digit_on_paper(0)
    body = post(client, encode(image, "PNG")).json()
    placed = body["embedding"]["pca"]
    assert placed["placement"] in ("exact: a known path", "pca projection")
    if placed["placement"].startswith("exact"):
        embedding = client.get("/api/models/digits/embeddings/pca").json()
        index = embedding["paths"].index(body["path"])
        sample = embedding["path_ids"].index(index)
        assert (placed["x"], placed["y"]) == pytest.approx(
            (embedding["x"][sample], embedding["y"][sample]), abs=1e-4
        )


def test_a_samples_augmented_views_are_placed_on_the_computed_maps(client):
    """A dataset sample routed with views: each view's path, its distance to the
    sample's own path and its point on every computed map, a known path exactly where
    the map has it."""
    from tests.backend_helpers import wait_for_result

    wait_for_result(client, "/api/models/digits/embeddings/pca")
    url = "/api/models/digits/samples/5/route"
    body = client.get(url, params={"views": 6}).json()
    views = body["views"]
    assert len(views["paths"]) == len(views["distances"]) == 6
    assert views["distances"] == [
        sum(a != b for a, b in zip(path, body["path"], strict=True)) for path in views["paths"]
    ]
    placed = views["embedding"]["pca"]
    assert len(placed) == 6
    embedding = client.get("/api/models/digits/embeddings/pca").json()
    for path, point in zip(views["paths"], placed, strict=True):
        if path in embedding["paths"]:
            sample = embedding["path_ids"].index(embedding["paths"].index(path))
            assert point["placement"] == "exact: a known path"
            assert (point["x"], point["y"]) == pytest.approx(
                (embedding["x"][sample], embedding["y"][sample]), abs=1e-4
            )
    assert client.get(url, params={"views": 6}).json()["views"] == views  # the same views
    assert client.get(url).json()["views"] is None
    forced = client.get(url, params={"views": 2, "force_path": body["path"]})
    assert forced.status_code == 422
    assert client.get(url, params={"views": 33}).status_code == 422


def truncated_jpeg() -> bytes:
    whole = encode(Image.fromarray(photos.astronaut()), "JPEG")
    return whole[: len(whole) // 3]


def corrupt_png() -> bytes:
    whole = bytearray(encode(Image.fromarray(photos.camera()), "PNG"))
    whole[200:400] = b"\x00" * 200
    return bytes(whole)


def decompression_bomb() -> bytes:
    # 25,000 x 25,000 one-bit pixels compress to a few tens of kilobytes.
    return encode(Image.new("1", (25_000, 25_000)), "PNG")


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10"/></svg>'
)
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"

BAD_INPUTS = {
    "empty": (b"", 422, "empty"),
    "text": (b"just some text, not an image", 415, "not a decodable image"),
    "svg": (SVG, 415, "not a decodable image"),
    "html": (HTML, 415, "not a decodable image"),
    "truncated_jpeg": (truncated_jpeg(), 415, "corrupt or truncated"),
    "corrupt_png": (corrupt_png(), 415, "corrupt or truncated"),
    "bomb": (decompression_bomb(), 413, "pixels"),
    "too_large": (b"\xff" * 2_100_000, 413, "larger than"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_uploads_get_a_clear_4xx_and_the_server_keeps_answering(client, name):
    content, status, words = BAD_INPUTS[name]
    response = post(client, content, name=f"{name}.bin")
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert client.get("/api/health").json()["status"] == "ok"
    ok = post(client, encode(Image.fromarray(photos.camera()), "PNG"))
    assert ok.status_code == 200


def test_missing_file_field_and_unknown_model(client):
    assert client.post(URL).status_code == 422
    response = client.post(
        "/api/models/nope/route", files={"file": ("a.png", encode(Image.new("L", (8, 8)), "PNG"))}
    )
    assert response.status_code == 404


def test_oversized_body_is_refused_before_reading(client):
    # The announced length alone is enough to refuse.
    response = client.post(
        URL, content=b"x" * 3_000_000, headers={"content-type": "multipart/form-data; boundary=zz"}
    )
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


def _input_image(result) -> Image.Image:
    import base64

    prefix = "data:image/png;base64,"
    assert result["input_image"].startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(result["input_image"][len(prefix) :])))


def test_the_response_shows_what_the_network_received(client):
    digit, _ = digit_on_paper(6)
    result = post(client, encode(digit, "PNG")).json()
    seen = _input_image(result)
    assert seen.size == (16, 16) and seen.mode == "L"  # the digits model's 16x16 input
    pixels = np.asarray(seen, dtype=np.float64)
    # Light ink on a dark background, as scikit-learn's digits are drawn.
    corners = pixels[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.max() < 40 and pixels.max() > 200
    assert result["warnings"] == []


def unevenly_lit(image: Image.Image) -> Image.Image:
    """The photo under a lamp to its top left: the paper darkens to 45% of its light
    towards the bottom right, and a little more towards the corners."""
    pixels = np.asarray(image, dtype=np.float64)
    ys, xs = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
    y, x = ys / (pixels.shape[0] - 1), xs / (pixels.shape[1] - 1)
    light = 1.0 - 0.55 * (x + y) / 2 - 0.15 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)
    return Image.fromarray((pixels * light).round().astype(np.uint8), "L")


def test_a_digit_under_uneven_light_is_prepared_like_the_evenly_lit_one():
    """The paper's lighting gradient is taken away before the ink is looked for: the
    network sees the digit, not a blob of the lamp's light."""
    from backend.upload_formats import format_for
    from trainer.data import load_dataset

    prep = load_dataset("digits").preprocessing
    to_dataset_format = format_for(prep).to_dataset_format
    for index in range(10):
        photo, _ = digit_on_paper(index)
        even = to_dataset_format(photo, prep)[0].numpy().astype(np.float64)
        lit = to_dataset_format(unevenly_lit(photo), prep)[0].numpy()
        assert np.abs(lit - even).mean() < 20, index  # of 255
        assert np.corrcoef(lit.ravel(), even.ravel())[0, 1] > 0.95, index


@pytest.mark.parametrize(
    "name, make, warning",
    [
        ("tiny", lambda: Image.new("L", (3, 3), 255), "only 3x3 pixels"),
        (
            "strip",
            lambda: digit_on_paper(1)[0].resize((960, 120)),
            "One side of the image is 8.0 times the other",
        ),
        ("photo", lambda: Image.fromarray(photos.camera()), "looks like a photo"),
        ("colour photo", lambda: Image.fromarray(photos.astronaut()), "looks like a photo"),
    ],
)
def test_far_from_the_training_images_is_warned_not_refused(client, name, make, warning):
    response = post(client, encode(make(), "PNG"))
    assert response.status_code == 200, response.text
    result = response.json()
    assert any(warning in w for w in result["warnings"]), result["warnings"]
    assert _input_image(result).size == (16, 16)
