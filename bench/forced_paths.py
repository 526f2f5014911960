"""Paths chosen in advance, for a CoDiNet to follow (``model(x, force_path=paths)``)."""

import torch


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
