"""Files written by a stranger: nothing in a runs, data or cache folder runs code here.

Each hostile file unpickles to a call of ``open(marker, "w")``: if the marker appears,
code chosen by the file's author ran in the process.
"""

import pickle
import re
import shutil

import pytest
import torch
from PIL import Image

from tests.backend_helpers import digit_on_paper, encode, wait_for_result
from tests.cifar_files import write_cifar10
from tests.conftest import make_client
from trainer.data import DatasetError, load_dataset


class RunsCode:
    """Unpickling this object creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def hostile_cifar10(root, marker):
    """A CIFAR-10 folder whose first training batch runs code when unpickled."""
    folder = write_cifar10(root)
    batch = {"data": RunsCode(marker), "labels": [0] * 4, "batch_label": "x"}
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch))
    return folder


def test_cifar_batches_are_read_without_running_code(tmp_path):
    marker = tmp_path / "ran"
    hostile_cifar10(tmp_path / "data", marker)
    with pytest.raises(DatasetError, match="data_batch_1.*not a valid CIFAR batch"):
        load_dataset("cifar10", tmp_path / "data")
    assert not marker.exists()


def test_cifar_batches_written_with_protocol_2_still_load(tmp_path):
    folder = write_cifar10(tmp_path)
    for name in ("data_batch_2", "test_batch"):
        batch = pickle.loads((folder / name).read_bytes())
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    assert len(load_dataset("cifar10", tmp_path).test) == 4


def test_a_checkpoint_cannot_choose_where_the_server_reads_data(own_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default data folder, ./data, is empty
    marker = tmp_path / "ran"
    evil = own_runs / "evil"
    shutil.copytree(own_runs / "digits", evil)
    hostile_cifar10(evil / "data", marker)
    checkpoint = torch.load(evil / "checkpoint.pt", weights_only=True)
    checkpoint["preprocessing"]["dataset"] = "cifar10"
    checkpoint["config"]["data_dir"] = str(evil / "data")
    torch.save(checkpoint, evil / "checkpoint.pt")
    with make_client(own_runs, tmp_path / "cache") as client:
        response = client.get("/api/models/evil/paths")
        assert response.status_code == 409
        assert "cifar10 was not found under data/" in response.json()["detail"]
        assert client.get("/api/models/digits/paths").status_code == 200
    assert not marker.exists()


def _a_path_no_sample_takes(client) -> str:
    known = set(client.get("/api/models/digits/paths").json()["paths"])
    gates = len(next(iter(known)))
    return next(path for i in range(2**gates) if (path := f"{i:0{gates}b}") not in known)


@pytest.mark.parametrize("method", ["umap", "tsne", "pca"])
def test_files_planted_in_the_cache_run_no_code(untrained_runs, tmp_path, method):
    marker = tmp_path / "ran"
    cache = tmp_path / "cache"
    with make_client(untrained_runs, cache) as client:
        wait_for_result(client, f"/api/models/digits/embeddings/{method}")
        # Forced along a path of no sample: placing it needs the map's own placement,
        # where a known path would be placed on its point whatever the cache held.
        unknown = _a_path_no_sample_takes(client)
    embeddings = cache / "embeddings"
    for npz in embeddings.glob("*.npz"):
        (embeddings / f"{npz.stem}.pkl").write_bytes(pickle.dumps(RunsCode(marker)))
    image, _ = digit_on_paper(3)
    with make_client(untrained_runs, cache) as client:
        response = client.post(
            "/api/models/digits/route",
            files={"file": ("d.png", encode(image, "PNG"))},
            data={"force_path": unknown},
        )
        assert response.status_code == 200, response.text
        placed = response.json()["embedding"][method]
        # The placement is rebuilt from the cached arrays, not lost.
        assert placed["placement"] not in ("nearest known path", "exact: a known path")
    assert not marker.exists()


# -- checkpoints: a schema error is one model's problem, never the list's ------------


def _set(key, value):
    return lambda checkpoint: checkpoint.__setitem__(key, value)


def _update(key, **values):
    return lambda checkpoint: checkpoint[key].update(values)


def _drop(key, name):
    return lambda checkpoint: checkpoint[key].pop(name)


BROKEN_CHECKPOINTS = {
    "unknown model argument": (_update("model_args", colour="red"), "colour"),
    "model_args of the wrong type": (_set("model_args", [10, 1]), "model_args"),
    "no image_size": (_drop("preprocessing", "image_size"), "image_size"),
    "huge image_size": (_update("preprocessing", image_size=10**6), "image_size"),
    "two channels": (_update("preprocessing", channels=2), "channels"),
    "unknown dataset": (_update("preprocessing", dataset="mnist"), "mnist"),
    "mean of the wrong length": (_update("preprocessing", mean=[0.1, 0.2]), "mean"),
    "class names not matching": (_set("class_names", ["0", "1"]), "class_names"),
    "class names not strings": (_set("class_names", list(range(10))), "class_names"),
    "metrics not numbers": (_update("metrics", accuracy="high"), "metrics"),
    "epoch not an int": (_set("epoch", "7"), "epoch"),
    "huge gate": (_update("model_args", gate_hidden=10**9), "gate_hidden"),
    # Passes the schema; the model's own constructor refuses it.
    "gate type the model refuses": (_update("model_args", gate_type="transformer"), "gate"),
}


def _broken_id(case: str) -> str:
    return "broken-" + re.sub(r"[^a-z0-9]+", "-", case)


@pytest.fixture(scope="module")
def broken_client(untrained_runs, tmp_path_factory):
    """A client of a server of the untrained model beside one run per broken checkpoint:
    one server for every case, each broken run another model's neighbour."""
    import copy

    root = tmp_path_factory.mktemp("broken")
    runs = root / "runs"
    shutil.copytree(untrained_runs, runs)
    sound = torch.load(runs / "digits" / "checkpoint.pt", weights_only=True)
    for case, (change, _) in BROKEN_CHECKPOINTS.items():
        checkpoint = copy.deepcopy(sound)
        change(checkpoint)
        (runs / _broken_id(case)).mkdir()
        torch.save(checkpoint, runs / _broken_id(case) / "checkpoint.pt")
    with make_client(runs, root / "cache") as client:
        yield client


