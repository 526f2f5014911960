"""Reading a run's ``metrics.jsonl`` (one JSON object per epoch) for display.

The file is treated as written by a stranger: a line that is not a JSON object with a
whole, non-negative ``epoch`` is skipped and counted, and only finite numbers are kept.
In the file ``epoch`` is the 0-based index the training loop counts with (a resumed run
continues from it); what this module returns counts completed epochs from 1, as the
training log's "epoch 20/20" and the checkpoint table do.
"""

import json
import math
from pathlib import Path

from trainer.checkpoint import completed_epochs
from trainer.files import RefusedFile, open_regular
from trainer.measures import upgrade_metrics

MAX_BYTES = 16 * 2**20  # far above any real log: 10,000 epochs take about 8 MiB


def read_training_log(path: Path, max_bytes: int = MAX_BYTES) -> tuple[list[dict], int]:
    """(rows in epoch order, one per epoch, the last line of an epoch winning; number of
    lines skipped). A missing file has no rows; a file over ``max_bytes`` is read up to
    that size, the rest counted as one skipped line."""
    try:
        with open_regular(path) as (f, _size):
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        return [], 0
    except RefusedFile:  # a FIFO or a device in the run folder: nothing to show, no hang
        return [], 0
    skipped = 0
    if len(data) > max_bytes:
        data, skipped = data[: data.rfind(b"\n", 0, max_bytes) + 1], 1
    by_epoch: dict[int, dict] = {}
    for line in data.splitlines():
        if not line.strip():
            continue
        row = _row(line)
        if row is None:
            skipped += 1
            continue
        by_epoch[row["epoch"]] = row
    return [by_epoch[epoch] for epoch in sorted(by_epoch)], skipped


def _row(line: bytes) -> dict | None:
    try:
        raw = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict):
        return None
    epoch = raw.get("epoch")
    if type(epoch) is not int or epoch < 0:
        return None
    numbers = {
        str(name): float(value)
        for name, value in raw.items()
        if name != "epoch" and type(value) in (int, float) and math.isfinite(value)
    }
    return {"epoch": completed_epochs(epoch), **upgrade_metrics(numbers)}


# The setting weighting each loss column of the log in the total it was trained on
# (trainer.losses.codinet_loss); cross-entropy is unweighted.
LOSS_WEIGHT_SETTINGS = {
    "ce": None,
    "consistency_loss": "w_con",
    "diversity_loss": "w_div",
    "cost_loss": "w_cost",
    "target_rate_loss": "w_aig",
}


def loss_weights(config: dict) -> dict[str, float] | None:
    """Each loss column's weight, from a run's resolved config (a checkpoint's
    ``config``); None when it does not say, as for a checkpoint written elsewhere."""
    values = {}
    for column, setting in LOSS_WEIGHT_SETTINGS.items():
        value = 1.0 if setting is None else config.get(setting)
        if type(value) not in (int, float) or not math.isfinite(value):
            return None
        values[column] = float(value)
    return values
