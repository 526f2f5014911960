import pytest
import torch

from tests.conftest import randomize_gates
from trainer.models import create_model, list_models

EXPECTED_GATES = {
    "codinet_resnet20": 9,
    "codinet_resnet32": 15,
    "codinet_resnet56": 27,
    "codinet_resnet110": 54,
    "codinet_resnet50": 16,
    "codinet_resnet101": 33,
}


def by_size(names) -> list:
    """The networks' names as parameters, ImageNet-sized ones marked slow (a second or
    several each); the fast loop keeps every CIFAR-sized one."""
    return [
        pytest.param(name, marks=pytest.mark.slow)
        if "imagenet" in name or name in ("codinet_resnet50", "codinet_resnet101")
        else name
        for name in names
    ]


def tiny_input(name: str, batch: int = 3, channels: int = 3) -> torch.Tensor:
    # The ImageNet layouts downsample 32x: 32 pixels leave a 1x1 map, enough for shapes.
    size = 32 if name in ("codinet_resnet50", "codinet_resnet101") else 16
    return torch.randn(batch, channels, size, size)


def test_registry_lists_every_variant():
    assert set(EXPECTED_GATES) <= set(list_models())
    with pytest.raises(KeyError, match="known"):
        create_model("resnet_unknown")


@pytest.mark.parametrize("name", by_size(EXPECTED_GATES))
def test_shapes_in_training_and_eval(name):
    model = create_model(name, num_classes=7)
    assert model.num_gates == EXPECTED_GATES[name]
    x = tiny_input(name)

    model.train()
    logits, gates = model(x)
    assert logits.shape == (3, 7)
    assert gates.shape == (3, model.num_gates, 2)
    torch.testing.assert_close(gates.sum(dim=2), torch.ones(3, model.num_gates))
    logits.sum().backward()  # gradients flow through both branches and the gates
    assert model.blocks[0].gate.fc2.weight.grad is not None

    model.eval()
    with torch.no_grad():
        logits, gates = model(x)
    assert logits.shape == (3, 7)
    assert set(gates.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(gates.sum(dim=2), torch.ones(3, model.num_gates))


@pytest.mark.parametrize("name", by_size(list_models()))
def test_every_registered_network_routes_through_the_interface(name):
    """Each network the registry builds (CoDiNet's and the field's) answers ``route``
    with logits and boolean paths, takes a forced path, and gives the same answer in
    conditional and masked execution."""
    model = create_model(name, num_classes=7).eval()
    imagenet = "imagenet" in name
    # SkipNet and BlockDrop pool with fixed kernels: they take the size they were built
    # for. ConvNet-AIG and CoDiNet's public code pool over whatever map is left, so they
    # take a smaller one (a shape check needs no more).
    adaptive = name.startswith(("aig_", "codinet_public_"))
    size = (64 if adaptive else 224) if imagenet else (16 if adaptive else 32)
    x = tiny_input(name, batch=2) if name in EXPECTED_GATES else torch.randn(2, 3, size, size)
    gates = model.num_gates
    assert sum(model.stage_blocks) == gates and len(model.routed_parts()) == gates
    forced = torch.zeros(2, gates, dtype=torch.bool)
    forced[1, ::2] = True
    with torch.no_grad():
        # ImageNet networks skip most blocks here: their every block at 224 is slow.
        runs = [forced] if imagenet else [None, forced]
        for path in runs:
            logits, paths = model.route(x, path, "conditional")
            masked_logits, masked_paths = model.route(x, path, "masked")
            assert logits.shape == (2, 7) and paths.dtype == torch.bool
            assert paths.shape == (2, gates)
            assert torch.equal(paths, masked_paths)
            torch.testing.assert_close(logits, masked_logits, atol=1e-4, rtol=1e-4)
        assert torch.equal(paths, forced)


def test_single_channel_input():
    model = create_model("codinet_resnet20", num_classes=10, in_channels=1).eval()
    logits, gates = model(torch.randn(2, 1, 16, 16))
    assert logits.shape == (2, 10) and gates.shape == (2, 9, 2)


def test_eval_is_deterministic():
    model = create_model("codinet_resnet32", num_classes=10)
    randomize_gates(model)
    model.eval()
    x = torch.randn(16, 3, 32, 32)
    with torch.no_grad():
        first = model(x)
        for _ in range(3):
            again = model(x)
            assert torch.equal(first[0], again[0])
            assert torch.equal(first[1], again[1])


def test_straight_through_training_gates_are_one_hot():
    model = create_model("codinet_resnet20", num_classes=10, hard_gumbel=True).train()
    _, gates = model(torch.randn(4, 3, 16, 16))
    assert set(gates.detach().unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "name,size", [("codinet_resnet20", 16), ("codinet_resnet110", 16), ("codinet_resnet50", 32)]
)
def test_conditional_execution_equals_masked(name, size):
    model = create_model(name, num_classes=10)
    randomize_gates(model, seed=1)
    # Train briefly so that BatchNorm running statistics are not the identity.
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, 3, size, size))
    model.eval()
    x = torch.randn(12, 3, size, size)
    with torch.no_grad():
        model.execution = "masked"
        masked_logits, masked_gates = model(x)
        model.execution = "conditional"
        cond_logits, cond_gates = model(x)
    executed = cond_gates[:, :, 0]
    assert 0 < executed.mean() < 1, "the test needs paths that mix executed and skipped blocks"
    assert torch.equal(masked_gates, cond_gates)
    torch.testing.assert_close(cond_logits, masked_logits, atol=1e-5, rtol=1e-5)


