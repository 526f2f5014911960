"""The REST contract (README, "REST API") against a digits model: the untrained one of
``untrained_runs`` (conftest), and the session's trained one where a test compares with
what training saved."""

import csv
import io
import shutil
import threading

import pytest
from PIL import Image

from tests.backend_helpers import wait_for_result
from tests.conftest import make_client


def test_health_and_openapi(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["models"] == 1 and health["unloadable"] == {}
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/health",
        "/api/models",
        "/api/models/{model_id}",
        "/api/models/{model_id}/paths",
        "/api/models/{model_id}/embeddings/{method}",
        "/api/jobs/{job_id}",
        "/api/models/{model_id}/metrics",
        "/api/models/{model_id}/samples/{sample_id}/image",
        "/api/models/{model_id}/route",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


def test_models_list_and_detail(client):
    models = client.get("/api/models").json()
    assert [m["id"] for m in models] == ["digits"]
    model = models[0]
    assert model["arch"] == "codinet_resnet20" and model["dataset"] == "digits"
    assert model["num_classes"] == 10 and model["class_names"][0] == "0"
    assert model["num_gates"] == 9 and model["image_size"] == 16
    assert 0 < model["metrics"]["accuracy"] <= 1
    assert client.get("/api/models/digits").json() == model
    missing = client.get("/api/models/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_paths_json_and_csv(client):
    body = client.get("/api/models/digits/paths").json()
    n = len(body["sample_ids"])
    assert n == 360 and body["sample_ids"][:3] == [0, 1, 2]
    assert all(len(p) == 9 and set(p) <= {"0", "1"} for p in body["paths"])
    assert body["executed_blocks"] == [p.count("1") for p in body["paths"]]
    assert all(len(body[c]) == n for c in ("labels", "predictions", "macs", "confidences"))
    response = client.get("/api/models/digits/paths?format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == n and rows[5]["paths"] == body["paths"][5]
    assert int(rows[5]["macs"]) == body["macs"][5]
    train = client.get("/api/models/digits/paths?split=train").json()
    assert len(train["sample_ids"]) == 1437


@pytest.mark.parametrize(
    "url",
    [
        "/api/models/digits/paths?split=validation",
        "/api/models/digits/paths?format=xml",
        "/api/models/digits/metrics?format=xml",
        "/api/models/digits/embeddings/pca?format=xml",
        "/api/models/digits/embeddings/isomap",
        "/api/models/digits/embeddings/umap?n_neighbors=1",
        "/api/models/digits/embeddings/umap?perplexity=30",
        "/api/models/digits/embeddings/tsne?perplexity=abc",
        "/api/models/digits/embeddings/umap?n_epochs=5",
        "/api/models/digits/embeddings/umap?n_iter=500",
        "/api/models/digits/embeddings/tsne?n_epochs=100",
        "/api/models/digits/samples/-1/image",
        "/api/models/digits/samples/3/image?size=100000",
        "/api/models/digits/route?views=1000",
    ],
)
def test_invalid_parameters_are_422(client, url):
    response = client.post(url) if url.endswith("1000") else client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/models/nope/paths",
        "/api/models/nope/metrics",
        "/api/models/nope/embeddings/pca",
        "/api/models/nope/samples/0/image",
        "/api/models/digits/samples/360/image",
        "/api/jobs/0123456789abcdef",
    ],
)
def test_unknown_things_are_404(client, url):
    response = client.get(url)
    assert response.status_code == 404 and response.json()["detail"]


@pytest.mark.parametrize("method", ["umap", "tsne", "pca"])
def test_embedding_job_flow(client, method):
    url = f"/api/models/digits/embeddings/{method}"
    first_status, response = wait_for_result(client, url)
    assert first_status == 202  # computed as a job the first time
    body = response.json()
    n = 360
    assert len(body["x"]) == len(body["y"]) == len(body["path_ids"]) == n
    assert sum(body["path_counts"]) == n and len(body["paths"]) == len(body["path_counts"])
    assert body["params"]["seed"] == 0 and body["params"]["distinct_paths"] == len(body["paths"])
    # Samples with the same path share one point; the ids index the distinct paths.
    paths = client.get("/api/models/digits/paths").json()["paths"]
    for i in range(0, n, 37):
        assert body["paths"][body["path_ids"][i]] == paths[i]
    assert client.get(url).status_code == 200  # cached now
    rows = list(csv.DictReader(io.StringIO(client.get(url + "?format=csv").text)))
    assert len(rows) == n and float(rows[7]["x"]) == pytest.approx(body["x"][7])


def test_embedding_is_reproducible_across_servers(untrained_runs, tmp_path):
    results = []
    for cache in ("a", "b"):
        with make_client(untrained_runs, tmp_path / cache) as client:
            results.append(wait_for_result(client, "/api/models/digits/embeddings/tsne")[1].json())
    assert results[0]["x"] == results[1]["x"] and results[0]["y"] == results[1]["y"]


def test_concurrent_requests_share_one_job(untrained_runs, tmp_path):
    with make_client(untrained_runs, tmp_path / "cache") as client:
        url = "/api/models/digits/embeddings/umap?n_neighbors=5&n_epochs=30"
        responses = []
        barrier = threading.Barrier(6)

        def fetch():
            barrier.wait()
            responses.append(client.get(url))

        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.status_code for r in responses] == [202] * 6
        assert len({r.json()["job_id"] for r in responses}) == 1
        job_id = responses[0].json()["job_id"]
        _, done = wait_for_result(client, url)
        assert done.json()["params"]["n_neighbors"] == 5
        assert done.json()["params"]["n_epochs"] == 30
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["status"] == "done" and job["progress"] == 1.0