@pytest.mark.parametrize("case", sorted(BROKEN_CHECKPOINTS))
def test_a_malformed_checkpoint_is_unloadable_and_the_others_keep_answering(broken_client, case):
    client, broken, words = broken_client, _broken_id(case), BROKEN_CHECKPOINTS[case][1]
    health = client.get("/api/health")
    assert health.status_code == 200, health.text
    assert health.json()["models"] == 1
    assert words in health.json()["unloadable"][broken]
    models = client.get("/api/models")
    assert models.status_code == 200 and [m["id"] for m in models.json()] == ["digits"]
    detail = client.get(f"/api/models/{broken}")
    assert detail.status_code == 409 and words in detail.json()["detail"]
    assert client.get("/api/models/digits/paths").status_code == 200


# -- ids: checked against a pattern before any file is looked at ---------------------

HOSTILE_MODEL_IDS = [
    "d" * 300,  # longer than a file name may be
    "digits" + "x" * 200,
    ".cache",
    "digits..x",
    "-digits",
    "dígits",
    "digits\x00",
    "digits ",
    "%2e%2e",
]


@pytest.mark.parametrize("model_id", HOSTILE_MODEL_IDS)
def test_a_malformed_model_id_is_404_on_every_endpoint(client, model_id):
    from urllib.parse import quote

    quoted = quote(model_id, safe="")
    for url in (
        f"/api/models/{quoted}",
        f"/api/models/{quoted}/paths",
        f"/api/models/{quoted}/metrics",
        f"/api/models/{quoted}/embeddings/pca",
        f"/api/models/{quoted}/samples/0/image",
    ):
        response = client.get(url)
        assert response.status_code == 404, (url, response.text)
        assert "no model" in response.json()["detail"]
    image, _ = digit_on_paper(3)
    response = client.post(
        f"/api/models/{quoted}/route", files={"file": ("d.png", encode(image, "PNG"))}
    )
    assert response.status_code == 404 and "no model" in response.json()["detail"]
    assert client.get("/api/models/digits").status_code == 200


@pytest.mark.parametrize(
    "job_id",
    ["j" * 300, "0123456789abcdef0123456789abcdeg", "0123456789ABCDEF" * 2, "%00", "é" * 32],
)
def test_a_malformed_job_id_is_404(client, job_id):
    from urllib.parse import quote

    response = client.get(f"/api/jobs/{quote(job_id, safe='')}")
    assert response.status_code == 404 and "no job" in response.json()["detail"]


