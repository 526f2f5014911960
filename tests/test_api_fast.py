"""The HTTP API on an untrained model: fast enough for ``make check``."""

from tests.backend_helpers import digit_on_paper, encode

URL = "/api/models/digits"


def upload(client, split=None, force_path_field=None, **params):
    image, _ = digit_on_paper(3)
    if split is not None:
        params["split"] = split
    return client.post(
        f"{URL}/route",
        files={"file": ("three.png", encode(image, "PNG"), "image/png")},
        data={} if force_path_field is None else {"force_path": force_path_field},
        params=params,
    )


def test_an_upload_is_answered_from_the_split_asked_for(client):
    for split in ("train", "test"):
        answer = upload(client, split)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["split"] == split
        own = client.get(f"{URL}/paths", params={"split": split}).json()
        neighbours = result["neighbors"]
        assert neighbours
        for neighbour in neighbours:
            index = own["sample_ids"].index(neighbour["sample_id"])
            assert own["labels"][index] == neighbour["label"]
            assert own["paths"][index] == neighbour["path"]


def test_an_upload_without_a_split_is_answered_from_the_test_split(client):
    assert upload(client).json()["split"] == "test"


def test_an_unknown_split_of_an_upload_is_refused(client):
    answer = upload(client, "bogus")
    assert answer.status_code == 422
    assert "split" in answer.text