def test_cache_survives_a_restart(untrained_runs, tmp_path):
    cache = tmp_path / "cache"
    with make_client(untrained_runs, cache) as client:
        _, first = wait_for_result(client, "/api/models/digits/embeddings/pca")
    with make_client(untrained_runs, cache) as client:
        again = client.get("/api/models/digits/embeddings/pca")
        assert again.status_code == 200  # no job: read from the disk cache
        assert again.json()["x"] == first.json()["x"]


def test_changed_checkpoint_is_never_served_stale(own_runs, tmp_path):
    from tests.untrained_models import digits_checkpoint

    with make_client(own_runs, tmp_path / "cache") as client:
        before = client.get("/api/models/digits").json()
        paths_before = client.get("/api/models/digits/paths").json()["paths"]
        wait_for_result(client, "/api/models/digits/embeddings/pca")
        # Another network into the same run directory, as retraining it for 2 epochs with
        # another seed would write: new weights, new file, another epoch.
        shutil.rmtree(own_runs / "digits")
        digits_checkpoint(own_runs / "digits" / "checkpoint.pt", seed=7, epoch_index=1)
        after = client.get("/api/models/digits").json()
        assert after["content_hash"] != before["content_hash"]
        assert after["epoch"] == 2
        assert client.get("/api/models/digits/embeddings/pca").status_code == 202
        paths_after = client.get("/api/models/digits/paths").json()["paths"]
        assert paths_after != paths_before


def test_new_and_broken_checkpoints_appear_without_restart(own_runs, tmp_path):
    import torch

    with make_client(own_runs, tmp_path / "cache") as client:
        assert [m["id"] for m in client.get("/api/models").json()] == ["digits"]
        shutil.copytree(own_runs / "digits", own_runs / "digits-copy")
        assert [m["id"] for m in client.get("/api/models").json()] == ["digits", "digits-copy"]
        checkpoint = torch.load(own_runs / "digits" / "checkpoint.pt", weights_only=True)
        checkpoint["arch"] = "codinet_densenet"
        (own_runs / "alien").mkdir()
        torch.save(checkpoint, own_runs / "alien" / "checkpoint.pt")
        health = client.get("/api/health").json()
        assert "codinet_densenet" in health["unloadable"]["alien"]
        response = client.get("/api/models/alien")
        assert response.status_code == 409 and "architecture" in response.json()["detail"]
        assert len(client.get("/api/models").json()) == 2