def test_conditional_execution_runs_blocks_only_on_executing_samples():
    model = create_model("codinet_resnet20", num_classes=10)
    randomize_gates(model, seed=2)
    model.eval()
    seen = []
    hooks = [
        b.block.conv1.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
        for b in model.blocks
    ]
    with torch.no_grad():
        _, gates = model(torch.randn(10, 3, 16, 16))
    for h in hooks:
        h.remove()
    executed_per_block = gates[:, :, 0].sum(dim=0).long().tolist()
    assert seen == [n for n in executed_per_block if n > 0]
    assert sum(seen) < 10 * model.num_gates


def _trained_briefly(name: str, seed: int, size: int = 16):
    model = create_model(name, num_classes=10)
    randomize_gates(model, seed=seed)
    model.train()
    with torch.no_grad():  # BatchNorm running statistics that are not the identity
        model(torch.randn(8, 3, size, size))
    return model.eval()


@pytest.mark.parametrize("execution", ["conditional", "masked"])
def test_forcing_the_path_the_gates_chose_gives_exactly_the_unforced_logits(execution):
    model = _trained_briefly("codinet_resnet20", seed=3)
    model.execution = execution
    x = torch.randn(12, 3, 16, 16)
    with torch.no_grad():
        logits, gates = model(x)
        chosen = gates[:, :, 0].bool()
        assert 0 < chosen.float().mean() < 1
        forced_logits, forced_gates = model(x, force_path=chosen)
    assert torch.equal(forced_logits, logits)
    assert torch.equal(forced_gates, gates)


def test_forcing_every_block_on_gives_the_full_networks_logits():
    model = _trained_briefly("codinet_resnet20", seed=4)
    x = torch.randn(6, 3, 16, 16)
    with torch.no_grad():
        out = model.stem(x)
        for gated in model.blocks:
            out = gated.block(out)
        full = model.classifier(out.mean(dim=(2, 3)))
        forced, gates = model(x, force_path=torch.ones(6, model.num_gates, dtype=torch.bool))
    assert gates[:, :, 0].all()
    torch.testing.assert_close(forced, full, atol=1e-5, rtol=1e-5)


def test_a_forced_path_routes_each_sample_its_own_way_and_changes_the_answer():
    model = _trained_briefly("codinet_resnet20", seed=5)
    x = torch.randn(4, 3, 16, 16)
    generator = torch.Generator().manual_seed(0)
    paths = torch.rand(4, model.num_gates, generator=generator) > 0.5
    with torch.no_grad():
        own_logits, _ = model(x)
        logits, gates = model(x, force_path=paths)
        # Row by row, the same as routing each sample alone.
        alone = torch.cat([model(x[i : i + 1], force_path=paths[i : i + 1])[0] for i in range(4)])
    assert torch.equal(gates[:, :, 0].bool(), paths)
    torch.testing.assert_close(logits, alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(logits, own_logits)


def test_a_path_is_forced_only_in_evaluation_and_only_with_one_bit_per_gate():
    model = create_model("codinet_resnet20", num_classes=10)
    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(ValueError, match="evaluation"):
        model(x, force_path=torch.ones(2, model.num_gates, dtype=torch.bool))
    model.eval()
    with pytest.raises(ValueError, match=r"shape \(2, 9\)"):
        model(x, force_path=torch.ones(2, 8, dtype=torch.bool))
