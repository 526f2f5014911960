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