def test_runs_of_an_ablation_are_models_and_a_seed_group(own_runs, tmp_path):
    """runs/<group>/<variant>-s<seed>/ are listed as <group>.<variant>-s<seed>, and
    /api/groups summarises them over seeds, paired by seed."""
    import torch

    source = torch.load(own_runs / "digits" / "checkpoint.pt", weights_only=True)
    accuracy = {("codinet", 0): 0.9, ("codinet", 1): 0.8, ("no-codi", 0): 0.7, ("no-codi", 1): 0.5}
    for (variant, seed), value in accuracy.items():
        run = own_runs / "abl" / f"{variant}-s{seed}"
        run.mkdir(parents=True)
        checkpoint = {**source, "metrics": {**source["metrics"], "accuracy": value}}
        torch.save(checkpoint, run / "checkpoint.pt")
    with make_client(own_runs, tmp_path / "cache") as client:
        models = {m["id"]: m for m in client.get("/api/models").json()}
        assert set(models) == {"digits", "abl.codinet-s0", "abl.codinet-s1", "abl.no-codi-s0",
                               "abl.no-codi-s1"}  # fmt: skip
        grouped = models["abl.no-codi-s1"]
        assert (grouped["group"], grouped["variant"], grouped["seed"]) == ("abl", "no-codi", 1)
        assert models["digits"]["group"] is None
        assert client.get("/api/models/abl.codinet-s1/paths").status_code == 200
        assert client.get("/api/models/abl.codinet-s7").status_code == 404
        (group,) = client.get("/api/groups").json()
    assert group["group"] == "abl" and group["reference"] == "codinet"
    spread = group["variants"]["no-codi"]["accuracy"]
    assert spread["n"] == 2 and spread["mean"] == pytest.approx(0.6)
    assert spread["sd"] == pytest.approx(0.1414214, abs=1e-6)
    difference = group["differences"]["no-codi"]["accuracy"]
    # codinet - no-codi per seed: 0.2 and 0.3.
    assert difference["mean"] == pytest.approx(0.25) and difference["n"] == 2
    assert difference["reading"] in ("CoDiNet better", "no detectable difference")
    assert group["models"]["codinet"] == {"0": "abl.codinet-s0", "1": "abl.codinet-s1"}


def test_checkpoints_of_earlier_versions_show_todays_measure_names(own_runs, tmp_path):
    import torch

    checkpoint = torch.load(own_runs / "digits" / "checkpoint.pt", weights_only=True)
    metrics = {k: v for k, v in checkpoint["metrics"].items() if k not in ("view_distance",
               "any_two_distance")}  # fmt: skip
    checkpoint["metrics"] = {**metrics, "consistency": 0.75, "diversity": 2.5}
    torch.save(checkpoint, own_runs / "digits" / "checkpoint.pt")
    with make_client(own_runs, tmp_path / "cache") as client:
        shown = client.get("/api/models/digits").json()["metrics"]
    assert shown["view_distance"] == 0.75 and shown["any_two_distance"] == 2.5
    assert "consistency" not in shown and "diversity" not in shown


