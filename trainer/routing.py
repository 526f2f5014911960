"""The one interface between a per-block routed network and everything past loading.

Extraction, forced paths, block importance, MAC counts, uploads, embeddings and the
measures speak only to ``RoutedNetwork``: for a batch of images, per image a binary
decision for each of its G routed blocks (input side first, True = executed) and the
class logits; the same with the decisions replaced by given paths; and, per routed
block, the modules an image runs when the block executes and when it is skipped, from
which ``trainer.flops`` measures the MACs of any path (routing cost included: every
module outside the routed parts, such as gates, a recurrent controller or a policy
network, runs for every image).

CoDiNet (``trainer.models.codinet``) is one implementation; the field's networks
(``trainer.field``) are others. A researcher's own gated network needs only these few
members: the README's "Your own model" shows a complete one.
"""

import torch
import torch.nn as nn

from trainer.execution import MODES


class RoutedNetwork(nn.Module):
    """A network that decides per image which of its ``num_gates`` blocks run.

    Subclasses set ``family`` (the codebase the network comes from), ``stage_blocks``
    (routed blocks per stage, input side first, summing to ``num_gates``) and
    ``conditional`` (whether a skipped block's work is really not done for that image:
    a network that cannot run a block on a subset of the batch computes every block
    and selects, and says so here). They implement ``route`` and ``routed_parts``.
    """

    family: str = "custom"
    conditional: bool = False
    stage_blocks: list[int]
    execution: str = "conditional"  # the default mode of ``route``; a per-call argument wins

    @property
    def num_gates(self) -> int:
        return sum(self.stage_blocks)

    def route(
        self,
        x: torch.Tensor,
        force_path: torch.Tensor | None = None,
        execution: str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluation: ``(logits (B, classes), paths (B, G) bool)``.

        ``force_path`` (B, G) booleans route each image through the given blocks instead
        of its own decisions; the routing modules still run (their cost is paid, and a
        recurrent controller sees the forced path's features), so a forced path differs
        from the network's own answer only by the path. ``execution``: "conditional"
        (skipped blocks not computed, where ``conditional``) or "masked" (every block
        computed and selected); both give the same answer.
        """
        raise NotImplementedError

    def routed_parts(self) -> list[tuple[nn.Module, nn.Module | None]]:
        """Per routed block: the module an image runs when the block executes, and the
        one it runs instead when skipped (None when skipping costs nothing)."""
        raise NotImplementedError

    def checked_path(self, x: torch.Tensor, force_path: torch.Tensor | None):
        """``force_path`` validated against the batch, as booleans on its device."""
        if force_path is None:
            return None
        if self.training:
            raise ValueError("a path can only be forced in evaluation (model.eval())")
        expected = (x.shape[0], self.num_gates)
        if tuple(force_path.shape) != expected:
            raise ValueError(
                f"force_path must have shape {expected} (samples, gates), "
                f"got {tuple(force_path.shape)}"
            )
        return force_path.to(device=x.device, dtype=torch.bool)

    def mode(self, execution: str | None) -> str:
        """The execution mode of a call: the one asked for, else the model's default;
        a network that cannot run conditionally always masks."""
        execution = execution or self.execution
        if execution not in MODES:
            raise ValueError(f"execution must be one of {', '.join(MODES)}, got {execution!r}")
        return execution if self.conditional else "masked"


def run_block(
    x: torch.Tensor,
    execute: torch.Tensor,
    block,
    skip,
    execution: str,
) -> torch.Tensor:
    """``block(x)`` where ``execute`` (B,) is True, ``skip(x)`` elsewhere.

    "masked" computes both for every image and selects. "conditional" runs the block
    on the executing images only: eval-mode BatchNorm is per image, so the subset gives
    exactly what the whole batch would have given for those images.
    """
    if execution == "masked":
        return torch.where(execute.view(-1, *[1] * (x.dim() - 1)), block(x), skip(x))
    # Counting the executing images is a CPU-GPU sync point; it decides how much work
    # the block does, so it cannot be avoided.
    n_exec = int(execute.sum())
    if n_exec == x.shape[0]:
        return block(x)
    skipped = skip(x)
    if n_exec == 0:
        return skipped
    index = execute.nonzero().squeeze(1)
    return skipped.index_copy(0, index, block(x.index_select(0, index)))
