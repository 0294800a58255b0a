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
from models.lss.pool import PoolGrid, lss_pool
from models.lss.view_transformer import LSSViewTransformer


class AdaptiveLSSViewTransformer(LSSViewTransformer):
    """``LSSViewTransformer`` + ``OcclusionSoftFill`` on the depth distribution before the splat."""

    def __init__(self, in_channels: int, context_channels: int, bins: DepthBins, grid: PoolGrid, stride: int) -> None:
        super().__init__(in_channels, context_channels, bins, grid, stride)
        self.soft_fill = OcclusionSoftFill(in_channels)
        self.register_buffer("bin_centres_m", bins.centers_m(), persistent=False)

    def forward(self, feats: torch.Tensor, img_from_ego: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, n, _, hf, wf = feats.shape
        d, c = self.bins.num, self.context_channels
        flat = feats.flatten(0, 1)
        out = self.depth_net(flat)
        depth_logits, context = out[:, :d], out[:, d:]
        weights = self.soft_fill(flat, depth_logits.softmax(1), self.bin_centres_m)
        pooled = lss_pool(weights, context, self.batch_index(img_from_ego, (hf, wf)), b * self.grid.num_cells)
        volume = pooled.view(b, *self.grid.shape, c).movedim(-1, 1).contiguous()
        return volume, depth_logits.view(b, n, d, hf, wf), context.view(b, n, c, hf, wf)
