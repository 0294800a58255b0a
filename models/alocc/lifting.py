"""ALOcc adaptive lifting: the LSS view transformer of ``models.lss`` (depth net, frustum, precomputed-index
voxel pooling) whose per-point splat weights are the occlusion-aware soft-filled depth distribution
(``models.alocc.soft_filling``) instead of the depth distribution itself.

Shapes: features (B, N, C_in, Hf, Wf), ``img_from_ego`` (B, N, 3, 4) for the network's image size ->
volume (B, C, X, Y, Z) on the pooling grid (ego frame), depth logits (B, N, D, Hf, Wf), context
(B, N, C, Hf, Wf) (the image features the 2D prototype head classifies).
"""

from __future__ import annotations

import torch

from models.alocc.soft_filling import OcclusionSoftFill
from models.lss.geometry import DepthBins
from models.lss.pool import PoolGrid
from models.lss.view_transformer import LSSViewTransformer


class AdaptiveLSSViewTransformer(LSSViewTransformer):
    """``LSSViewTransformer`` + ``OcclusionSoftFill`` on the depth distribution before the splat."""

    def __init__(self, in_channels: int, context_channels: int, bins: DepthBins, grid: PoolGrid, stride: int) -> None:
        super().__init__(in_channels, context_channels, bins, grid, stride)
        self.soft_fill = OcclusionSoftFill(in_channels)
        self.register_buffer("bin_centres_m", bins.centers_m(), persistent=False)

    def splat_weights(self, feats: torch.Tensor, depth_probs: torch.Tensor) -> torch.Tensor:
        """The soft-filled depth distribution (B*N, D, Hf, Wf)."""
        return self.soft_fill(feats, depth_probs, self.bin_centres_m)

    def forward(self, feats: torch.Tensor, img_from_ego: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.lift(feats, img_from_ego)
