"""Where models route and how: the device setting and the masked/conditional policy."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.services import Explorer
from backend.settings import Settings
from trainer.execution import (
    DeviceUnavailable,
    execution_mode,
    fastest_mode,
    resolve_device,
)
from trainer.models import create_model

CPU, CUDA = torch.device("cpu"), torch.device("cuda:0")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_auto_is_the_gpu_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == CUDA
    assert resolve_device("auto", local_rank=3) == torch.device("cuda:3")
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda:1")
    assert resolve_device("cpu") == CPU


def test_auto_is_the_cpu_without_a_gpu_and_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    with pytest.raises(DeviceUnavailable, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        resolve_device("gpu")


@pytest.mark.parametrize("batch", [1, 7, 256, 2048, 100_000])
def test_the_policy_follows_the_measurements(batch):
    # Conditional never slower on the CPU (bench/RESULTS.md, section 1; bench/HISTORY.md,
    # section 7); masked faster on an H200 for per-sample paths at batch 256 and 2048
    # (bench/RESULTS.md, section 6).
    assert fastest_mode(CPU, batch) == "conditional"
    assert fastest_mode(CUDA, batch) == "masked"
    assert execution_mode("auto", CUDA, batch) == "masked"
    assert execution_mode("conditional", CUDA, batch) == "conditional"
    assert execution_mode("masked", CPU, batch) == "masked"


def test_an_unknown_execution_is_refused():
    with pytest.raises(ValueError, match="auto, conditional, masked"):
        execution_mode("sparse", CPU, 1)
    model = create_model("codinet_resnet20", num_classes=10).eval()
    with pytest.raises(ValueError, match="conditional, masked"):
        model(torch.randn(2, 3, 32, 32), execution="sparse")


def test_the_mode_is_chosen_per_call_without_changing_the_model():
    from tests.conftest import randomize_gates

    model = create_model("codinet_resnet20", num_classes=10, gate_open_prob=0.5).eval()
    randomize_gates(model)
    x = torch.randn(16, 3, 32, 32)
    with torch.no_grad():
        conditional = model(x, execution="conditional")
        masked = model(x, execution="masked")
    assert model.execution == "conditional"  # the shared model's default is untouched
    assert torch.equal(conditional[1], masked[1])
    assert torch.equal(conditional[0], masked[0])  # the same logits on the CPU, bit for bit


@pytest.fixture
def runs(digits_runs, tmp_path):
    own = tmp_path / "runs"
    shutil.copytree(digits_runs / "digits", own / "digits")
    return own


def _served(runs: Path, cache: Path, execution: str, upload: bytes) -> tuple[dict, list, dict]:
    """Route the test split and one upload on a server with this execution setting;
    returns the upload's answer, the modes the model ran in, and the server's health."""
    explorer = Explorer(Settings(runs_dir=runs, cache_dir=cache, execution=execution, warmup=False))
    try:
        model = explorer.shared.store.get("digits").model
        modes, forward = [], model.forward

        def spy(x, force_path=None, execution=None):
            modes.append(execution)
            return forward(x, force_path, execution)

        model.forward = spy
        table = explorer.splits.paths("digits", "test").table
        answer = explorer.images.upload("digits", upload).model_dump()
        answer["split_paths"] = table.paths
        return answer, modes, explorer.models.health().model_dump()
    finally:
        explorer.close()


@pytest.mark.slow
def test_the_server_routes_in_the_mode_its_settings_pick(runs, tmp_path):
    from tests.backend_helpers import digit_on_paper, encode

    upload = encode(digit_on_paper(3)[0], "PNG")
    auto, auto_modes, health = _served(runs, tmp_path / "a", "auto", upload)
    masked, masked_modes, masked_health = _served(runs, tmp_path / "m", "masked", upload)
    assert health["device"] == "cpu" or torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert set(auto_modes) == {"conditional"}
        assert health["execution_by_batch_size"] == {"1": "conditional", "256": "conditional"}
    assert set(masked_modes) == {"masked"}
    assert masked_health["execution"] == "masked"
    assert masked_health["execution_by_batch_size"] == {"1": "masked", "256": "masked"}
    # Either mode, the same routing (the split's paths are computed, not cached, in both).
    assert np.array_equal(auto.pop("split_paths"), masked.pop("split_paths"))
    assert auto["path"] == masked["path"] and auto["prediction"] == masked["prediction"]


def _start_server(monkeypatch, capsys, env: dict) -> tuple[int, str]:
    """``python -m backend``'s entry point, run in this process (a start in a subprocess
    is in test_own_model.py): its exit code and what it printed to stderr."""
    from backend.__main__ import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["--port", "1", "--no-warmup"])
    return code, capsys.readouterr().err


@no_cuda
def test_a_server_told_to_use_a_missing_gpu_says_so_and_exits_2(monkeypatch, capsys):
    code, stderr = _start_server(monkeypatch, capsys, {"CODINET_DEVICE": "cuda"})
    assert code == 2
    assert stderr.strip() == "error: device 'cuda' was asked for, but PyTorch sees no CUDA device"


def test_an_unknown_device_setting_is_named_and_exits_2(monkeypatch, capsys):
    code, stderr = _start_server(monkeypatch, capsys, {"CODINET_DEVICE": "gpu"})
    assert code == 2
    assert stderr.startswith("error: CODINET_DEVICE: Input should be 'auto', 'cpu' or")
    assert "Traceback" not in stderr


@needs_cuda
@pytest.mark.gpu
@pytest.mark.slow
def test_a_gpu_server_routes_as_the_cpu_one(runs, tmp_path):
    from tests.backend_helpers import digit_on_paper, encode

    upload = encode(digit_on_paper(3)[0], "PNG")
    answers = {}
    for device in ("cpu", "cuda"):
        explorer = Explorer(
            Settings(runs_dir=runs, cache_dir=tmp_path / device, device=device, warmup=False)
        )
        try:
            model = explorer.shared.store.get("digits").model
            assert next(model.parameters()).device.type == device
            answers[device] = (
                explorer.splits.paths("digits", "test").table,
                explorer.images.upload("digits", upload).model_dump(),
                explorer.models.health().execution_by_batch_size,
            )
        finally:
            explorer.close()
    (cpu_table, cpu_upload, _), (gpu_table, gpu_upload, gpu_modes) = answers.values()
    assert gpu_modes == {"1": "masked", "256": "masked"}
    # TF32 convolutions round differently; a borderline gate may flip, not more.
    assert (cpu_table.paths != gpu_table.paths).any(axis=1).mean() < 0.01
    assert cpu_upload["prediction"] == gpu_upload["prediction"]
