"""Reference data for tests/test_field_blockdrop.py, from BlockDrop's own code.

Usage: python make_reference.py /tmp/ref_blockdrop [output dir, default: this folder]

The argument is a checkout of github.com/Tushar-N/blockdrop (models/, utils.py) patched
to import under Python 3 (see README.md). Builds R32_C10 as utils.get_model does (a
FlatResNet32 [5, 5, 5] steered by a Policy32 [1, 1, 1] with 15 outputs), gives every
weight and BatchNorm statistic random values, and writes what finetune.py would have
saved, plus their network's answers on 16 fixed inputs.
"""

import json
import re
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

checkout = Path(sys.argv[1]).resolve()
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent
sys.path.insert(0, str(checkout))
from models import base, resnet  # noqa: E402  (their code, from the checkout)

torch.manual_seed(0)
LAYERS, NUM_CLASSES = [5, 5, 5], 10
rnet = resnet.FlatResNet32(base.BasicBlock, LAYERS, num_classes=NUM_CLASSES)
agent = resnet.Policy32([1, 1, 1], num_blocks=sum(LAYERS))
num_blocks = sum(LAYERS)

# BatchNorm statistics and affine parameters away from their (1, 0) initial values,
# so that a wrong mapping of any BN key changes the answer.
with torch.no_grad():
    for net in (rnet, agent):
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0, 1.0)
                m.bias.normal_(0, 0.1)
    # Logits of a few units, so that 1e-5 is a tolerance of float32 rounding, not of
    # the size of the numbers.
    rnet.fc.weight.normal_(0, 0.02)
rnet.eval()
agent.eval()

inputs = torch.randn(16, 3, 32, 32)  # taken as already normalised

# The policy's bias per block: a quantile (30% to 70%) of that block's logits over the
# 16 images, put midway between two images' logits, so that every block runs for some
# images and not others, and no probability sits near the 0.5 threshold.
with torch.no_grad():
    features = agent.features.forward_full(inputs)
    raw = features @ agent.logit.weight.t()  # (16, 15) without bias
    ranked = raw.sort(dim=0).values
    skipped_count = torch.randint(5, 12, (num_blocks,))  # images skipping each block
    between = 0.5 * (
        ranked[skipped_count - 1, torch.arange(num_blocks)]
        + ranked[skipped_count, torch.arange(num_blocks)]
    )
    agent.logit.bias.copy_(-between)

    # test.py: probs thresholded at 0.5 (>= 0.5 executes); the policy is the only
    # routing, and rnet.forward masks each block with it.
    probs, _ = agent(inputs)
    policy = probs.clone()
    policy[policy < 0.5] = 0.0
    policy[policy >= 0.5] = 1.0
    logits = rnet.forward(inputs, policy)
    margin = (agent.logit(features)).abs().min().item()
    assert margin > 1e-4, f"a policy logit is too close to the threshold ({margin})"

    # test.py profiles with forward_single, one image at a time: the same answer.
    for i in range(16):
        single = rnet.forward_single(inputs[i : i + 1], policy[i])
        assert torch.allclose(single, logits[i : i + 1], atol=1e-5)

    # A forced path: their rnet takes the policy as an argument, so the agent runs as
    # usual and its thresholded output is replaced by the seeded random paths.
    generator = torch.Generator().manual_seed(1)
    forced = (torch.rand(16, num_blocks, generator=generator) < 0.5).float()
    forced[0] = 1.0  # the full network
    forced[1] = 0.0  # every block skipped
    agent(inputs)
    forced_logits = rnet.forward(inputs, forced)


