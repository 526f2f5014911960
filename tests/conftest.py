import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def digits_runs(tmp_path_factory):
    """A runs directory holding one digits model trained in this test session."""
    from tests.backend_helpers import train_digits_run

    runs = tmp_path_factory.mktemp("served") / "runs"
    train_digits_run(runs / "digits", epochs=6)
    return runs


def randomize_gates(model, seed: int = 0, open_prob: float = 0.5) -> None:
    """Give every gate a random bias so that eval paths mix executed and skipped blocks."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            bias = torch.randn(2, generator=generator) * 3
            bias[0] += torch.logit(torch.tensor(open_prob))
            block.gate.fc2.bias.copy_(bias)
            block.gate.fc2.weight.normal_(0, 1.0, generator=generator)
