"""The consistency and diversity terms written as the paper's public code writes them.

Python loops over the images and over every pair of images, one ``torch.norm`` per
sample or pair: the baseline that ``trainer.losses.path_regularizer`` replaces.
"""

import torch


def loop_regularizer(
    gates: torch.Tensor, views: int, intra_margin: float, inter_margin: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(consistency, diversity) of (B, G, 2) gates whose ``views`` views are adjacent."""
    batch = gates.shape[0]
    images = batch // views
    paths = gates.reshape(images, views, -1)
    centers = paths.mean(dim=1)

    consistency = 0.0
    for i in range(images):
        for r in range(views):
            distance = torch.norm(paths[i, r] - centers[i], 2)
            consistency = consistency + torch.clamp(distance - intra_margin, min=0.0) ** 2
    consistency = consistency / (images * views)

    diversity = 0.0
    for i in range(images):
        for k in range(i + 1, images):
            distance = torch.norm(centers[i] - centers[k], 2)
            diversity = diversity + torch.clamp(inter_margin - distance, min=0.0) ** 2
    diversity = diversity / (images * (images - 1) / 2)
    return consistency, diversity
