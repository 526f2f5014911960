"""Uploads held for routing again: bounded in number and time, and tied to the model
version they were prepared for."""

from types import SimpleNamespace

import pytest
import torch

from backend.errors import UnknownItem
from backend.images import PreparedUpload
from backend.services import image_routing
from backend.services.image_routing import HeldUploads


def model(content_hash="a", model_id="digits"):
    return SimpleNamespace(id=model_id, content_hash=content_hash)


def prepared():
    return PreparedUpload(torch.zeros(1, 8, 8), torch.zeros(1, 1, 16, 16), [])


def test_an_upload_is_held_for_its_model_only():
    held = HeldUploads()
    upload = prepared()
    upload_id = held.keep(model(), upload)
    assert held.get(model(), upload_id) is upload
    with pytest.raises(UnknownItem, match="post the image again"):
        held.get(model(model_id="other"), upload_id)


def test_a_changed_checkpoint_forgets_the_upload():
    held = HeldUploads()
    upload_id = held.keep(model("a"), prepared())
    with pytest.raises(UnknownItem, match="checkpoint changed"):
        held.get(model("b"), upload_id)
    with pytest.raises(UnknownItem, match="post the image again"):
        held.get(model("a"), upload_id)


def test_the_oldest_upload_goes_first_past_the_capacity():
    held = HeldUploads(capacity=2)
    first, second = held.keep(model(), prepared()), held.keep(model(), prepared())
    held.get(model(), first)  # used: now the most recent
    third = held.keep(model(), prepared())
    held.get(model(), first), held.get(model(), third)
    with pytest.raises(UnknownItem):
        held.get(model(), second)


def test_an_upload_unused_for_its_time_is_forgotten(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(image_routing.time, "monotonic", lambda: now[0])
    held = HeldUploads(seconds=60)
    upload_id = held.keep(model(), prepared())
    now[0] += 59
    held.get(model(), upload_id)  # used: its minute starts again
    now[0] += 59
    held.get(model(), upload_id)
    now[0] += 61
    with pytest.raises(UnknownItem):
        held.get(model(), upload_id)
