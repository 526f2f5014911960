"""Where a model routes, and how: the device, and masked or conditional execution.

Conditional execution skips the skipped blocks' work but pays, per block, a
device-to-host sync (how many samples execute) and an index_select/index_copy. On a
CPU the saved convolutions dominate: conditional execution is never slower than masked
(a single image has no indexing at all). On a GPU a batch of small images is bound by
kernel launches, and the extra launches and syncs make it slower than masking for
per-sample paths at batch 256 and 2048 on an H200 (the figures: bench/RESULTS.md,
sections 1 and 6). Only uniform paths at batch 2048, which a trained CoDiNet does not
produce, favoured it there. So ``auto`` picks
conditional execution on the CPU and masked execution on CUDA at every batch size
measured; a new measurement changes ``_MEASURED`` below.
"""

import torch

DEVICES = ("auto", "cpu", "cuda")
MODES = ("conditional", "masked")
EXECUTIONS = ("auto", *MODES)

# Per device type: (smallest batch size, fastest mode) rows, ascending; a batch takes the
# last row it reaches. Batch sizes past the largest measured (2048) keep its answer.
_MEASURED: dict[str, tuple[tuple[int, str], ...]] = {
    "cpu": ((1, "conditional"),),
    "cuda": ((1, "masked"),),
}


class DeviceUnavailable(RuntimeError):
    """The device asked for is not there."""


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: the process's GPU when PyTorch sees one, else the CPU; ``cuda`` without
    a GPU raises DeviceUnavailable (a server told to use a GPU should say it has none,
    not run slowly on the CPU)."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device 'cuda' was asked for, but PyTorch sees no CUDA device")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(f"cuda:{local_rank}")


def fastest_mode(device: torch.device, batch_size: int) -> str:
    """The execution mode measured fastest for a batch of this size on this device type
    (a device type not measured gets the CPU's answer: no sync-bound launches)."""
    rows = _MEASURED.get(device.type, _MEASURED["cpu"])
    mode = rows[0][1]
    for smallest, fastest in rows:
        if batch_size >= smallest:
            mode = fastest
    return mode


def execution_mode(execution: str, device: torch.device, batch_size: int) -> str:
    """The mode a batch runs in: the one asked for, or with ``auto`` the fastest."""
    if execution == "auto":
        return fastest_mode(device, batch_size)
    if execution not in MODES:
        raise ValueError(f"execution must be one of {', '.join(EXECUTIONS)}, got {execution!r}")
    return execution
