"""MACs against values computed by hand from the layer shapes."""

import torch

from trainer.flops import _layer_macs, count_macs, mac_table
from trainer.models import create_model


def conv(h, w, cin, cout, k):
    return h * w * cout * cin * k * k


def gate(channels, hidden=16):
    return channels * hidden + hidden * 2


def cifar_hand_table(per_stage, num_classes=10):
    """(always, executed per block) of a CIFAR ResNet at 32x32 with zero-pad shortcuts."""
    executed, gate_inputs = [], []
    for stage, (width, size) in enumerate([(16, 32), (32, 16), (64, 8)]):
        for index in range(per_stage):
            cin = width // 2 if stage > 0 and index == 0 else width
            executed.append(conv(size, size, cin, width, 3) + conv(size, size, width, width, 3))
            gate_inputs.append(cin)
    always = conv(32, 32, 3, 16, 3) + 64 * num_classes + sum(gate(c) for c in gate_inputs)
    return always, executed


def test_resnet20_full_and_per_path():
    always, executed = cifar_hand_table(3)
    model = create_model("codinet_resnet20", num_classes=10)
    full = count_macs(model, 32)
    assert full == always + sum(executed)
    assert full == 40_555_936  # about 40.6 M (README, "Cost accounting")
    paths = torch.tensor([[1] * 9, [0] * 9, [1, 0, 1, 0, 1, 0, 1, 0, 1]], dtype=torch.bool)
    per_sample = count_macs(model, 32, paths)
    # Zero-pad shortcuts cost nothing, so a skipped block costs nothing.
    assert per_sample.tolist() == [
        full,
        always,
        always + sum(e for e, keep in zip(executed, paths[2].tolist(), strict=True) if keep),
    ]


def test_resnet110_full_and_per_path():
    always, executed = cifar_hand_table(18)
    model = create_model("codinet_resnet110", num_classes=10)
    full = count_macs(model, 32)
    assert full == always + sum(executed)
    assert round(full / 1e6, 1) == 252.9
    path = torch.zeros(1, 54, dtype=torch.bool)
    path[0, ::2] = True
    assert count_macs(model, 32, path).item() == always + sum(executed[::2])


def test_projection_skip_costs_its_convolution():
    model = create_model("codinet_resnet50", num_classes=1000)
    table = mac_table(model, 224)
    # The first bottleneck sees 56x56x64 and projects to 256 channels: its skip path
    # is that 1x1 projection, the only part a sample pays for when the block is skipped.
    assert table.skipped[0] == conv(56, 56, 64, 256, 1)
    assert table.skipped[1] == 0
    assert table.executed[1] == conv(56, 56, 256, 64, 1) + conv(56, 56, 64, 64, 3) + conv(
        56, 56, 64, 256, 1
    )
    assert round(table.full / 1e9, 2) == 4.09


def test_the_macs_of_a_forced_path_are_what_running_it_costs():
    """count_macs for a path equals the sum over the layers that actually run when the
    path is forced one sample at a time (conditional execution skips the rest)."""
    model = create_model("codinet_resnet20", num_classes=10).eval()
    paths = torch.tensor([[1, 0, 1, 1, 0, 0, 1, 0, 1], [0] * 9, [1] * 9], dtype=torch.bool)
    expected = count_macs(model, 16, paths)
    counted: list[int] = []
    hooks = [
        m.register_forward_hook(lambda m, _i, o: counted.append(_layer_macs(m, _i, o)))
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    for row in range(len(paths)):
        counted.clear()
        with torch.no_grad():
            model(torch.zeros(1, 3, 16, 16), force_path=paths[row : row + 1])
        assert sum(counted) == int(expected[row])
    for hook in hooks:
        hook.remove()
