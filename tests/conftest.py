import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def randomize_gates(model, seed: int = 0, open_prob: float = 0.5) -> None:
    """Give every gate a random bias so that eval paths mix executed and skipped blocks."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            bias = torch.randn(2, generator=generator) * 3
            bias[0] += torch.logit(torch.tensor(open_prob))
            block.gate.fc2.bias.copy_(bias)
            block.gate.fc2.weight.normal_(0, 1.0, generator=generator)