@pytest.mark.parametrize("sample_id", ["360", "9" * 30, "9" * 5000, "-1", "1e3", "0x10", "١"])
def test_a_malformed_or_unknown_sample_id_is_a_clear_4xx(client, sample_id):
    response = client.get(f"/api/models/digits/samples/{sample_id}/image")
    assert response.status_code in (404, 422), response.text
    assert response.json()["detail"]
    assert client.get("/api/models/digits/samples/0/image").status_code == 200


def test_a_run_folder_whose_name_is_no_model_id_is_reported_not_served(own_runs, tmp_path):
    shutil.copytree(own_runs / "digits", own_runs / "my run")
    with make_client(own_runs, tmp_path / "cache") as client:
        health = client.get("/api/health").json()
        assert "letters, digits" in health["unloadable"]["my run"]
        assert [m["id"] for m in client.get("/api/models").json()] == ["digits"]


# -- the cache: an unreadable file is a miss, removed and computed again -------------


def _cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_an_array(path):
    import numpy as np

    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files[1:]}
    np.savez(path, **arrays)


def _wrong_shapes(path):
    import numpy as np

    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    np.savez(path, **{name: np.zeros((3, 1, 2, 1), dtype=np.float64) for name in arrays})


def _garbage(path):
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)


CACHE_DAMAGE = {
    "cut in half": _cut_in_half,
    "an array missing": _drop_an_array,
    "wrong shapes": _wrong_shapes,
    "garbage": _garbage,
}


# Two images per class in the views' paths: each server routes them in a fraction of a
# second, and the file is damaged and recomputed as a full one would be.
FEW_VIEWS = {"view_images_per_class": 2}


@pytest.fixture(scope="module")
def filled_cache(untrained_runs, tmp_path_factory):
    """A cache folder holding each kind of file: a split's paths, its views' paths and
    a PCA map. A test copies it, not to compute them again for each kind of damage."""
    cache = tmp_path_factory.mktemp("filled") / "cache"
    with make_client(untrained_runs, cache, **FEW_VIEWS) as client:
        assert client.get("/api/models/digits/metrics").status_code == 200
        wait_for_result(client, "/api/models/digits/embeddings/pca")
    return cache


@pytest.mark.parametrize("damage", sorted(CACHE_DAMAGE))
def test_a_damaged_cache_file_is_recomputed(untrained_runs, filled_cache, tmp_path, damage, caplog):
    import numpy as np

    cache = tmp_path / "cache"
    shutil.copytree(filled_cache, cache)
    damaged = sorted(cache.rglob("*.npz"))
    assert {p.parent.name for p in damaged} == {"paths", "views", "embeddings"}
    for path in damaged:
        CACHE_DAMAGE[damage](path)
    image, _ = digit_on_paper(3)
    with make_client(untrained_runs, cache, **FEW_VIEWS) as client:
        paths = client.get("/api/models/digits/paths")
        assert paths.status_code == 200, paths.text
        assert len(paths.json()["paths"]) == 360
        metrics = client.get("/api/models/digits/metrics")
        assert metrics.status_code == 200, metrics.text
        _, embedding = wait_for_result(client, "/api/models/digits/embeddings/pca")
        assert embedding.status_code == 200 and len(embedding.json()["x"]) == 360
        routed = client.post(
            "/api/models/digits/route", files={"file": ("d.png", encode(image, "PNG"))}
        )
        assert routed.status_code == 200 and routed.json()["embedding"]["pca"]
    for path in damaged:  # written again, whole
        with np.load(path) as data:
            assert len(data.files) >= 2
    assert "unreadable" in caplog.text


# -- bounds: the job queue, the cache folder, the caches in memory -------------------


def test_the_memory_cache_drops_the_least_recently_used_entries():
    from backend.cache import LruCache

    cache = LruCache(max_bytes=300, max_entries=3)
    for key in "abc":
        cache.put(key, b"x" * 100)
    assert cache.get("a") == b"x" * 100  # used: "b" is now the oldest
    cache.put("d", b"y" * 100)  # a fourth entry
    assert cache.get("b") is None
    assert [cache.get(k) is not None for k in "acd"] == [True, True, True]
    cache.put("e", b"z" * 250)  # over the bytes: the oldest go until it fits
    assert len(cache) == 1 and cache.get("e") == b"z" * 250


