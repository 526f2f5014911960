"""CUDA paths: AMP, channels-last and conditional execution on a GPU (skipped without one)."""

import pytest
import torch

from tests.backend_helpers import quick_config
from trainer.checkpoint import load_checkpoint
from trainer.models import create_model
from trainer.train import main as train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_amp_channels_last_training_run(tmp_path):
    metrics = train(
        quick_config(tmp_path / "run", epochs=2, device="cuda", amp=True, channels_last=True)
    )
    assert metrics["accuracy"] > 0.3
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    assert checkpoint["scaler"]["scale"] > 0  # the float16 loss scaler was used and saved


def test_conditional_equals_masked_on_cuda():
    model = create_model("codinet_resnet56", num_classes=10, gate_open_prob=0.5).cuda().eval()
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(64, 3, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        model.execution = "masked"
        masked, gates = model(x)
        model.execution = "conditional"
        conditional, gates_c = model(x)
    assert torch.equal(gates, gates_c)
    torch.testing.assert_close(conditional, masked, atol=1e-4, rtol=1e-4)
