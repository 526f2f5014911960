"""Files written by a stranger: nothing in a runs, data or cache folder runs code here.

Each hostile file unpickles to a call of ``open(marker, "w")``: if the marker appears,
code chosen by the file's author ran in the process.
"""

import pickle
import shutil

import pytest
import torch
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.settings import Settings
from bench.cifar_files import write_cifar10
from tests.backend_helpers import digit_on_paper, encode, wait_for_embedding
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


@pytest.fixture
def own_runs(digits_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(digits_runs, runs, ignore=shutil.ignore_patterns(".cache"))
    return runs


def make_client(runs, cache, **settings) -> TestClient:
    app = create_app(Settings(runs_dir=runs, cache_dir=cache, warmup=False, **settings))
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("method", ["umap", "tsne", "pca"])
def test_files_planted_in_the_cache_run_no_code(own_runs, tmp_path, method):
    marker = tmp_path / "ran"
    cache = tmp_path / "cache"
    with make_client(own_runs, cache) as client:
        wait_for_embedding(client, f"/api/models/digits/embeddings/{method}")
    embeddings = cache / "embeddings"
    for npz in embeddings.glob("*.npz"):
        (embeddings / f"{npz.stem}.pkl").write_bytes(pickle.dumps(RunsCode(marker)))
    image, _ = digit_on_paper(3)
    with make_client(own_runs, cache) as client:
        response = client.post(
            "/api/models/digits/route", files={"file": ("d.png", encode(image, "PNG"))}
        )
        assert response.status_code == 200
        placed = response.json()["embedding"][method]
        # The placement is rebuilt from the cached arrays, not lost.
        assert placed["placement"] != "nearest known path"
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


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BROKEN_CHECKPOINTS))
def test_a_malformed_checkpoint_is_unloadable_and_the_others_keep_answering(
    own_runs, tmp_path, case
):
    change, words = BROKEN_CHECKPOINTS[case]
    shutil.copytree(own_runs / "digits", own_runs / "broken")
    checkpoint = torch.load(own_runs / "broken" / "checkpoint.pt", weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, own_runs / "broken" / "checkpoint.pt")
    with make_client(own_runs, tmp_path / "cache") as client:
        health = client.get("/api/health")
        assert health.status_code == 200, health.text
        assert health.json()["models"] == 1
        assert words in health.json()["unloadable"]["broken"]
        models = client.get("/api/models")
        assert models.status_code == 200 and [m["id"] for m in models.json()] == ["digits"]
        detail = client.get("/api/models/broken")
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


@pytest.mark.slow
@pytest.mark.parametrize("model_id", HOSTILE_MODEL_IDS)
def test_a_malformed_model_id_is_404_on_every_endpoint(own_runs, tmp_path, model_id):
    from urllib.parse import quote

    quoted = quote(model_id, safe="")
    with make_client(own_runs, tmp_path / "cache") as client:
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


@pytest.mark.slow
@pytest.mark.parametrize(
    "job_id",
    ["j" * 300, "0123456789abcdef0123456789abcdeg", "0123456789ABCDEF" * 2, "%00", "é" * 32],
)
def test_a_malformed_job_id_is_404(own_runs, tmp_path, job_id):
    from urllib.parse import quote

    with make_client(own_runs, tmp_path / "cache") as client:
        response = client.get(f"/api/jobs/{quote(job_id, safe='')}")
        assert response.status_code == 404 and "no job" in response.json()["detail"]


@pytest.mark.slow
@pytest.mark.parametrize("sample_id", ["360", "9" * 30, "9" * 5000, "-1", "1e3", "0x10", "١"])
def test_a_malformed_or_unknown_sample_id_is_a_clear_4xx(own_runs, tmp_path, sample_id):
    with make_client(own_runs, tmp_path / "cache") as client:
        response = client.get(f"/api/models/digits/samples/{sample_id}/image")
        assert response.status_code in (404, 422), response.text
        assert response.json()["detail"]
        assert client.get("/api/models/digits/samples/0/image").status_code == 200


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(CACHE_DAMAGE))
def test_a_damaged_cache_file_is_recomputed(own_runs, tmp_path, damage, caplog):
    import numpy as np

    cache = tmp_path / "cache"
    with make_client(own_runs, cache) as client:
        assert client.get("/api/models/digits/metrics").status_code == 200
        wait_for_embedding(client, "/api/models/digits/embeddings/pca")
    damaged = sorted(cache.rglob("*.npz"))
    assert {p.parent.name for p in damaged} == {"paths", "views", "embeddings"}
    for path in damaged:
        CACHE_DAMAGE[damage](path)
    image, _ = digit_on_paper(3)
    with make_client(own_runs, cache) as client:
        paths = client.get("/api/models/digits/paths")
        assert paths.status_code == 200, paths.text
        assert len(paths.json()["paths"]) == 360
        metrics = client.get("/api/models/digits/metrics")
        assert metrics.status_code == 200, metrics.text
        _, embedding = wait_for_embedding(client, "/api/models/digits/embeddings/pca")
        assert embedding.status_code == 200 and len(embedding.json()["x"]) == 360
        routed = client.post(
            "/api/models/digits/route", files={"file": ("d.png", encode(image, "PNG"))}
        )
        assert routed.status_code == 200 and routed.json()["embedding"]["pca"]
    for path in damaged:  # written again, whole
        with np.load(path) as data:
            assert len(data.files) >= 2
    assert "unreadable" in caplog.text
