"""Imported networks of the field go through the whole product: imported with
``python -m trainer import`` from files in their original layout, then served and
explored like a model trained here (paths, a UMAP map, metrics, an upload, a forced
path, block importance), next to one another on the same CIFAR-format data."""

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import encode, wait_for_result
from tests.cifar_files import varied_images, write_cifar10
from trainer.__main__ import main as trainer_main

# Four imports, a server, UMAP and block-importance jobs: over ten seconds in all. Each
# network's own tests (test_field_*.py) stay in the fast loop.
pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data" / "field"
# model id -> (--from, the original file)
IMPORTED = {
    "skipnet": ("skipnet", DATA / "skipnet" / "model_best.pth.tar"),
    "blockdrop": (
        "blockdrop",
        DATA / "blockdrop" / "ckpt_E_2000_A_0.062_R_-4.64E+00_S_6.69_#_16.t7",
    ),
    "aig": ("convnet-aig", DATA / "convnet-aig" / "model_best.pth.tar"),
    "codinet-public": ("codinet-public", DATA / "codinet-public" / "ckpt.pth"),
}


@pytest.fixture(scope="module")
def field_client(tmp_path_factory):
    root = tmp_path_factory.mktemp("field")
    data = root / "data"
    write_cifar10(data, per_batch=12, test_size=48, images=varied_images)
    for model_id, (source, original) in IMPORTED.items():
        argv = ["import", "--from", source, str(original), "--dataset", "cifar10"]
        code = trainer_main(
            [*argv, "--out", str(root / "runs" / model_id), "--data-dir", str(data)]
        )
        assert code == 0, model_id
    settings = Settings(
        runs_dir=root / "runs", data_dir=data, cache_dir=root / "cache", warmup=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_the_model_list_names_each_imported_family_and_its_file(field_client):
    models = {m["id"]: m for m in field_client.get("/api/models").json()}
    assert set(models) == set(IMPORTED)
    for model_id, (source, original) in IMPORTED.items():
        model = models[model_id]
        assert model["family"] == source
        assert model["origin"]["family"] == source
        assert model["origin"]["source_file"] == original.name
        assert len(model["origin"]["sha256"]) == 64
        assert model["epoch"] is None
        assert model["class_names"][0] == "airplane"
        assert sum(model["stage_blocks"]) == model["num_gates"]
    # SkipNet's first block always runs: 17 of a ResNet-38's 18 are routed.
    assert models["skipnet"]["num_gates"] == 17
    assert models["aig"]["num_gates"] == 9


@pytest.mark.parametrize("model_id", list(IMPORTED))
def test_an_imported_model_is_explored_like_one_trained_here(field_client, model_id):
    url = f"/api/models/{model_id}"
    model = field_client.get(url).json()
    paths = field_client.get(f"{url}/paths").json()
    assert len(paths["paths"]) == 48
    assert all(len(p) == model["num_gates"] and set(p) <= {"0", "1"} for p in paths["paths"])
    assert all(m <= model["full_macs"] for m in paths["macs"])

    _, umap = wait_for_result(field_client, f"{url}/embeddings/umap")
    assert umap.status_code == 200, umap.text
    assert np.isfinite(umap.json()["x"]).all() and len(umap.json()["x"]) == 48

    metrics = field_client.get(f"{url}/metrics")
    assert metrics.status_code == 200, metrics.text
    overall = metrics.json()["overall"]
    assert overall["unique_paths"] == len(set(paths["paths"]))
    # The figures measured at import (the model table's) are the server's.
    for name in ("accuracy", "unique_paths", "mean_executed_blocks", "view_distance"):
        assert model["metrics"][name] == pytest.approx(overall[name]), name

    photo = Image.fromarray((np.random.default_rng(1).random((40, 40, 3)) * 255).astype(np.uint8))
    upload = field_client.post(
        f"{url}/route", files={"file": ("p.png", encode(photo, "PNG"), "image/png")}
    )
    assert upload.status_code == 200, upload.text
    assert "umap" in upload.json()["embedding"]

    own = paths["paths"][0]
    flipped = "".join("1" if bit == "0" else "0" for bit in own)
    forced = field_client.get(f"{url}/samples/0/route", params={"force_path": flipped})
    assert forced.status_code == 200, forced.text
    assert forced.json()["path"] == flipped and forced.json()["unforced"]["path"] == own

    _, importance = wait_for_result(field_client, f"{url}/importance")
    assert importance.status_code == 200, importance.text


def test_two_families_compare_on_the_same_images(field_client):
    """The measures are the same functions of the paths whatever the network."""
    a = field_client.get("/api/models/skipnet/metrics").json()["overall"]
    b = field_client.get("/api/models/blockdrop/metrics").json()["overall"]
    assert a.keys() == b.keys()
    assert a["count"] == b["count"] == 48
    assert a["view_distance"] is not None and b["view_distance"] is not None
