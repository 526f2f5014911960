"""Reference data for tests/test_field_skipnet.py, from SkipNet's own model code.

Usage: python tests/data/field/skipnet/make_reference.py /tmp/ref_skipnet
where /tmp/ref_skipnet/cifar/models.py is ucbdrive/skipnet's cifar/models.py with the
patch listed in README.md (no .cuda() in init_hidden). Writes, next to this script:
model_best.pth.tar, reference.npz, keys.json (cifar10_rnn_gate_38, recurrent gate) and
the same three in feedforward/ (cifar10_feedforward_38, FFGate-I).
"""

import collections
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
BATCH = 16


def randomise(model: nn.Module, inputs: torch.Tensor) -> None:
    """Random weights that make the test meaningful: BatchNorm statistics and affine
    random (the scale kept below 1 so that 18 residual blocks keep activations of
    order one), the classifier scaled up (logits of order one), and the gates set so
    that decisions mix across images and blocks: the recurrent gate's embeddings scaled
    up (pooled features of different images differ little) and its one projection bias
    chosen, among a few values around the median, for the largest distance of any
    probability from 0.5; each feed-forward gate's logit bias put, block after block,
    midway between the 8th and 9th images' logit differences."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.3, 0.8)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        model.fc.weight.mul_(10)
        if hasattr(model, "control"):
            for name, module in model.named_modules():
                if "_gate" in name and isinstance(module, nn.Conv2d):
                    module.weight.mul_(10)
            _, _, probs = run(model, inputs)
            p = torch.stack([q.view(-1) for q in probs[:-1]], 1)
            centre = -torch.log(p / (1 - p)).median().item()
            best = (-1.0, 0.0)
            for shift in torch.linspace(-0.3, 0.3, 61).tolist():
                model.control.proj.bias.add_(centre + shift)
                _, masks, probs = run(model, inputs)
                model.control.proj.bias.sub_(centre + shift)
                p = torch.stack([q.view(-1) for q in probs[:-1]], 1)
                share = masks.mean().item()
                if 0.4 <= share <= 0.6:
                    best = max(best, ((p - 0.5).abs().min().item(), centre + shift))
            model.control.proj.bias.add_(best[1])
        else:
            gates = [m for n, m in model.named_children() if "_gate" in n][:-1]
            for index, gate in enumerate(gates):
                _, _, logprobs = run(model, inputs)
                diff = (logprobs[index][:, 1] - logprobs[index][:, 0]).sort().values
                gate.linear_layer.bias[1] -= (diff[BATCH // 2 - 1] + diff[BATCH // 2]) / 2


def run(model, inputs, forced=None):
    """Their forward in eval mode; with ``forced`` (B, G), every gate's decision is
    replaced by the forced column (the gate itself still runs on the forced path's
    features), the one after the last block left as it is (the model discards it)."""
    calls = []

    def patch(module, original):
        def forward(x):
            mask, prob = original(x)
            step = len(calls)
            calls.append(step)
            if forced is not None and step < forced.shape[1]:
                mask = forced[:, step].float().view(-1, 1, 1, 1)
            return mask, prob

        module.forward = forward

    # The recurrent model has one gate module for all blocks; the feed-forward one a
    # gate per block, and named_children lists them (group1_gate0, group1_gate1, ...) in
    # the order its forward calls them.
    if hasattr(model, "control"):
        gates = [model.control]
    else:
        gates = [m for n, m in model.named_children() if "_gate" in n]
    for gate in gates:
        patch(gate, gate.forward)
    with torch.no_grad():
        logits, masks, probs = model(inputs)
    for gate in gates:
        del gate.forward
    return logits, torch.stack(masks, dim=1), probs


def make(models, arch: str, out: Path) -> None:
    out.mkdir(exist_ok=True)
    torch.manual_seed(0)
    model = models.__dict__[arch]()
    model.eval()
    # Noise plus a per-image, per-channel offset: images whose pooled features differ.
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(BATCH, 3, 32, 32, generator=generator)
    inputs += torch.randn(BATCH, 3, 1, 1, generator=generator)
    randomise(model, inputs)
    logits, decisions, probs = run(model, inputs)
    gates = decisions.shape[1]
    forced = torch.rand(BATCH, gates, generator=torch.Generator().manual_seed(2)) < 0.5
    forced_logits, forced_masks, _ = run(model, inputs, forced.to(torch.uint8))
    assert torch.equal(forced_masks.bool(), forced)
    margin = min(float((p.view(-1) - 0.5).abs().min()) for p in _execute_probs(probs)[:-1])
    print(
        f"{arch}: executed {decisions.mean().item():.2f}, per block "
        f"{[round(v, 2) for v in decisions.mean(0).tolist()]}, per image "
        f"{[round(v, 2) for v in decisions.mean(1).tolist()]}"
    )
    print(f"  logits |max| {logits.abs().max().item():.2f}, min |p - 0.5| {margin:.2e}")

    # As train_sp.py saved it: a DataParallel model's state dict (``module.``), no
    # BatchNorm step counters (PyTorch 0.2 had none), a Python float best_prec1.
    wrapped = nn.DataParallel(model)
    state = collections.OrderedDict(
        (k, v) for k, v in wrapped.state_dict().items() if not k.endswith("num_batches_tracked")
    )
    saved = {"iter": 63999, "arch": arch, "state_dict": state, "best_prec1": 92.75}
    torch.save(saved, out / "model_best.pth.tar", _use_new_zipfile_serialization=False)
    np.savez(
        out / "reference.npz",
        inputs=inputs.numpy().astype(np.float32),
        logits=logits.numpy().astype(np.float32),
        decisions=decisions.numpy().astype(np.uint8),
        forced=forced.numpy().astype(np.uint8),
        forced_logits=forced_logits.numpy().astype(np.float32),
    )
    keys = {
        "top_level": {k: type(v).__name__ for k, v in saved.items()},
        "state_dict": {k: list(v.shape) for k, v in state.items()},
    }
    # One key a line: a diff shows a changed layout key by key.
    lines = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in keys["state_dict"].items())
    top = json.dumps(keys["top_level"])
    (out / "keys.json").write_text(f'{{"top_level": {top},\n "state_dict": {{\n{lines}\n}}}}\n')


def _execute_probs(probs):
    """Per gate, the probability of executing: the recurrent gate returns it, the
    feed-forward one its log-softmax (column 1)."""
    return [p if p.dim() == 1 or p.shape[-1] == 1 else p[:, 1].exp() for p in probs]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(sys.argv[1]) / "cifar"))
    import models  # noqa: E402  (theirs)

    make(models, "cifar10_rnn_gate_38", HERE)
    make(models, "cifar10_feedforward_38", HERE / "feedforward")
