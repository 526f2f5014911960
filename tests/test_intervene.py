"""Intervening on paths: forcing one for an upload or a dataset sample, and the
importance of each block per class (its flip on every image's own path)."""

import numpy as np
import pytest
import torch

from backend import importance
from backend.importance import DIRECTIONS, flip_block_sums
from tests.backend_helpers import digit_on_paper, encode, wait_for_result
from tests.conftest import randomize_gates
from trainer.checkpoint import load_checkpoint, model_from_checkpoint
from trainer.data import build_transform, load_dataset
from trainer.models import create_model


def flipped(path: str, block: int) -> str:
    return path[:block] + ("0" if path[block] == "1" else "1") + path[block + 1 :]


def upload(client, image_bytes: bytes, **form):
    return client.post(
        "/api/models/digits/route",
        files={"file": ("digit.png", image_bytes, "image/png")},
        data=form,
    )


def test_a_sample_routed_without_force_is_its_own_routing(client):
    table = client.get("/api/models/digits/paths").json()
    sample = 7
    own = client.get(f"/api/models/digits/samples/{sample}/route").json()
    assert own["forced"] is False and own["unforced"] is None
    assert own["path"] == table["paths"][sample]
    assert own["prediction"] == table["predictions"][sample]
    assert own["sample"] == {
        "split": "test",
        "sample_id": sample,
        "label": table["labels"][sample],
        "class_name": str(table["labels"][sample]),
    }
    assert abs(sum(own["probabilities"]) - 1) < 1e-4
    # Its nearest neighbour by path is itself or an image on the same path.
    assert own["neighbors"][0]["distance"] == 0


def test_forcing_a_samples_own_path_changes_nothing_and_flipping_a_block_is_its_cost(client):
    own = client.get("/api/models/digits/samples/3/route").json()
    same = client.get(
        "/api/models/digits/samples/3/route", params={"force_path": own["path"]}
    ).json()
    assert same["forced"] is True
    assert same["probabilities"] == own["probabilities"]
    assert same["unforced"]["path"] == own["path"]

    block = own["path"].index("1")
    other = client.get(
        "/api/models/digits/samples/3/route", params={"force_path": flipped(own["path"], block)}
    ).json()
    assert other["path"] == flipped(own["path"], block)
    assert other["executed_blocks"] == own["executed_blocks"] - 1
    assert other["macs"] < own["macs"]
    assert other["unforced"]["prediction"] == own["prediction"]
    assert other["probabilities"] != own["probabilities"]
    assert other["neighbors"][0]["distance"] >= 0


def test_a_forced_upload_takes_that_path_and_keeps_its_own_beside(client):
    image, _ = digit_on_paper(5)
    own = upload(client, encode(image, "PNG")).json()
    everything = "1" * len(own["path"])
    forced = upload(client, encode(image, "PNG"), force_path=everything)
    assert forced.status_code == 200, forced.text
    result = forced.json()
    assert result["forced"] is True and result["path"] == everything
    assert result["executed_blocks"] == len(everything)
    assert result["macs"] == result["full_macs"]
    assert result["unforced"]["path"] == own["path"]
    assert result["unforced"]["probabilities"] == own["probabilities"]


def test_a_forced_sample_is_the_checkpoint_run_by_hand_on_that_path(client, untrained_runs):
    checkpoint = load_checkpoint(untrained_runs / "digits" / "checkpoint.pt")
    model = model_from_checkpoint(checkpoint).eval()
    bundle = load_dataset("digits", image_size=checkpoint["preprocessing"]["image_size"])
    transform = build_transform(checkpoint["preprocessing"], train=False)
    image = transform(bundle.test[11][0])[None]
    path = "101010101"
    with torch.no_grad():
        logits, _ = model(image, force_path=torch.tensor([[c == "1" for c in path]]))
    expected = logits[0].softmax(dim=0)
    result = client.get("/api/models/digits/samples/11/route", params={"force_path": path}).json()
    assert result["path"] == path
    torch.testing.assert_close(torch.tensor(result["probabilities"]), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "force_path, detail",
    [
        ("1", "has 9 characters"),
        ("1" * 10, "has 9 characters"),
        ("10101010x", "'0' (skip) and '1' (execute) only"),
        ("1 1 1 1 1", "got ' '"),
        ("", "has 9 characters"),
    ],
)
def test_a_wrong_path_is_422_with_what_a_path_is(client, force_path, detail):
    image, _ = digit_on_paper(2)
    for response in (
        client.get("/api/models/digits/samples/0/route", params={"force_path": force_path}),
        upload(client, encode(image, "PNG"), force_path=force_path),
    ):
        assert response.status_code == 422, response.text
        assert detail in response.json()["detail"]


