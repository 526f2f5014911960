import pytest
import torch

from tests.loop_regularizer import loop_regularizer
from trainer.losses import (
    LossWeights,
    codinet_loss,
    cost_loss,
    path_regularizer,
    target_rate_loss,
)


def random_gates(batch, num_gates, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, num_gates, 2, generator=generator, dtype=torch.float64)
    return logits.softmax(dim=2)


@pytest.mark.parametrize(
    "n,views,num_gates,intra,inter",
    [
        (2, 1, 3, 0.25, 3.0),
        (5, 2, 9, 0.25, 1.5),
        (8, 3, 54, 0.1, 2.0),
        (16, 2, 16, 0.0, 1.0),
        (4, 4, 7, 0.5, 5.0),
    ],
)
def test_regularizer_matches_loop_transcription(n, views, num_gates, intra, inter):
    gates = random_gates(n * views, num_gates, seed=n * 100 + views).requires_grad_(True)
    fast = path_regularizer(gates, views, intra, inter)
    grads_fast = torch.autograd.grad(fast[0] + 3 * fast[1], gates)[0]
    slow = loop_regularizer(gates, views, intra, inter)
    grads_slow = torch.autograd.grad(slow[0] + 3 * slow[1], gates)[0]
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a.double(), b.double(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grads_fast.double(), grads_slow, atol=1e-6, rtol=1e-5)
    # The parameters are chosen so that no term is trivially zero.
    assert fast[0] > 0 or views == 1
    assert fast[1] > 0


def test_regularizer_gradient_is_finite_when_paths_coincide():
    gates = torch.tensor([[[1.0, 0.0]] * 4] * 6, requires_grad=True)  # identical paths
    consistency, diversity = path_regularizer(gates, 2, 0.25, 0.5)
    assert consistency.item() == 0 and diversity.item() == pytest.approx(0.25)
    (grad,) = torch.autograd.grad(consistency + diversity, gates)
    assert torch.isfinite(grad).all()


def test_regularizer_rejects_partial_view_groups():
    with pytest.raises(ValueError, match="views"):
        path_regularizer(torch.rand(5, 3, 2), 2, 0.25, 0.5)


def test_single_image_has_no_diversity_term():
    consistency, diversity = path_regularizer(random_gates(3, 4, 0), 3, 0.0, 1.0)
    assert diversity == 0 and consistency > 0


def test_cost_loss_is_batch_size_independent():
    gates = torch.zeros(4, 10, 2)
    gates[:, :6, 0] = 1  # 6 of 10 blocks executed by every sample
    gates[:, 6:, 1] = 1
    assert cost_loss(gates, 5.0).item() == pytest.approx(1.0)
    assert cost_loss(gates.repeat(8, 1, 1), 5.0).item() == pytest.approx(1.0)
    assert cost_loss(gates, 7.5).item() == pytest.approx(1.5)


def test_total_loss_adds_weighted_terms():
    gates = random_gates(8, 5, 3)
    logits = torch.randn(8, 4)
    labels = torch.randint(0, 4, (8,))
    weights = LossWeights(
        consistency=0.3,
        diversity=0.7,
        cost=0.2,
        intra_margin=0.1,
        inter_margin=1.0,
        target_blocks=2.0,
        target_rate=1.5,
    )
    total, parts = codinet_loss(logits, gates, labels, 2, weights)
    expected = (
        parts["ce"]
        + 0.3 * parts["consistency"]
        + 0.7 * parts["diversity"]
        + 0.2 * parts["cost"]
        + 1.5 * parts["target_rate"]
    )
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(parts["target_rate"], target_rate_loss(gates, 2.0 / 5))


def test_target_rate_loss_is_convnet_aigs():
    # Two gates: the first executes for all four images, the second for two of them.
    execute = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    gates = torch.stack([execute, 1 - execute], dim=2)
    # ((1 - 0.5)^2 + (0.5 - 0.5)^2) / 2 gates
    assert target_rate_loss(gates, 0.5).item() == pytest.approx(0.125)
    # Every gate at the target rate: no loss, however the rates are spread over images.
    assert target_rate_loss(gates[:, 1:], 0.5).item() == 0
