"""ALOcc semantic-prototype occupancy head and its category- and confidence-aware voxel sampling.

One learned prototype per class (K, E) lives in a shared embedding space. A feature (voxel or image
pixel) is mapped into that space and its logit for class k is the scaled cosine similarity to
prototype k plus a learned per-class offset: ``logit_k = scale * (<f / |f|, p_k / |p_k|> + b_k)``. The offset is
a linear classifier's bias in cosine units: it pushes a class rare or absent in training below the others
everywhere, which bounded cosines alone cannot. The same prototypes classify the 3D voxel
features (occupancy semantics) and the 2D image context features (the semantics of the first occupied
voxel seen by each pixel), so the 2D supervision pulls the prototypes and the lifted 3D features
towards one semantic space (ALOcc's 3D-2D semantic consistency through jointly optimised prototypes).

Class imbalance: besides the dense loss, the prototypes are trained on a sample that takes, for every
class present, the ``per_class`` voxels whose prediction of their own class is least confident
(``category_aware_sample``), so rare classes weigh as much as the free space and the road.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# The offsets are stored divided by this gain, so an optimiser step (Adam: about the learning rate per step) moves
# them ten times as far as the other parameters: a class absent from training must fall well below the others.
OFFSET_GAIN = 10.0


def prototype_logits(
    features: torch.Tensor, prototypes: torch.Tensor, scale: torch.Tensor | float, offset: torch.Tensor
) -> torch.Tensor:
    """features (B, E, ...), prototypes (K, E) and per-class offsets (K,) -> logits (B, K, ...) =
    scale * (cosine similarity + offset)."""
    f = F.normalize(features, dim=1)
    p = F.normalize(prototypes, dim=1)
    cos = torch.einsum("be...,ke->bk...", f, p)
    return scale * (cos + offset.view(1, -1, *([1] * (cos.dim() - 2))))


class PrototypeHead(nn.Module):
    """K class prototypes in an E-dim space, a 1x1 projection of pixel features (C2) into it, a learned
    logit scale (log-parametrised, starts at ``init_scale``) and per-class offsets (cosine units, start at 0).
    Voxel features come already embedded (the network's last voxel layer outputs E channels).

    ``voxel_logits`` (B, E, X, Y, Z) -> (B, K, X, Y, Z); ``pixel_logits`` (M, C2, H, W) -> (M, K, H, W)."""

    def __init__(self, pixel_channels: int, embed_dim: int, num_classes: int, init_scale: float = 10.0) -> None:
        super().__init__()
        self.pixel_proj = nn.Conv2d(pixel_channels, embed_dim, 1)
        self.prototypes = nn.Parameter(torch.randn(num_classes, embed_dim) / math.sqrt(embed_dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        self.class_offset = nn.Parameter(torch.zeros(num_classes))  # in units of 1 / OFFSET_GAIN cosine

    @property
    def offsets(self) -> torch.Tensor:
        """(K,) per-class offsets in cosine units."""
        return OFFSET_GAIN * self.class_offset

    def voxel_logits(self, voxels: torch.Tensor) -> torch.Tensor:
        return prototype_logits(voxels, self.prototypes, self.log_scale.exp(), self.offsets)

    def pixel_logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return prototype_logits(self.pixel_proj(pixels), self.prototypes, self.log_scale.exp(), self.offsets)


def category_aware_sample(target: torch.Tensor, confidence: torch.Tensor, per_class: int, ignore: int) -> torch.Tensor:
    """Indices into the flattened ``target`` of the sample: for each class present (``ignore`` skipped),
    the ``per_class`` elements with the lowest ``confidence`` (the predicted probability of their GT
    class), all of them when the class has fewer. Ties keep the flat order. Returns (S,) int64, grouped
    by class in increasing class order, least confident first within a class."""
    t = target.reshape(-1)
    c = confidence.reshape(-1).detach()
    keep = torch.nonzero(t != ignore).squeeze(1)
    if keep.numel() == 0:
        return keep
    # least confident first, then a stable sort by class keeps that order within each class
    order = keep[torch.sort(c[keep], stable=True).indices]
    order = order[torch.sort(t[order], stable=True).indices]
    cls = t[order]
    counts = torch.bincount(cls)
    first = torch.cumsum(counts, 0) - counts  # position of each class's first element in ``order``
    rank = torch.arange(len(order), device=order.device) - first[cls]
    return order[rank < per_class]
