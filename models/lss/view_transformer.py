"""LSS view transformer (Lift-Splat-Shoot; BEVDet / BEVDepth): per feature pixel, a depth net predicts a
categorical distribution over D depth bins and C context channels; their outer product, placed at the
frustum points in the ego frame, is splatted into a voxel volume or BEV with the precomputed-index pooling
of ``models.lss.pool``.

Shapes: features (B, N, C_in, Hf, Wf), ``img_from_ego`` (B, N, 3, 4) for the network's image size ->
volume (B, C, X, Y, Z) (voxel ``PoolGrid``) or (B, C, X, Y) (BEV ``PoolGrid``), depth logits (B, N, D, Hf, Wf).
"""

from __future__ import annotations

import torch
from torch import nn

from models.lss.geometry import DepthBins
from models.lss.image_encoder import conv_bn_relu
from models.lss.pool import PoolGrid, PoolIndex, PoolIndexCache, lss_pool


class LSSViewTransformer(nn.Module):
    """Depth net (3x3 conv + 1x1 conv -> D depth logits and C context channels) and the splat."""

    def __init__(self, in_channels: int, context_channels: int, bins: DepthBins, grid: PoolGrid, stride: int) -> None:
        super().__init__()
        self.bins, self.grid, self.context_channels = bins, grid, context_channels
        self.depth_net = nn.Sequential(
            conv_bn_relu(in_channels, in_channels), nn.Conv2d(in_channels, bins.num + context_channels, 1)
        )
        self.index_cache = PoolIndexCache(stride, bins, grid)

    def batch_index(self, img_from_ego: torch.Tensor, feature_hw: tuple[int, int]) -> PoolIndex:
        """The cached per-sample PoolIndex of each of the B samples, offset into one flat batch."""
        b, n = img_from_ego.shape[:2]
        hf, wf = feature_hw
        parts = [self.index_cache(img_from_ego[i], feature_hw) for i in range(b)]
        if b == 1:
            return parts[0]
        points, pixels, cells = n * self.bins.num * hf * wf, n * hf * wf, self.grid.num_cells
        return PoolIndex(
            point=torch.cat([p.point + i * points for i, p in enumerate(parts)]),
            pixel=torch.cat([p.pixel + i * pixels for i, p in enumerate(parts)]),
            cell=torch.cat([p.cell + i * cells for i, p in enumerate(parts)]),
        )

    def splat_weights(self, feats: torch.Tensor, depth_probs: torch.Tensor) -> torch.Tensor:
        """Weights (B*N, D, Hf, Wf) of each frustum point in the splat: the depth distribution ``depth_probs``
        (B*N, D, Hf, Wf) itself; a subclass may refine it from the features ``feats`` (B*N, C_in, Hf, Wf)."""
        return depth_probs

    def lift(self, feats: torch.Tensor, img_from_ego: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Depth net, splat weights and pooling: (volume, depth logits (B, N, D, Hf, Wf), context
        (B, N, C, Hf, Wf))."""
        b, n, _, hf, wf = feats.shape
        d, c = self.bins.num, self.context_channels
        flat = feats.flatten(0, 1)
        out = self.depth_net(flat)
        depth_logits, context = out[:, :d], out[:, d:]
        weights = self.splat_weights(flat, depth_logits.softmax(1))
        pooled = lss_pool(weights, context, self.batch_index(img_from_ego, (hf, wf)), b * self.grid.num_cells)
        volume = pooled.view(b, *self.grid.shape, c).movedim(-1, 1).contiguous()
        return volume, depth_logits.view(b, n, d, hf, wf), context.view(b, n, c, hf, wf)

    def forward(self, feats: torch.Tensor, img_from_ego: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        volume, depth_logits, _ = self.lift(feats, img_from_ego)
        return volume, depth_logits