def test_metrics(client):
    body = client.get("/api/models/digits/metrics").json()
    paths = client.get("/api/models/digits/paths").json()
    overall, per_class = body["overall"], body["per_class"]
    correct = sum(p == lbl for p, lbl in zip(paths["predictions"], paths["labels"], strict=True))
    assert overall["accuracy"] == pytest.approx(correct / 360)
    assert overall["unique_paths"] == len(set(paths["paths"]))
    assert sum(c["count"] for c in per_class) == 360 and len(per_class) == 10
    assert len(body["class_distance"]) == 10 and len(body["class_distance"][0]) == 10
    assert len(body["block_execution_rate"]) == 10 and len(body["block_execution_rate"][0]) == 9
    assert all(body["class_distance"][i][i] == 0 for i in range(10))
    for row in per_class:
        members = [
            p
            for p, lbl in zip(paths["paths"], paths["labels"], strict=True)
            if lbl == row["class_index"]
        ]
        assert row["unique_paths"] == len(set(members))
        assert row["view_distance"] is not None and row["view_distance"] >= 0
        assert row["same_class_distance"] >= 0 and row["class_mean_distance"] >= 0
        assert row["same_class_ratio"] == pytest.approx(
            row["same_class_distance"] / overall["any_two_distance"]
        )
    rates = body["block_execution_rate"][3]
    members = [p for p, lbl in zip(paths["paths"], paths["labels"], strict=True) if lbl == 3]
    assert rates[0] == pytest.approx(sum(p[0] == "1" for p in members) / len(members), abs=1e-6)


def test_metrics_csv_is_the_per_class_table(client):
    body = client.get("/api/models/digits/metrics").json()
    response = client.get("/api/models/digits/metrics?format=csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "digits-test-metrics.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(body["per_class"][0])
    assert [int(row["class_index"]) for row in rows] == list(range(10))
    for row, expected in zip(rows, body["per_class"], strict=True):
        assert row["class_name"] == expected["class_name"]
        assert int(row["count"]) == expected["count"]
        assert float(row["view_distance"]) == pytest.approx(expected["view_distance"])


def test_every_format_an_endpoint_takes_is_served(client):
    """An endpoint that takes ``format`` serves each value its schema lists, with the
    media type the schema declares; one that does not take it declares no CSV."""
    media_types = {"json": "application/json", "csv": "text/csv"}
    spec = client.get("/openapi.json").json()
    taking = []
    for path, operations in spec["paths"].items():
        for verb, operation in operations.items():
            names = {p["name"]: p for p in operation.get("parameters", [])}
            declared = operation["responses"]["200"]["content"]
            if "format" not in names:
                assert "text/csv" not in declared, (verb, path)
                continue
            taking.append(path)
            url = path.format(model_id="digits", method="pca")
            for value in names["format"]["schema"]["enum"]:
                assert media_types[value] in declared, (path, value)
                _, response = wait_for_result(client, f"{url}?format={value}")
                assert response.status_code == 200, (path, value, response.text)
                assert response.headers["content-type"].startswith(media_types[value])
    assert sorted(taking) == [
        "/api/models/{model_id}/embeddings/{method}",
        "/api/models/{model_id}/metrics",
        "/api/models/{model_id}/paths",
    ]


@pytest.mark.slow  # compares with the figures training saved
def test_measures_are_defined_once_and_match_the_trainers(digits_runs, tmp_path):
    """The checkpoint's figures (computed by the trainer) and the explorer's agree: one
    definition of each measure, one view protocol."""
    from trainer.measures import MEASURES

    with make_client(digits_runs, tmp_path / "cache", view_images_per_class=8) as client:
        definitions = client.get("/api/measures").json()
        assert [d["name"] for d in definitions] == list(MEASURES)
        assert all(d["better"] in ("lower", "higher") for d in definitions)
        saved = client.get("/api/models/digits").json()["metrics"]
        body = client.get("/api/models/digits/metrics").json()
    assert body["view_protocol"] == {"views": 4, "images_per_class": 8, "seed": 0}
    for name in MEASURES:
        assert body["overall"][name] == pytest.approx(saved[name], abs=1e-9), name


def test_sample_thumbnail(client):
    response = client.get("/api/models/digits/samples/5/image")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (64, 64)
    big = Image.open(io.BytesIO(client.get("/api/models/digits/samples/5/image?size=128").content))
    assert big.size == (128, 128)