def _operations(client, upload_id="0" * 32):
    """(method, path with its path parameters filled, the query parameters it declares)."""
    document = client.get("/openapi.json").json()
    fill = {
        "model_id": "digits",
        "sample_id": "0",
        "method": "pca",
        "job_id": "0" * 32,
        "upload_id": upload_id,
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            yield method, path.format(**fill), declared


def test_every_operation_refuses_a_query_parameter_it_does_not_declare(client):
    operations = list(_operations(client))
    assert len(operations) >= 14
    for method, url, declared in operations:
        answer = client.request(method, url, params={"splitt": "train"})
        assert answer.status_code == 422, (method, url, answer.status_code)
        issue = answer.json()["detail"][0]
        assert issue["loc"] == ["query", "splitt"], (method, url)
        for name in declared:
            assert name in issue["msg"]


def test_declared_parameters_are_still_accepted(client):
    answer = client.get(f"{URL}/paths", params={"split": "train", "format": "csv"})
    assert answer.status_code == 200


def test_every_operation_answers_a_valid_request(client):
    """Each GET answers 200 (or 202 with a job that finishes), the upload route 200: the
    fast loop goes through every endpoint at least once."""
    from tests.backend_helpers import wait_for_result

    answered = []
    held = upload(client).json()["upload_id"]
    for method, url, _ in _operations(client, held):
        if method == "post":
            answer = upload(client)
        elif url.endswith("/neighbors"):
            answer = client.get(url, params={"path": upload(client).json()["path"]})
        elif url.startswith("/api/jobs/"):
            # A result not computed yet answers 202 with its job.
            started = client.get(f"{URL}/embeddings/tsne", params={"perplexity": 7})
            assert started.status_code == 202, started.text
            answer = client.get(f"/api/jobs/{started.json()['job_id']}")
        else:
            answer = wait_for_result(client, url)[1]
        assert answer.status_code == 200, (method, url, answer.text[:300])
        answered.append(url)
    assert len(answered) == len(list(_operations(client))) >= 14


def test_a_held_upload_routes_again_as_it_was_first_routed(client):
    first = upload(client, "train").json()
    held = first["upload_id"]
    again = client.get(f"{URL}/uploads/{held}/route", params={"split": "train"})
    assert again.status_code == 200, again.text
    assert again.json() == first

    flipped = "".join("1" if bit == "0" else "0" for bit in first["path"])
    forced = client.get(f"{URL}/uploads/{held}/route", params={"force_path": flipped}).json()
    posted = upload(client, force_path_field=flipped).json()
    assert forced["forced"] and forced["path"] == flipped == posted["path"]
    assert forced["unforced"] == posted["unforced"] and forced["neighbors"] == posted["neighbors"]
    assert forced["probabilities"] == posted["probabilities"]
    assert forced["split"] == "test"


def test_an_upload_no_longer_held_is_404_saying_to_post_it_again(client):
    answer = client.get(f"{URL}/uploads/{'0' * 32}/route")
    assert answer.status_code == 404
    assert "post the image again" in answer.json()["detail"]
    assert client.get(f"{URL}/uploads/not-hex/route").status_code == 422


def test_health_gives_the_neighbours_an_upload_lists(client):
    """The page lists as many nearest images for a shown sample: it reads the number here."""
    neighbors = client.get("/api/health").json()["neighbors"]
    assert neighbors == 8  # CODINET_NEIGHBORS's default
    assert len(upload(client).json()["neighbors"]) == neighbors


def test_an_uploads_neighbours_are_the_nearest_to_its_path(client):
    result = upload(client, "train").json()
    asked = {"path": result["path"], "split": "train"}
    nearest = client.get(f"{URL}/neighbors", params=asked).json()
    assert nearest["neighbors"] == result["neighbors"]


def test_neighbours_of_a_path_follow_one_rule(client):
    """Nearest by Hamming distance, ties by sample id; with ``other_paths`` none on the
    path itself; ``leave_out`` never listed: checked against the split's paths."""
    table = client.get(f"{URL}/paths").json()
    shown = 3
    path = table["paths"][shown]
    answer = client.get(
        f"{URL}/neighbors", params={"path": path, "other_paths": "true", "leave_out": shown}
    )
    assert answer.status_code == 200, answer.text
    listed = answer.json()["neighbors"]

    def distance(other: str) -> int:
        return sum(a != b for a, b in zip(path, other, strict=True))

    expected = sorted(
        (distance(p), i)
        for i, p in zip(table["sample_ids"], table["paths"], strict=True)
        if distance(p) > 0 and i != shown
    )[:8]
    assert [(n["distance"], n["sample_id"]) for n in listed] == expected
    everyone = client.get(f"{URL}/neighbors", params={"path": path}).json()["neighbors"]
    assert everyone[0]["distance"] == 0 and everyone[0]["sample_id"] == min(
        i for i, p in zip(table["sample_ids"], table["paths"], strict=True) if p == path
    )


def test_a_path_of_the_wrong_length_is_refused_saying_what_a_path_is(client):
    answer = client.get(f"{URL}/neighbors", params={"path": "0101"})
    assert answer.status_code == 422
    assert "block" in answer.json()["detail"]


def test_a_checkpoints_saved_figures_are_its_test_splits_and_say_so(client):
    """The model listing serves the figures the trainer saved, measured on the test split;
    /metrics on the test split gives the same numbers, one definition and one view
    protocol. The Training split's are other images' figures, so they may differ."""
    from trainer.measures import MEASURES

    saved = client.get("/api/models/digits").json()["metrics"]
    served = client.get("/api/models/digits/metrics", params={"split": "test"}).json()
    for name in ("accuracy", "mean_executed_blocks", "unique_paths", *MEASURES):
        assert served["overall"][name] == saved[name], name
    train = client.get("/api/models/digits/metrics", params={"split": "train"}).json()
    assert train["overall"]["view_distance"] != saved["view_distance"]


def test_a_closed_server_leaves_no_inference_thread(untrained_runs, tmp_path):
    """Its lanes end with it, not one idle period later, when the interpreter may be
    exiting (see test_batching)."""
    import threading

    from tests.conftest import make_client

    before = set(threading.enumerate())
    with make_client(untrained_runs, tmp_path / "cache") as client:
        assert upload(client).status_code == 200
        started = [t for t in set(threading.enumerate()) - before if t.name == "inference"]
    assert started and not any(thread.is_alive() for thread in started)
