"""Routing losses: CoDiNet's consistency, diversity and cost, and ConvNet-AIG's
target-rate loss, the baseline CoDiNet builds on and compares with."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trainer.models.codinet import EXECUTE


def path_regularizer(
    gates: torch.Tensor, views: int, intra_margin: float, inter_margin: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Consistency and diversity of a batch of paths, vectorised.

    ``gates`` is (B, G, 2) with the ``views`` augmented views of each image adjacent,
    B = n * views. Each sample's path is its flattened gates p_j (length 2G); c_i is
    the mean path of image i's views.

    consistency = mean_j max(0, ||p_j - c_i|| - intra_margin)^2
    diversity   = mean_{i<k} max(0, inter_margin - ||c_i - c_k||)^2
    """
    batch = gates.shape[0]
    if batch % views:
        raise ValueError(f"batch of {batch} samples is not a whole number of {views} views")
    paths = gates.float().reshape(batch // views, views, -1)
    centers = paths.mean(dim=1)

    to_center = torch.linalg.vector_norm(paths - centers.unsqueeze(1), dim=2)
    consistency = F.relu(to_center - intra_margin).pow(2).mean()

    if centers.shape[0] < 2:
        return consistency, centers.new_zeros(())
    # pdist gives the upper triangle i < k, exactly the pairs the formula sums over.
    between = torch.pdist(centers)
    diversity = F.relu(inter_margin - between).pow(2).mean()
    return consistency, diversity


def cost_loss(gates: torch.Tensor, target_blocks: float) -> torch.Tensor:
    """|mean executed blocks per sample - target|, independent of the batch size."""
    executed = gates[:, :, EXECUTE].float().sum(dim=1).mean()
    return (executed - target_blocks).abs()


def target_rate_loss(gates: torch.Tensor, target_rate: float) -> torch.Tensor:
    """ConvNet-AIG's loss: mean over gates of (batch execution rate - target rate)^2.

    It pulls every gate towards the same rate, whatever the image, where CoDiNet's cost
    term constrains only the total; at target rate T/G both aim at T blocks per image.
    """
    rates = gates[:, :, EXECUTE].float().mean(dim=0)
    return (rates - target_rate).pow(2).mean()


@dataclass(frozen=True)
class LossWeights:
    consistency: float
    diversity: float
    cost: float
    intra_margin: float
    inter_margin: float
    target_blocks: float
    target_rate: float = 0.0  # weight of ConvNet-AIG's target-rate loss (its default: 2)

    def controls_cost(self) -> bool:
        return self.cost > 0 or self.target_rate > 0


def codinet_loss(
    logits: torch.Tensor,
    gates: torch.Tensor,
    labels: torch.Tensor,
    views: int,
    weights: LossWeights,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """CE + w_con * consistency + w_div * diversity + w_cost * cost
    + w_aig * target_rate, and the parts (ConvNet-AIG's rate is target_blocks / G)."""
    ce = F.cross_entropy(logits.float(), labels)
    consistency, diversity = path_regularizer(
        gates, views, weights.intra_margin, weights.inter_margin
    )
    cost = cost_loss(gates, weights.target_blocks)
    target_rate = target_rate_loss(gates, weights.target_blocks / gates.shape[1])
    total = (
        ce
        + weights.consistency * consistency
        + weights.diversity * diversity
        + weights.cost * cost
        + weights.target_rate * target_rate
    )
    parts = {
        "ce": ce,
        "consistency": consistency,
        "diversity": diversity,
        "cost": cost,
        "target_rate": target_rate,
    }
    return total, parts