def test_views_cannot_be_forced_and_unknown_samples_are_404(client):
    image, _ = digit_on_paper(2)
    response = client.post(
        "/api/models/digits/route",
        files={"file": ("d.png", encode(image, "PNG"), "image/png")},
        data={"force_path": "1" * 9},
        params={"views": 2},
    )
    assert response.status_code == 422 and "views" in response.json()["detail"]
    missing = client.get("/api/models/digits/samples/99999/route")
    assert missing.status_code == 404 and "ids run from 0" in missing.json()["detail"]


def test_flipping_blocks_sums_what_routing_each_image_alone_gives():
    """The batched sums against a loop over images, each routed alone with one block
    of its own path flipped."""
    model = create_model("codinet_resnet20", num_classes=3)
    randomize_gates(model, seed=7)
    model.eval()
    generator = torch.Generator().manual_seed(2)
    images = torch.randn(10, 3, 16, 16, generator=generator)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    with torch.no_grad():
        sums = flip_block_sums(model, images, labels, num_classes=3)
        expected = np.zeros_like(sums)
        for image, label in zip(images, labels.tolist(), strict=True):
            logits, gates = model(image[None])
            own = gates[0, :, 0].bool()
            own_probs = logits[0].softmax(dim=0)
            for block in range(model.num_gates):
                flipped = own.clone()
                flipped[block] = ~flipped[block]
                probs = model(image[None], force_path=flipped[None])[0][0].softmax(dim=0)
                direction = DIRECTIONS.index("off" if own[block] else "on")
                row = [
                    1.0,
                    float(own_probs.argmax() == label),
                    float(probs.argmax() == label),
                    float(own_probs[label]),
                    float(probs[label]),
                ]
                expected[direction, :, label, block] += row
    assert 0 < expected[0, 0].sum() < 10 * model.num_gates, "paths must mix both directions"
    np.testing.assert_allclose(sums, expected, atol=1e-5)


def test_block_importance_is_a_job_then_a_class_by_block_table(client):
    status, response = wait_for_result(client, "/api/models/digits/importance")
    assert status == 202 and response.status_code == 200, response.text
    result = response.json()
    classes, gates = len(result["class_names"]), result["gates"]
    off, on = np.array(result["off"]["count"]), np.array(result["on"]["count"])
    assert off.shape == on.shape == (classes, gates)
    # Each image either executes or skips each block: the two directions cover the split.
    table = client.get("/api/models/digits/paths").json()
    per_class = np.bincount(table["labels"], minlength=classes)
    assert ((off + on) == per_class[:, None]).all()
    executing = np.array([[c == "1" for c in p] for p in table["paths"]])
    for label in range(classes):
        assert (off[label] == executing[np.array(table["labels"]) == label].sum(axis=0)).all()
    # Own-path accuracy, pooled over both directions, is the class's accuracy.
    labels = np.array(table["labels"])
    correct = labels == np.array(table["predictions"])
    pooled = sum(
        np.nan_to_num(np.array(result[d]["own_accuracy"], dtype=float)) * counts
        for d, counts in (("off", off), ("on", on))
    )
    accuracy = np.array([correct[labels == c].mean() for c in range(classes)])
    np.testing.assert_allclose(
        pooled / per_class[:, None], np.repeat(accuracy[:, None], gates, 1), atol=1e-5
    )  # the API rounds to 6 digits
    # No image: no figure, not a zero.
    assert all(
        (value is None) == (count == 0)
        for row, counts in zip(result["on"]["forced_accuracy"], on, strict=True)
        for value, count in zip(row, counts, strict=True)
    )
    # Served from the cache the second time.
    assert client.get("/api/models/digits/importance").status_code == 200


def test_block_importance_errors_are_4xx(client):
    assert client.get("/api/models/nothing/importance").status_code == 404
    response = client.get("/api/models/digits/importance", params={"split": "val"})
    assert response.status_code == 422


def test_block_importance_of_a_large_split_is_measured_on_a_seeded_sample(client, monkeypatch):
    # A split past the bound is sampled (here a bound of 100 on digits' 1,437 training
    # images): the same images every time, every image counted once per block.
    monkeypatch.setattr("backend.importance.MAX_IMAGES", 100)
    status, response = wait_for_result(client, "/api/models/digits/importance?split=train")
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["images"], result["split_images"], result["sampled"]) == (100, 1437, True)
    counted = np.array(result["off"]["count"]) + np.array(result["on"]["count"])
    assert (counted.sum(axis=0) == 100).all()
    sample = importance.sample_of(1437, 100)
    assert len(set(sample)) == 100 and (np.diff(sample) > 0).all()
    assert (importance.sample_of(1437, 100) == sample).all()
    labels = np.array(client.get("/api/models/digits/paths?split=train").json()["labels"])
    per_class = np.bincount(labels[sample], minlength=len(result["class_names"]))
    assert (counted[:, 0] == per_class).all()
    # The test split (360 images) is measured whole.
    status, response = wait_for_result(client, "/api/models/digits/importance")
    assert response.json()["sampled"] is False and response.json()["images"] == 360