def test_compute_once_shares_a_computation_and_stays_bounded():
    import threading

    from backend.cache import ComputeOnce, LruCache

    memory = LruCache(max_bytes=10**6, max_entries=4)
    once = ComputeOnce(memory)
    calls, barrier = [], threading.Barrier(4)

    def slow():
        calls.append(1)
        return b"value"

    def ask():
        barrier.wait()
        assert once.get_or_compute("shared", slow) == b"value"

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    for i in range(100):
        assert once.get_or_compute(f"key{i}", lambda i=i: str(i).encode()) == str(i).encode()
    assert len(memory) == 4


def test_the_cache_folder_drops_the_least_recently_used_files(tmp_path):
    import time

    import numpy as np

    from backend.cache import DiskCache

    spec = {"x": ("f", ("n",))}
    block = np.zeros(1000)
    DiskCache(tmp_path / "probe", max_bytes=10**9).save("one.npz", x=block)
    size = (tmp_path / "probe" / "one.npz").stat().st_size
    cache = DiskCache(tmp_path / "cache", max_bytes=3 * size)
    for name in ("a", "b", "c"):
        cache.save(f"paths/{name}.npz", x=block)
        time.sleep(0.02)
    assert cache.load("paths/a.npz", spec) is not None  # used: "b" is now the oldest
    time.sleep(0.02)
    cache.save("embeddings/d.npz", x=block)
    left = sorted(p.name for p in (tmp_path / "cache").rglob("*.npz"))
    assert left == ["a.npz", "c.npz", "d.npz"]
    assert cache.load("paths/b.npz", spec) is None


def test_a_full_job_queue_is_429_with_retry_after(untrained_runs, tmp_path, monkeypatch):
    import threading
    import time

    import backend.services

    release = threading.Event()
    embed = backend.services.embed_paths

    def held(*args, **kwargs):  # the worker stays busy until the test says so
        release.wait(60)
        return embed(*args, **kwargs)

    monkeypatch.setattr(backend.services, "embed_paths", held)
    url = "/api/models/digits/embeddings/tsne?n_iter=50&perplexity="
    with make_client(untrained_runs, tmp_path / "cache", max_queued_jobs=2) as client:
        try:
            job = client.get(url + "5").json()["job_id"]
            deadline = time.monotonic() + 60
            while client.get(f"/api/jobs/{job}").json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert [client.get(url + p).status_code for p in ("6", "7", "6")] == [202] * 3
            full = client.get(url + "8")
            assert full.status_code == 429, full.text
            assert int(full.headers["Retry-After"]) > 0
            assert "2 jobs are queued" in full.json()["detail"]
            assert client.get("/api/models/digits/paths").status_code == 200
        finally:
            release.set()
        assert wait_for_result(client, url + "7")[1].status_code == 200
        assert client.get(url + "8").status_code == 202  # room again


def test_the_cache_folder_stays_within_its_bound(untrained_runs, tmp_path):
    url = "/api/models/digits/embeddings/tsne?n_iter=50&perplexity="
    sizes = tmp_path / "sizes"
    with make_client(untrained_runs, sizes) as client:
        wait_for_result(client, url + "2")
    paths_size = sum(p.stat().st_size for p in (sizes / "paths").glob("*.npz"))
    embedding_size = sum(p.stat().st_size for p in (sizes / "embeddings").glob("*.npz"))
    limit = paths_size + 2 * embedding_size + 100  # room for the paths and two embeddings
    cache = tmp_path / "cache"
    with make_client(untrained_runs, cache, cache_max_bytes=limit) as client:
        for perplexity in ("2", "3", "4", "5"):
            _, response = wait_for_result(client, url + perplexity)
            assert response.status_code == 200
            assert sum(p.stat().st_size for p in cache.rglob("*.npz")) <= limit
        assert len(list(cache.rglob("*.npz"))) < 5  # the paths and four embeddings
        # What was dropped from the disk is still served, from memory.
        assert client.get(url + "2").status_code == 200


# -- uploads: decoding costs are bounded before any pixel is decoded ------------------


