"""Which view protocol the server measures a checkpoint's views with."""

from types import SimpleNamespace

import pytest

from backend.extraction import view_protocol
from backend.settings import Settings
from trainer.engine import ViewProtocol

SETTINGS = Settings(eval_views=4, view_images_per_class=32)


def served(config):
    return view_protocol(SimpleNamespace(meta={"config": config}), SETTINGS)


def test_a_checkpoint_is_measured_with_the_protocol_it_was_trained_with():
    config = {"eval_views": 6, "view_images_per_class": 8, "seed": 3}
    assert served(config) == ViewProtocol(6, 8)


@pytest.mark.parametrize(
    "config",
    [
        {},  # imported or hand-made: no protocol recorded
        {"eval_views": 6},
        {"eval_views": 10**9, "view_images_per_class": 8},  # a stranger's file asks a lot
        {"eval_views": 6, "view_images_per_class": 0},
        {"eval_views": True, "view_images_per_class": 8},
        {"eval_views": "6", "view_images_per_class": 8},
        {"eval_views": 6.0, "view_images_per_class": 8},
    ],
)
def test_the_servers_settings_apply_where_the_checkpoint_records_no_admissible_protocol(config):
    assert served(config) == ViewProtocol(4, 32)
