"""Reference data for the ConvNet-AIG importer, made with the public code itself.

Usage: python make_reference.py /tmp/ref_convnet-aig [output_dir]

The first argument is a folder holding ``convnet_aig.py`` and ``gumbelmodule.py`` of
andreasveit/convnet-aig (see README.md); the files are used unchanged, and the three
patches below are applied here, at run time:

1. ``nn.BatchNorm1d`` skips its input-dimension check: the gates apply a BatchNorm1d
   to a (B, 16, 1, 1) tensor, which the PyTorch the code was written for (0.3.1)
   accepted and current PyTorch refuses; ``F.batch_norm`` normalises channel 1 either way.
2. The Gumbel noise is zero: the original samples it even in evaluation; with it zero,
   the hard Gumbel-softmax is the argmax of the gate's two logits (ties: index 0, skip).
3. For ``forced_logits``, each gate's one-hot output is replaced by the forced
   decision (the gate still runs).

The network is ResNet_cifar(BasicBlock, [3, 3, 3]) (ResNet-20; the code's only named
CIFAR network is ResNet110_cifar = [18, 18, 18], too large to commit, and [1, 1, 1]
crashes on the code's missing OrderedDict import).
"""

import json
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

REF = Path(sys.argv[1]).resolve()
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent
sys.path.insert(0, str(REF))

nn.BatchNorm1d._check_input_dim = lambda self, input: None  # patch 1

import convnet_aig  # noqa: E402
import gumbelmodule  # noqa: E402

Gumbel = gumbelmodule.GumbleSoftmax
Gumbel.sample_gumbel_like = lambda self, template, eps=1e-10: torch.zeros_like(template)  # 2
_original_forward = Gumbel.forward


def _forced_forward(self, logits, temp=1, force_hard=False):  # patch 3
    y = _original_forward(self, logits, temp, force_hard)
    forced = getattr(self, "forced", None)
    if forced is None:
        return y
    f = forced.to(y.dtype).view(-1, 1, 1, 1)
    return torch.cat([1 - f, f], dim=1)


Gumbel.forward = _forced_forward

torch.manual_seed(0)
model = convnet_aig.ResNet_cifar(convnet_aig.BasicBlock, [3, 3, 3], num_classes=10)
blocks = [
    b for layer in (model.layer1, model.layer2, model.layer3) for b in layer._modules.values()
]
inputs = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))

# Random weights: every BatchNorm gets random statistics and affine parameters, the
# gates' last layers random weights instead of their N(0, 0.001) start.
with torch.no_grad():
    for name, m in model.named_modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.2)
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 1.5)
        if name.endswith("fc2"):
            m.weight.normal_(0, 0.5)
model.eval()


def gate_logits(block):
    """The logits the block's gate gives the 16 inputs, with the blocks before it as set."""
    seen = {}
    handle = block.fc2.register_forward_hook(lambda m, i, o: seen.setdefault("z", o.detach()))
    with torch.no_grad():
        model(inputs)
    handle.remove()
    return seen["z"].view(16, 2)


# Gates, input side first: the gate's BatchNorm statistics are those of its inputs on
# these images (as training would make them), and its output bias puts the threshold
# between two of the images' logit differences, so each block executes 5 to 11 of 16.
rng = np.random.default_rng(0)
with torch.no_grad():
    for block in blocks:
        seen = {}
        handle = block.fc1.register_forward_hook(
            lambda m, i, o, seen=seen: seen.setdefault("h", o.detach())
        )
        model(inputs)
        handle.remove()
        h = seen["h"].view(16, 16)
        block.fc1bn.running_mean.copy_(h.mean(0))
        block.fc1bn.running_var.copy_(h.var(0) + 1e-3)
        z = gate_logits(block)
        diff = (z[:, 1] - z[:, 0]).sort().values
        skipped = int(rng.integers(5, 12))
        threshold = float(diff[skipped - 1] + diff[skipped]) / 2
        block.fc2.bias[1] -= threshold

with torch.no_grad():
    logits, activations = model(inputs)
decisions = torch.stack([a.view(16) for a in activations], 1)
assert set(decisions.unique().tolist()) <= {0.0, 1.0}, "hard gates should be exactly 0 or 1"
margin = min(float((gate_logits(b)[:, 1] - gate_logits(b)[:, 0]).abs().min()) for b in blocks)
assert margin > 1e-3, f"a gate decision is too close to a tie ({margin})"

forced = torch.rand(16, len(blocks), generator=torch.Generator().manual_seed(2)) < 0.5
for index, block in enumerate(blocks):
    block.gs.forced = forced[:, index]
with torch.no_grad():
    forced_logits, forced_activations = model(inputs)
for block in blocks:
    del block.gs.forced
assert torch.equal(torch.stack([a.view(16) for a in forced_activations], 1).bool(), forced)

# train.py: model = torch.nn.DataParallel(model).cuda(); save_checkpoint({'epoch':
# epoch + 1, 'state_dict': model.state_dict(), 'best_prec1': best_prec1}, is_best),
# copied to model_best.pth.tar. PyTorch 0.3.1 wrote no num_batches_tracked and
# best_prec1 was a Python float (top1.avg of prec1[0] floats).
state = nn.DataParallel(model).state_dict()
state = OrderedDict(
    (k, v.clone()) for k, v in state.items() if not k.endswith("num_batches_tracked")
)
OUT.mkdir(parents=True, exist_ok=True)
torch.save(
    {"epoch": 350, "state_dict": state, "best_prec1": 91.27},
    OUT / "model_best.pth.tar",
    _use_new_zipfile_serialization=False,
)
np.savez(
    OUT / "reference.npz",
    inputs=inputs.numpy().astype(np.float32),
    logits=logits.numpy().astype(np.float32),
    decisions=decisions.numpy().astype(np.uint8),
    forced=forced.numpy().astype(np.uint8),
    forced_logits=forced_logits.numpy().astype(np.float32),
)
lines = [f"  {json.dumps(k)}: {json.dumps(list(v.shape))}" for k, v in state.items()]
(OUT / "keys.json").write_text("{\n" + ",\n".join(lines) + "\n}\n")
rates = decisions.mean(0).tolist()
print("executed per block:", [round(r, 2) for r in rates], "min margin", round(margin, 4))
print("logits range", float(logits.min()), float(logits.max()))
