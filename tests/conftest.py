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


@pytest.fixture(scope="session")
def untrained_runs(tmp_path_factory):
    """A runs directory holding one untrained digits model (``untrained``) whose gates
    are seeded to route images along varied paths: what the HTTP tests need, in a
    second, without training. Tests that assert what training produces use
    ``digits_runs``."""
    from tests.backend_helpers import save_untrained_run

    runs = tmp_path_factory.mktemp("untrained") / "runs"
    save_untrained_run(runs / "untrained")
    return runs


@pytest.fixture(scope="module")
def untrained_client(untrained_runs, tmp_path_factory):
    """A client of a server of ``untrained_runs`` (lifespan run, no warm-up)."""
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from backend.settings import Settings

    settings = Settings(
        runs_dir=untrained_runs, cache_dir=tmp_path_factory.mktemp("cache"), warmup=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def randomize_gates(model, seed: int = 0, open_prob: float = 0.5) -> None:
    """Give every gate a random bias so that eval paths mix executed and skipped blocks."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            bias = torch.randn(2, generator=generator) * 3
            bias[0] += torch.logit(torch.tensor(open_prob))
            block.gate.fc2.bias.copy_(bias)
            block.gate.fc2.weight.normal_(0, 1.0, generator=generator)
