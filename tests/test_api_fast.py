"""The HTTP API on an untrained model: fast enough for ``make check``."""

from tests.backend_helpers import digit_on_paper, encode

URL = "/api/models/untrained"


def upload(client, split=None, **params):
    image, _ = digit_on_paper(3)
    if split is not None:
        params["split"] = split
    return client.post(
        f"{URL}/route",
        files={"file": ("three.png", encode(image, "PNG"), "image/png")},
        params=params,
    )


def test_an_upload_is_answered_from_the_split_asked_for(untrained_client):
    for split in ("train", "test"):
        answer = upload(untrained_client, split)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["split"] == split
        own = untrained_client.get(f"{URL}/paths", params={"split": split}).json()
        neighbours = result["neighbors"]
        assert neighbours
        for neighbour in neighbours:
            index = own["sample_ids"].index(neighbour["sample_id"])
            assert own["labels"][index] == neighbour["label"]
            assert own["paths"][index] == neighbour["path"]


def test_an_upload_without_a_split_is_answered_from_the_test_split(untrained_client):
    assert upload(untrained_client).json()["split"] == "test"


def test_an_unknown_split_of_an_upload_is_refused(untrained_client):
    answer = upload(untrained_client, "bogus")
    assert answer.status_code == 422
    assert "split" in answer.text


def _operations(client):
    """(method, path with its path parameters filled, the query parameters it declares)."""
    document = client.get("/openapi.json").json()
    fill = {"model_id": "untrained", "sample_id": "0", "method": "pca", "job_id": "0" * 32}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            yield method, path.format(**fill), declared


def test_every_operation_refuses_a_query_parameter_it_does_not_declare(untrained_client):
    operations = list(_operations(untrained_client))
    assert len(operations) >= 14
    for method, url, declared in operations:
        answer = untrained_client.request(method, url, params={"splitt": "train"})
        assert answer.status_code == 422, (method, url, answer.status_code)
        issue = answer.json()["detail"][0]
        assert issue["loc"] == ["query", "splitt"], (method, url)
        for name in declared:
            assert name in issue["msg"]


def test_declared_parameters_are_still_accepted(untrained_client):
    answer = untrained_client.get(f"{URL}/paths", params={"split": "train", "format": "csv"})
    assert answer.status_code == 200
