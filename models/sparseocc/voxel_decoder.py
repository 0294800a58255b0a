"""SparseOcc's sparse voxel decoder: coarse-to-fine reconstruction of the non-empty voxels from camera features.

Level 0 is the whole coarse grid (learned voxel queries, e.g. 25x25x2). At every level each candidate
voxel's feature is refined by BEVFormer-style spatial cross-attention restricted to the cameras that see
it (``camera_sampling``): its ``num_ref`` reference points, spread in height inside the voxel, are
projected into the six cameras and image features are sampled around them with learned offsets, only at
these voxels. A per-voxel occupancy logit then keeps the top-k voxels; their 8 children are the next
level's candidates (a child's feature is its parent's, projected, plus a learned octant embedding). No
dense volume is built beyond level 0 (where a 3x3x3 convolution mixes neighbouring voxels).

Shapes: image features (B, N, C_img, h, w), img_from_ego (B, N, 3, 4) for images of ``image_hw``; a level
carries candidate indices (B, M) (``octree`` naming), features (B, M, C) and occupancy logits (B, M).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.sparseocc.camera_sampling import SparseCameraSampling
from models.sparseocc.octree import children, keep_top_k, voxel_centres_m


@dataclass(frozen=True)
class SparseLevel:
    """One level's output: ``candidates`` (B, M) voxel indices, their ``occ_logits`` (B, M), and the ``kept``
    voxel indices (B, k) with their ``features`` (B, k, C)."""

    candidates: torch.Tensor
    occ_logits: torch.Tensor
    kept: torch.Tensor
    features: torch.Tensor


def reference_points_m(centres_m: torch.Tensor, voxel_size_m: torch.Tensor, num_ref: int) -> torch.Tensor:
    """(B, M, 3) voxel centres -> (B, M, num_ref, 3) points at ``num_ref`` heights evenly spread inside the voxel."""
    frac = (torch.arange(num_ref, dtype=torch.float32, device=centres_m.device) + 0.5) / num_ref - 0.5
    offsets = torch.zeros(num_ref, 3, device=centres_m.device)
    offsets[:, 2] = frac * voxel_size_m[2]
    return centres_m.unsqueeze(2) + offsets


class VoxelLayer(nn.Module):
    """Sparse camera sampling for voxel queries, then a feed-forward; post-norm residuals."""

    def __init__(self, dim: int, img_dim: int, num_ref: int, num_offsets: int, offset_scale: float) -> None:
        super().__init__()
        self.num_ref = num_ref
        self.img_proj = nn.Conv2d(img_dim, dim, 1)
        self.pos = nn.Sequential(nn.Linear(3, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.sca = SparseCameraSampling(dim, num_ref, num_offsets, offset_scale)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(inplace=True), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.occ = nn.Linear(dim, 1)

    def forward(
        self,
        query: torch.Tensor,
        centres_m: torch.Tensor,
        centres_unit: torch.Tensor,
        voxel_size_m: torch.Tensor,
        feats: torch.Tensor,
        img_from_ego: torch.Tensor,
        image_hw: tuple[int, int],
    ) -> torch.Tensor:
        """query (B, M, C); centres_m (B, M, 3) ego frame; centres_unit (B, M, 3) the same in [0, 1] of the
        grid range. Returns refined features (B, M, C)."""
        b, n = feats.shape[:2]
        value = self.img_proj(feats.flatten(0, 1)).view(b, n, -1, *feats.shape[3:])
        points = reference_points_m(centres_m, voxel_size_m, self.num_ref)
        query = self.norm1(query + self.sca(query + self.pos(centres_unit), points, img_from_ego, image_hw, value))
        return self.norm2(query + self.ffn(query))


class SparseVoxelDecoder(nn.Module):
    """Coarse-to-fine sparse voxel decoder over ``shapes`` (coarsest first) with widths ``channels`` and
    ``keep[l]`` voxels kept per sample at level l (top-k of the occupancy logits)."""

    def __init__(
        self,
        shapes: list[tuple[int, int, int]],
        range_min_m: tuple[float, float, float],
        range_max_m: tuple[float, float, float],
        img_dim: int,
        channels: tuple[int, ...],
        keep: tuple[int, ...],
        num_ref: tuple[int, ...],
        num_offsets: int,
        offset_scale: float,
    ) -> None:
        super().__init__()
        self.shapes, self.keep = shapes, keep
        self.range_min_m, self.range_max_m = range_min_m, range_max_m
        s0 = shapes[0]
        self.queries = nn.Parameter(torch.randn(s0[0] * s0[1] * s0[2], channels[0]) * 0.02)
        self.mix = nn.Sequential(
            nn.Conv3d(channels[0], channels[0], 3, padding=1, bias=False), nn.BatchNorm3d(channels[0]), nn.ReLU(True)
        )
        self.layers = nn.ModuleList(
            VoxelLayer(c, img_dim, r, num_offsets, offset_scale) for c, r in zip(channels, num_ref)
        )
        self.lift = nn.ModuleList(nn.Linear(channels[i], channels[i + 1]) for i in range(len(channels) - 1))
        self.octant = nn.ParameterList(nn.Parameter(torch.randn(8, c) * 0.02) for c in channels[1:])

    def forward(self, feats: torch.Tensor, img_from_ego: torch.Tensor, image_hw: tuple[int, int]) -> list[SparseLevel]:
        b = feats.shape[0]
        lo = torch.tensor(self.range_min_m, device=feats.device)
        extent = torch.tensor(self.range_max_m, device=feats.device) - lo
        levels: list[SparseLevel] = []
        for level, (shape, layer, k) in enumerate(zip(self.shapes, self.layers, self.keep)):
            if level == 0:
                cand = torch.arange(self.queries.shape[0], device=feats.device).expand(b, -1)
                query = self.queries.unsqueeze(0).expand(b, -1, -1)
            else:
                prev = levels[-1]
                cand = children(prev.kept, self.shapes[level - 1])
                parent = self.lift[level - 1](prev.features).repeat_interleave(8, dim=1)
                query = parent + self.octant[level - 1].repeat(prev.kept.shape[1], 1)
            centres = voxel_centres_m(cand, shape, self.range_min_m, self.range_max_m)
            size = extent / torch.tensor(shape, dtype=torch.float32, device=feats.device)
            query = layer(query, centres, (centres - lo) / extent, size, feats, img_from_ego, image_hw)
            if level == 0:
                dense = query.transpose(1, 2).reshape(b, -1, *shape)
                query = query + self.mix(dense).flatten(2).transpose(1, 2)
            logits = layer.occ(query).squeeze(-1)
            kept, slots = keep_top_k(cand, logits, k)
            features = query.gather(1, slots.unsqueeze(-1).expand(-1, -1, query.shape[-1]))
            levels.append(SparseLevel(cand, logits, kept, features))
        return levels