def _flat_png(mode: str, side: int) -> bytes:
    """A flat image that compresses to next to nothing: its cost is all in decoding."""
    return encode(Image.new(mode, (side, side)), "PNG")


def _jpeg_without_scan_data(side: int) -> bytes:
    """A JPEG whose header declares ``side`` x ``side`` pixels, with no data after it."""
    whole = encode(Image.new("RGB", (side, side), (10, 200, 30)), "JPEG")
    scan = whole.index(b"\xff\xda")
    header_end = scan + 2 + int.from_bytes(whole[scan + 2 : scan + 4], "big")
    return whole[:header_end] + b"\xff\xd9"  # end of image at once


def test_decoding_memory_counts_bytes_per_pixel_not_pixels(untrained_runs, tmp_path):
    url = "/api/models/digits/route"
    with make_client(untrained_runs, tmp_path / "cache") as client:
        deep = client.post(url, files={"file": ("deep.png", _flat_png("I;16", 6000))})
        assert deep.status_code == 413, deep.text
        assert "6000x6000" in deep.json()["detail"] and "MiB" in deep.json()["detail"]
        # The same pixels at 8 bits take half the memory: accepted.
        flat = client.post(url, files={"file": ("flat.png", _flat_png("L", 6000))})
        assert flat.status_code == 200, flat.text
        assert client.get("/api/health").json()["models"] == 1


def test_a_deep_image_is_reduced_before_it_is_converted():
    import tracemalloc

    from backend.images import decode_image

    data = _flat_png("I;16", 4000)  # 32 MB decoded, within the bound
    tracemalloc.start()
    try:
        image = decode_image(data, max_pixels=40_000_000, max_bytes=64 * 2**20, needed_side=128)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert image.mode == "L" and 128 <= min(image.size) < 256
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB of arrays while decoding"


def test_a_jpeg_declaring_more_pixels_than_its_data_holds_is_415(untrained_runs, tmp_path):
    data = _jpeg_without_scan_data(6000)
    assert len(data) < 1000
    with make_client(untrained_runs, tmp_path / "cache") as client:
        response = client.post(
            "/api/models/digits/route", files={"file": ("blank.jpg", data, "image/jpeg")}
        )
        assert response.status_code == 415, response.text
        assert "truncated" in response.json()["detail"]


