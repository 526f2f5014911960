"""Paths chosen in advance, and a way to make a CoDiNet's gates follow them."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from trainer.models.codinet import EXECUTE, SKIP, CoDiNet

# Far enough apart that the argmax is never in doubt.
DECISIVE_LOGIT = 10.0


def uniform_paths(batch: int, num_gates: int, executed: int) -> torch.Tensor:
    """(batch, G) booleans: every sample executes the same ``executed`` blocks.

    The blocks are evenly spaced over the whole network, so each stage keeps the same
    share of its blocks.
    """
    chosen = torch.linspace(0, num_gates - 1, executed).round().long()
    row = torch.zeros(num_gates, dtype=torch.bool)
    row[chosen] = True
    return row.expand(batch, num_gates).clone()


def per_sample_paths(batch: int, num_gates: int, executed: int, seed: int = 0) -> torch.Tensor:
    """(batch, G) booleans: each sample executes its own random ``executed`` blocks.

    This is the harder case for conditional execution: every block runs on a different
    subset of the batch, so the batch is split and re-assembled at every block.
    """
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.rand(batch, num_gates, generator=generator).topk(executed, dim=1).indices
    return torch.zeros(batch, num_gates, dtype=torch.bool).scatter_(1, chosen, True)


@contextmanager
def forced_paths(model: CoDiNet, paths: torch.Tensor) -> Iterator[None]:
    """Within the block, the gates of ``model`` choose ``paths`` (B, G) for a batch of B.

    A forward hook replaces each gate's logits, so the gate itself still runs and its
    cost stays in the timing. Only batches of exactly B samples can be routed.
    """
    execute_logit = torch.where(paths, DECISIVE_LOGIT, -DECISIVE_LOGIT)
    logits = torch.empty(*paths.shape, 2)
    logits[..., EXECUTE] = execute_logit
    logits[..., SKIP] = -execute_logit
    device = next(model.parameters()).device
    logits = logits.to(device)

    def hook_for(index: int):
        return lambda _module, _inputs, _output: logits[:, index]

    handles = [
        block.gate.register_forward_hook(hook_for(index))
        for index, block in enumerate(model.blocks)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
