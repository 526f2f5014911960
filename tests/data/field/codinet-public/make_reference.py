"""Write the reference files for tests/test_field_codinet_public.py from the PUBLIC code.

Usage (see README.md for the checkout and its one added file):

    PYTHONPATH=/tmp/ref_codinet_public_deps python make_reference.py /tmp/ref_codinet-public

Imports CoDiNet from <checkout>/models/codinet.py, builds the smallest CIFAR backbone it
defines (resnet20: 3 gated BasicBlocks per stage, 9 gates), randomises it, runs it in
eval mode with the Gumbel noise of its test-time gate set to zero, and writes ckpt.pth
(as train_cifar.py saves it on one GPU), reference.npz and keys.json next to this file.
Nothing from this project is imported.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parent
BACKBONE, NUM_CLASSES, BATCH = "resnet20", 10, 16


def noise_free_gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """torch's F.gumbel_softmax with the Gumbel sample set to zero."""
    y_soft = (logits / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = torch.zeros_like(logits).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def decisions_of(gprob: torch.Tensor) -> torch.Tensor:
    """(B, G) uint8, 1 = executed, read as GateBlock reads its gate: ``gate.max(1)``
    over (execute, skip), index 0 executes (first index on ties)."""
    return (gprob.flatten(2).max(2).indices == 0).to(torch.uint8)


def gate_blocks(net):
    return [block for layer in (net.layer1, net.layer2, net.layer3) for block in layer]


def images(count: int) -> torch.Tensor:
    """Normalised-looking inputs: noise around a per-image colour, so that the gates,
    which see the pooled input, tell the images apart."""
    return torch.randn(count, 3, 32, 32) + torch.randn(count, 3, 1, 1)


def randomise(net, calibration: torch.Tensor) -> None:
    """BatchNorm statistics from a calibration batch (so activations stay in a sane
    range through 9 blocks), then perturbed, and random affine parameters."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration pass
    net.train()
    with torch.no_grad():
        net(calibration)
    net.eval()
    with torch.no_grad():
        for bn in bns:
            bn.momentum = 0.1
            bn.running_mean.add_(0.05 * torch.randn_like(bn.running_mean))
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.8, 1.2))
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.1)
        net.linear.weight.mul_(0.1)  # logits of a few units, as a trained net gives


def mix_gates(net, inputs: torch.Tensor) -> None:
    """Shift each gate's execute logit, input side first, so that between 5 and 11 of
    the 16 images execute the block, choosing the count with the widest margin so no
    decision is near a tie."""
    for gated in gate_blocks(net):
        captured = {}
        hook = gated.gate.line1.register_forward_hook(
            lambda m, i, o, store=captured: store.__setitem__("logits", o.detach())
        )
        with torch.no_grad():
            net(inputs)
        hook.remove()
        logits = captured["logits"]
        diff = (logits[:, 0] - logits[:, 1]).sort(descending=True).values
        gaps = {k: (diff[k - 1] - diff[k]).item() for k in range(5, 12)}
        k = max(gaps, key=gaps.get)
        threshold = (diff[k - 1] + diff[k]) / 2
        with torch.no_grad():
            gated.gate.line1.bias[0] -= threshold


def run_forced(net, inputs: torch.Tensor, forced: torch.Tensor) -> torch.Tensor:
    """Their forward with each gate's output replaced by the one-hot of the forced
    decision (the gate itself still runs)."""
    originals = []
    for index, gated in enumerate(gate_blocks(net)):
        gate = gated.gate
        originals.append(gate.forward)
        column = forced[:, index].float()

        def patched(x, _orig=gate.forward, _col=column):
            _orig(x)
            return torch.stack([_col, 1 - _col], dim=1).view(-1, 2, 1, 1)

        gate.forward = patched
    try:
        with torch.no_grad():
            logits, gprob = net(inputs)
    finally:
        for gated, original in zip(gate_blocks(net), originals, strict=True):
            gated.gate.forward = original
    assert torch.equal(decisions_of(gprob), forced), "forced decisions were not taken"
    return logits


def main(checkout: str) -> None:
    sys.path.insert(0, checkout)
    from models.codinet import CoDiNet  # noqa: PLC0415 (from the checkout)

    torch.nn.functional.gumbel_softmax = noise_free_gumbel_softmax
    torch.manual_seed(0)
    net = CoDiNet(BACKBONE, NUM_CLASSES)  # beta 25, no finetune, soft samples: the defaults
    randomise(net, images(64))
    inputs = images(BATCH)
    mix_gates(net, inputs)

    with torch.no_grad():
        logits, gprob = net(inputs)
    decisions = decisions_of(gprob)
    probs = gprob.flatten(2)
    margin = (probs[..., 0] - probs[..., 1]).abs().min().item()
    forced = (torch.rand(BATCH, decisions.shape[1]) < 0.5).to(torch.uint8)
    forced_logits = run_forced(net, inputs, forced)

    state = net.state_dict()  # an OrderedDict, as saved
    for key in [k for k in state if k.endswith("num_batches_tracked")]:
        del state[key]
    # train_cifar.py save_model: {'net': net.state_dict(), 'acc': top1, 'epoch': epoch},
    # top1 a Python float; a single-GPU run (WORLD_SIZE 1) has no DDP wrapper, no prefix.
    saved = {"net": state, "acc": 61.25, "epoch": 57}
    torch.save(saved, OUT / "ckpt.pth", _use_new_zipfile_serialization=False)
    np.savez(
        OUT / "reference.npz",
        inputs=inputs.numpy().astype(np.float32),
        logits=logits.numpy().astype(np.float32),
        decisions=decisions.numpy(),
        forced=forced.numpy(),
        forced_logits=forced_logits.numpy().astype(np.float32),
    )
    keys = {k: list(v.shape) for k, v in state.items()}
    (OUT / "keys.json").write_text(json.dumps(keys, indent=1) + "\n")
    print(f"gates executed per block: {decisions.float().mean(0).numpy().round(2).tolist()}")
    print(f"distinct paths: {len({tuple(row) for row in decisions.tolist()})} of {BATCH}")
    print(
        f"smallest |p_execute - p_skip|: {margin:.4f}; logits range "
        f"{logits.min().item():.3f} .. {logits.max().item():.3f}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