def test_truncated_images_are_refused_even_if_pillow_was_told_to_pad_them(monkeypatch):
    from PIL import ImageFile

    from backend.errors import UnsupportedImage
    from backend.images import decode_image

    whole = encode(Image.new("RGB", (600, 400), (10, 200, 30)), "PNG")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as some library might
    with pytest.raises(UnsupportedImage, match="truncated"):
        decode_image(whole[: len(whole) // 2], max_pixels=10**7, max_bytes=2**26)


# -- fuzz: hostile requests of every kind, and the server still answers ----------------

FUZZ_SEED, FUZZ_REQUESTS, FUZZ_SECONDS = 13, 300, 180

ID_SAMPLES = [
    "digits",
    "broken",
    ".cache",
    "..",
    "../digits",
    "..%2fdigits",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..\\..\\windows",
    "/etc/passwd",
    "digits/../digits",
    "d" * 300,
    "x" * 5000,
    "\U0001f4a5" * 40,
    "dig\u202eits",
    "digits\x00",
    "digits\r\nX-Injected: 1",
    "CON",
    " ",
    "a" * 128,
    "a" * 129,
    "0123456789abcdef0123456789abcdef",
]
VALUE_SAMPLES = [
    "-1",
    "0",
    "1",
    "2",
    "-99999999999999999999999",
    "9" * 400,
    "1e309",
    "nan",
    "inf",
    "-inf",
    "0x10",
    "1.5",
    "",
    " ",
    "true",
    "null",
    "[]",
    "\U0001f4a5",
    "\x00",
    "a" * 5000,
    "\uff11\uff12",  # full-width digits
    "\u0661\u0662",  # Arabic-Indic digits
    "test",
    "train",
    "csv",
    "json",
]
PARAMETERS = [
    "split",
    "format",
    "n_neighbors",
    "min_dist",
    "n_epochs",
    "perplexity",
    "n_iter",
    "size",
    "views",
    "force_path",
    "unknown",
]
PATH_SAMPLES = ["1" * 9, "0" * 9, "101010101", "1" * 8, "1" * 10, "10101010x", "１" * 9, ""]


def _random_text(rng, longest: int) -> str:
    """Printable ASCII, control characters and any Unicode outside the surrogates."""
    chars = []
    for _ in range(rng.randint(1, longest)):
        pick = rng.random()
        if pick < 0.6:
            chars.append(chr(rng.randint(32, 126)))
        elif pick < 0.7:
            chars.append(chr(rng.randint(0, 31)))
        else:
            code = rng.randint(0x80, 0x10FFFF - 0x800)
            chars.append(chr(code + 0x800 if code >= 0xD800 else code))
    return "".join(chars)


def _fuzz_segment(rng) -> str:
    from urllib.parse import quote

    text = rng.choice(ID_SAMPLES) if rng.random() < 0.5 else _random_text(rng, 300)
    return quote(text, safe="") if rng.random() < 0.9 else quote(text, safe="/")


def _fuzz_query(rng) -> list[tuple[str, str]]:
    query = []
    for _ in range(rng.randint(0, 4)):
        value = rng.choice(VALUE_SAMPLES) if rng.random() < 0.7 else _random_text(rng, 50)
        name = rng.choice(PARAMETERS)
        if name == "force_path" and rng.random() < 0.5:
            value = rng.choice(PATH_SAMPLES)
        query.append((name, value))
    return query


def _patched_size(data: bytes, fmt: str, width: int, height: int) -> bytes:
    """An encoded image whose header claims another size than its data holds."""
    import struct
    import zlib

    data = bytearray(data)
    if fmt == "PNG":  # IHDR's width and height, then its checksum
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    elif fmt == "BMP":
        data[18:26] = struct.pack("<ii", width, height)
    elif fmt == "GIF":
        data[6:10] = struct.pack("<HH", min(width, 65535), min(height, 65535))
    elif fmt == "JPEG":
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", min(height, 65535), min(width, 65535))
    return bytes(data)


def _hostile_images(rng) -> list[bytes]:
    import io

    import numpy as np

    noise = np.random.default_rng(FUZZ_SEED).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    base = {}
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        out = io.BytesIO()
        Image.fromarray(noise).save(out, format=fmt)
        base[fmt] = out.getvalue()
    images = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", _jpeg_without_scan_data(6000)]
    images.append(_flat_png("I;16", 6000))
    for fmt, data in base.items():
        images += [data[: rng.randint(1, len(data) - 1)] for _ in range(3)]  # truncated
        flipped = bytearray(data)
        for _ in range(20):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        images.append(bytes(flipped))
        if fmt in ("PNG", "BMP", "GIF", "JPEG"):
            for width, height in ((0, 0), (65535, 65535), (8000, 8000), (1, 10**6)):
                images.append(_patched_size(data, fmt, width, height))
    return images


def _multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"fuzzboundary") -> bytes:
    body = b""
    for headers, content in parts:
        body += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


def _fuzz_upload(rng, images: list[bytes]) -> tuple[bytes, str]:
    """A request body and its content type: well-formed forms of hostile images, or
    malformed forms."""
    image = rng.choice(images)
    file_part = b'Content-Disposition: form-data; name="file"; filename="x.png"'
    form = "multipart/form-data; boundary=fuzzboundary"
    kind = rng.randrange(13)
    if kind == 12:  # a path to force, well-formed or not
        force = rng.choice(PATH_SAMPLES + [_random_text(rng, 40)]).encode("utf-8", "replace")
        force_part = b'Content-Disposition: form-data; name="force_path"'
        return _multipart([(file_part, image), (force_part, force)]), form
    if kind < 4:
        return _multipart([(file_part, image)]), form
    if kind == 4:
        return _multipart([(file_part, image)]), "multipart/form-data"  # no boundary
    if kind == 5:
        return _multipart([(file_part, image)])[: rng.randint(0, 60)], form  # cut short
    if kind == 6:
        return _multipart([(b'Content-Disposition: form-data; name="files"', image)]), form
    if kind == 7:
        return image, rng.choice(["image/png", "text/plain", "", "multipart/mixed"])
    if kind == 8:  # a header line far longer than any real one
        return _multipart([(file_part + b"; x=" + b"a" * 70_000, image)]), form
    if kind == 9:
        boundary = _random_text(rng, 200).encode("utf-8", "replace")
        return _multipart(
            [(file_part, image)], boundary
        ), f"multipart/form-data; boundary={'b' * 200}"
    if kind == 10:  # two files, and a filename that tries to add a header
        evil = b'Content-Disposition: form-data; name="file"; filename="a\r\nX-Evil: 1.png"'
        return _multipart([(file_part, image), (evil, image)]), form
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000))), form