# FLOPs as test.py counts them (its FConv2d and FLinear: 2 * in * out * k * k * output
# area per conv, 2 * in * out per linear layer), agent plus rnet.forward_single, per
# image of batch 1. The test checks the project's MAC table against these.
def test_py_flops(image, path) -> int:
    total = 0

    def count(module, args, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            area = output.size(-1) * output.size(-2)
            total += (
                2
                * module.in_channels
                * module.out_channels
                * int(np.prod(module.kernel_size))
                * area
            )
        else:
            total += 2 * module.in_features * module.out_features

    hooks = [
        m.register_forward_hook(count)
        for net in (agent, rnet)
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        agent(image)
        rnet.forward_single(image, path)
    for h in hooks:
        h.remove()
    return total


forced_flops = [test_py_flops(inputs[i : i + 1], forced[i]) for i in range(16)]

decisions = policy.to(torch.uint8)
assert 0.3 <= decisions.float().mean() <= 0.7, decisions.float().mean()
assert len({tuple(row.tolist()) for row in decisions}) > 8  # paths differ across images

# What finetune.py saves: agent.state_dict() and rnet.state_dict() (agent.module /
# rnet.module under --parallel, so never a "module." prefix), the epoch, and reward and
# accuracy, which PyTorch 0.3's Tensor.mean() returned as Python floats. PyTorch 0.3
# wrote no num_batches_tracked. The file name follows finetune.py's pattern, its
# accuracy and reward computed as get_reward does (penalty -5) for seeded labels.
targets = torch.randint(0, NUM_CLASSES, (16,), generator=generator)
match = logits.argmax(1) == targets
reward = 1.0 - (policy.sum(1) / num_blocks) ** 2
reward[~match] = -5.0
epoch, acc, reward = 2000, float(match.float().mean()), float(reward.mean())
sparsity = float(policy.sum(1).mean())
unique = len({tuple(row.tolist()) for row in decisions})


def saved(net):
    kept = net.state_dict().items()
    return OrderedDict((k, v.clone()) for k, v in kept if "num_batches_tracked" not in k)


state = {
    "agent": saved(agent),
    "resnet": saved(rnet),
    "epoch": epoch,
    "reward": reward,
    "acc": acc,
}
name = "ckpt_E_%d_A_%.3f_R_%.2E_S_%.2f_#_%d.t7" % (epoch, acc, reward, sparsity, unique)  # noqa: UP031 (finetune.py's pattern)
out_dir.mkdir(parents=True, exist_ok=True)
for old in out_dir.glob("ckpt_*.t7"):
    old.unlink()
torch.save(state, out_dir / name, _use_new_zipfile_serialization=False)

np.savez(
    out_dir / "reference.npz",
    inputs=inputs.numpy().astype(np.float32),
    logits=logits.numpy().astype(np.float32),
    decisions=decisions.numpy(),
    forced=forced.to(torch.uint8).numpy(),
    forced_logits=forced_logits.numpy().astype(np.float32),
    forced_flops=np.asarray(forced_flops, dtype=np.int64),
)
keys = {
    "file": name,
    "top_level": list(state),
    "agent": {k: list(v.shape) for k, v in state["agent"].items()},
    "resnet": {k: list(v.shape) for k, v in state["resnet"].items()},
}


def write_keys(path: Path, keys: dict) -> None:
    text = json.dumps(keys, indent=1)  # one line per key: shapes on the key's line
    text = re.sub(r"\[\s*([0-9,\s]*?)\s*\]", lambda m: "[" + re.sub(r"\s+", " ", m[1]) + "]", text)
    path.write_text(text + "\n")


write_keys(out_dir / "keys.json", keys)

# R101_ImgNet's layout (keys and shapes only: its weights would be 170 MB), built as
# utils.get_model builds it. Policy224 starts from torchvision's pretrained ResNet-18,
# which cannot be downloaded here and whose state dict their Python 2 loader cannot
# read: both are replaced by no-ops, which changes no key or shape.
resnet.torchmodels = type("NoPretrained", (), {"resnet18": staticmethod(lambda **_: None)})
resnet.utils.load_weights_to_flatresnet = lambda source, target: target
big = resnet.FlatResNet224(base.Bottleneck, [3, 4, 23, 3], num_classes=1000)
big_agent = resnet.Policy224([1, 1, 1, 1], num_blocks=33)
write_keys(
    out_dir / "keys_imagenet.json",
    {
        part: {k: list(v.shape) for k, v in saved(net).items()}
        for part, net in (("agent", big_agent), ("resnet", big))
    },
)
print(
    f"wrote {name}: executed {decisions.float().mean():.2f} of blocks, "
    f"{unique} distinct paths, full network {forced_flops[0]:.3e} FLOPs (test.py's count)"
)
