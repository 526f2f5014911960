"""A network that cannot run a block on part of a batch (``conditional=False``) goes
through the product masked: the model list says so, every block it runs sees the whole
batch, and its paths, MACs, forced paths (of samples and uploads) and block importance
are those of the same weights run conditionally; the page says "masked"."""

import re
import threading

import pytest
import torch
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from backend.app import create_app
from backend.settings import Settings
from tests.backend_helpers import digit_on_paper, encode, wait_for_result
from tests.browser_support import LiveServer, page_session
from trainer.checkpoint import save_run
from trainer.models import create_model

IDS = ("masked", "twin")  # conditional=False, and the same weights with True


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    """A server's settings for the masked network and its conditional twin."""
    import tests.masked_network  # noqa: F401  (registers whole_batch_mlp, as the server would)

    root = tmp_path_factory.mktemp("masked")
    torch.manual_seed(0)
    masked = create_model("whole_batch_mlp", conditional=False)
    twin = create_model("whole_batch_mlp", conditional=True)
    twin.load_state_dict(masked.state_dict())
    for model_id, model in zip(IDS, (masked, twin), strict=True):
        save_run(model.eval(), "digits", root / "runs" / model_id)
    return Settings(
        runs_dir=root / "runs",
        cache_dir=root / "cache",
        warmup=False,
        model_modules="tests.masked_network",
    )


@pytest.fixture(scope="module")
def served(settings):
    """A client of that server, and per model the block calls that ran on fewer images
    than their route's batch."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        store = client.app.state.explorer.shared.store
        partial = {model_id: _partial_block_calls(store.get(model_id).model) for model_id in IDS}
        yield client, partial


def _partial_block_calls(model) -> list[bool]:
    """Hooks that record, for each block call, whether it ran on fewer images than the
    route that called it (each route starts at the stem; jobs route in other threads)."""
    batch, partial = threading.local(), []
    model.stem.register_forward_pre_hook(lambda _, args: setattr(batch, "n", len(args[0])))
    for block in model.blocks:
        block.register_forward_pre_hook(lambda _, args: partial.append(len(args[0]) < batch.n))
    return partial


def _ran_masked(partial: dict[str, list[bool]]) -> None:
    assert partial["masked"] and not any(partial["masked"]), "a block ran on part of a batch"
    assert any(partial["twin"]), "the twin never skipped per image: the check sees nothing"


def _same(a, b) -> bool:
    """Equal answers: the same structure and values, floats to float rounding (a block
    run on a sub-batch may sum in another order)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return b == pytest.approx(a, rel=1e-5, abs=1e-6)
    return a == b


def _both(client, url: str, **params) -> list[dict]:
    """The two models' answers to ``url``, without the ids that tell them apart."""
    answers = [client.get(f"/api/models/{model_id}{url}", params=params) for model_id in IDS]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [_anonymous(a.json()) for a in answers]


def _anonymous(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key not in ("model_id", "upload_id")}


def test_the_model_list_says_which_network_masks(served):
    client, _ = served
    models = {m["id"]: m for m in client.get("/api/models").json()}
    assert models["masked"]["conditional"] is False and models["twin"]["conditional"] is True
    assert models["masked"]["family"] == "mine" and models["masked"]["stage_blocks"] == [2, 3]
    # Stem 256x32, five blocks 32x32, five gates 32x1 and the classifier 32x10.
    assert (
        models["masked"]["full_macs"]
        == models["twin"]["full_macs"]
        == (256 * 32 + 5 * 32 * 32 + 5 * 32 + 32 * 10)
    )


def test_paths_and_macs_are_the_conditional_ones(served):
    client, partial = served
    masked, twin = _both(client, "/paths")
    assert len(set(masked["paths"])) > 1  # varied paths: blocks skipped for some images
    assert _same(masked, twin)
    # A path's MACs leave its skipped blocks out (32x32 each), computed or not.
    full = client.get("/api/models/masked").json()["full_macs"]
    assert masked["macs"] == [full - path.count("0") * 32 * 32 for path in masked["paths"]]
    # The measures are functions of these paths (and of augmented views' paths, routed
    # the same way); comparing them too would cost the fast loop 1.7 s.
    _ran_masked(partial)


def test_forced_paths_are_the_conditional_ones(served):
    client, partial = served
    own = _both(client, "/paths")[0]["paths"][0]
    flipped = "".join("1" if bit == "0" else "0" for bit in own)
    masked, twin = _both(client, "/samples/0/route", force_path=flipped)
    assert masked["forced"] and masked["path"] == flipped and masked["unforced"]["path"] == own
    assert _same(masked, twin)

    photo, _ = digit_on_paper(3)
    answers = [
        client.post(
            f"/api/models/{model_id}/route",
            files={"file": ("d.png", encode(photo, "PNG"), "image/png")},
            data={"force_path": "10101"},
        ).json()
        for model_id in IDS
    ]
    assert answers[0]["path"] == "10101"
    assert _same(*map(_anonymous, answers))
    _ran_masked(partial)


def test_block_importance_is_the_conditional_one(served):
    client, partial = served
    masked, twin = (wait_for_result(client, f"/api/models/{m}/importance")[1] for m in IDS)
    assert masked.status_code == twin.status_code == 200, (masked.text, twin.text)
    assert _same(_anonymous(masked.json()), _anonymous(twin.json()))
    _ran_masked(partial)


@pytest.mark.browser
@pytest.mark.slow
def test_the_model_table_says_masked(browser, settings):
    with LiveServer(create_app(settings)) as live, page_session(browser, live.url) as ui:
        ui.open()
        for model_id, network in (("masked", "5 gates · masked"), ("twin", "5 gates")):
            cell = ui.page.locator(f"#models-body tr[data-model={model_id}] td").nth(2)
            expect(cell).to_have_text(f"mine whole_batch_mlp · {network}")
        masked = ui.page.locator("#models-body tr[data-model=masked] td").nth(2)
        expect(masked).to_have_attribute("title", re.compile("Masked: it cannot skip a block"))
        assert ui.errors == []