def _fuzz_request(rng, images: list[bytes]) -> tuple[str, str, dict]:
    """(method, url, keyword arguments for the client) of one hostile request."""
    # Often the real model, so that the parameters and bodies are what gets tested.
    model = "digits" if rng.random() < 0.4 else _fuzz_segment(rng)
    kind = rng.randrange(11)
    query = {"params": _fuzz_query(rng)}
    if kind == 9:
        return "GET", f"/api/models/{model}/importance", query
    if kind == 10:
        sample = rng.choice(VALUE_SAMPLES[:12] + [_fuzz_segment(rng)])
        return "GET", f"/api/models/{model}/samples/{sample}/route", query
    if kind == 0:
        return "GET", f"/api/models/{model}", query
    if kind == 1:
        return "GET", f"/api/models/{model}/paths", query
    if kind == 2:
        return "GET", f"/api/models/{model}/metrics", query
    if kind == 3:
        method = rng.choice(["umap", "tsne", "pca", _fuzz_segment(rng)])
        return "GET", f"/api/models/{model}/embeddings/{method}", query
    if kind == 4:
        sample = rng.choice(VALUE_SAMPLES[:12] + [_fuzz_segment(rng)])
        return "GET", f"/api/models/{model}/samples/{sample}/image", query
    if kind == 5:
        return "GET", f"/api/jobs/{_fuzz_segment(rng)}", query
    if kind == 6:
        if rng.random() < 0.5:  # the listings, with parameters they do not take
            return (
                "GET",
                rng.choice(["/api/health", "/api/models", "/api/measures", "/api/groups"]),
                query,
            )
        return rng.choice(["PUT", "DELETE", "PATCH"]), f"/api/models/{model}", query
    body, content_type = _fuzz_upload(rng, images)
    if rng.random() < 0.6:
        model = "digits"
    headers = {"content-type": content_type} if content_type else {}
    return "POST", f"/api/models/{model}/route", {**query, "content": body, "headers": headers}


def _json_detail(response) -> bool:
    """Whether an error response is JSON with a non-empty detail."""
    try:
        return bool(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return False


@pytest.mark.slow  # 300 requests: several seconds, more than the fast loop can spare
def test_hostile_requests_get_no_5xx_and_the_server_stays_healthy(own_runs, tmp_path):
    import random
    import time

    rng = random.Random(FUZZ_SEED)
    shutil.copytree(own_runs / "digits", own_runs / "broken")
    checkpoint = torch.load(own_runs / "broken" / "checkpoint.pt", weights_only=True)
    checkpoint["model_args"]["colour"] = "red"
    torch.save(checkpoint, own_runs / "broken" / "checkpoint.pt")
    images = _hostile_images(rng)
    failures, statuses = [], {}
    deadline = time.monotonic() + FUZZ_SECONDS
    # One job at a time: the valid embedding requests among them stay cheap.
    with make_client(own_runs, tmp_path / "cache", max_queued_jobs=1) as client:
        for _ in range(FUZZ_REQUESTS):
            if time.monotonic() > deadline:
                break
            method, url, options = _fuzz_request(rng, images)
            response = client.request(method, url, **options)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500 or (
                response.status_code >= 400 and not _json_detail(response)
            ):
                failures.append((method, url[:120], response.status_code, response.text[:200]))
        sent = sum(statuses.values())
        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["models"] == 1
        assert "colour" in health.json()["unloadable"]["broken"]
        assert [m["id"] for m in client.get("/api/models").json()] == ["digits"]
        assert client.get("/api/models/digits/paths").status_code == 200
    assert not failures, failures
    assert sent >= 100, f"only {sent} requests in {FUZZ_SECONDS} s"
    assert any(400 <= status < 500 for status in statuses), statuses
