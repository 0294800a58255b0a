"""SparseOcc's sparse voxel decoder: coarse-to-fine reconstruction of the non-empty voxels from camera features.

Level 0 is the whole coarse grid (learned voxel queries, e.g. 25x25x2). At every level with reference points
(``num_ref`` > 0; a level without samples no image) each candidate voxel's feature is refined by
BEVFormer-style spatial cross-attention restricted to the cameras that see it (``camera_sampling``): its
``num_ref`` reference points, spread in height inside the voxel, are projected into the six cameras and image
features are sampled around them with learned offsets, only at these voxels, from the image FPN map chosen for
the level (tiny preset: the stride-8 map at the two coarse levels, the stride-4 map at level 2, none at the
finest). Then each candidate exchanges information with its neighbours
among the candidates (SparseOcc's sparse voxel mixing, here a submanifold depthwise convolution over the voxel
and its 6 face neighbours followed by a pointwise linear map: a voxel that is not a candidate contributes
zeros, no dense feature volume is built). A per-voxel occupancy logit then keeps the top-k voxels; their 8
children are the next level's candidates (a child's feature is its parent's, projected, plus a learned
octant embedding).

Shapes: image feature maps [(B, N, C_img, h_s, w_s)] (one per stride), img_from_ego (B, N, 3, 4) for images
of ``image_hw``; a level carries candidate indices (B, M) (``octree`` naming), features (B, M, C) and
occupancy logits (B, M).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.sparseocc.camera_sampling import SparseCameraSampling
from models.sparseocc.octree import FACE_OFFSETS, children, keep_top_k, neighbour_slots, voxel_centres_m


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


class SparseNeighbourMixing(nn.Module):
    """Submanifold depthwise convolution over the stencil ``FACE_OFFSETS`` among a level's candidates, then
    ReLU and a pointwise linear map: (B, M, C) features + (B, M, 7) ``neighbour_slots`` -> (B, M, C). Absent
    neighbours count as zeros, so over a complete grid this equals a dense depthwise convolution (zero padding)
    with a 3x3x3 kernel that is zero off the stencil."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        k = len(FACE_OFFSETS)
        self.depthwise = nn.Parameter(torch.randn(k, dim) / k**0.5)
        self.bias = nn.Parameter(torch.zeros(dim))
        self.pointwise = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        b, m, c = x.shape
        table = torch.cat([x.reshape(b * m, c), x.new_zeros(1, c)])  # row B * M: the absent neighbour
        out = torch.addcmul(self.bias, table[:-1], self.depthwise[0])  # FACE_OFFSETS[0]: the voxel itself
        for k, index in enumerate(slots.flatten(0, 1).T[1:].contiguous(), start=1):  # one (B * M, C) gather each
            out = out.addcmul_(table.index_select(0, index), self.depthwise[k])
        return self.pointwise(torch.relu(out)).view(b, m, c)


class VoxelLayer(nn.Module):
    """Sparse camera sampling for voxel queries (with ``num_ref`` 0 the level samples no image: its voxels refine
    the features they inherit from their parents with a positional embedding), sparse neighbour mixing (when
    ``mix``), then a feed-forward; post-norm residuals."""

    def __init__(self, dim: int, img_dim: int, num_ref: int, num_offsets: int, offset_scale: float, mix: bool) -> None:
        super().__init__()
        self.num_ref = num_ref
        self.pos = nn.Sequential(nn.Linear(3, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        if num_ref:
            self.img_proj = nn.Conv2d(img_dim, dim, 1)
            self.sca = SparseCameraSampling(dim, num_ref, num_offsets, offset_scale)
        self.norm1 = nn.LayerNorm(dim)
        self.mix = nn.ModuleDict({"conv": SparseNeighbourMixing(dim), "norm": nn.LayerNorm(dim)}) if mix else None
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(inplace=True), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.occ = nn.Linear(dim, 1)

    def forward(
        self,
        query: torch.Tensor,
        centres_m: torch.Tensor,
        centres_unit: torch.Tensor,
        voxel_size_m: torch.Tensor,
        neighbours: torch.Tensor | None,
        feats: torch.Tensor,
        img_from_ego: torch.Tensor,
        image_hw: tuple[int, int],
    ) -> torch.Tensor:
        """query (B, M, C); centres_m (B, M, 3) ego frame; centres_unit (B, M, 3) the same in [0, 1] of the
        grid range; neighbours (B, M, 7) ``neighbour_slots`` of the candidates (None for a layer without
        mixing); feats (B, N, C_img, h, w). Returns refined features (B, M, C)."""
        if self.num_ref:
            b, n = feats.shape[:2]
            value = self.img_proj(feats.flatten(0, 1)).view(b, n, -1, *feats.shape[3:])
            points = reference_points_m(centres_m, voxel_size_m, self.num_ref)
            query = self.norm1(query + self.sca(query + self.pos(centres_unit), points, img_from_ego, image_hw, value))
        else:
            query = self.norm1(query + self.pos(centres_unit))
        if self.mix is not None:
            query = self.mix["norm"](query + self.mix["conv"](query, neighbours))
        return self.norm2(query + self.ffn(query))


class SparseVoxelDecoder(nn.Module):
    """Coarse-to-fine sparse voxel decoder over ``shapes`` (coarsest first) with widths ``channels``,
    ``keep[l]`` voxels kept per sample at level l (top-k of the occupancy logits), image features of map
    ``feature_map[l]`` (index into the list of maps ``forward`` gets) and neighbour mixing where ``mix[l]``."""

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
        feature_map: tuple[int, ...],
        mix: tuple[bool, ...],
    ) -> None:
        super().__init__()
        self.shapes, self.keep, self.feature_map = shapes, keep, feature_map
        self.range_min_m, self.range_max_m = range_min_m, range_max_m
        s0 = shapes[0]
        self.queries = nn.Parameter(torch.randn(s0[0] * s0[1] * s0[2], channels[0]) * 0.02)
        self.layers = nn.ModuleList(
            VoxelLayer(c, img_dim, r, num_offsets, offset_scale, x) for c, r, x in zip(channels, num_ref, mix)
        )
        self.lift = nn.ModuleList(nn.Linear(channels[i], channels[i + 1]) for i in range(len(channels) - 1))
        self.octant = nn.ParameterList(nn.Parameter(torch.randn(8, c) * 0.02) for c in channels[1:])

    def forward(
        self,
        feats: list[torch.Tensor],
        img_from_ego: torch.Tensor,
        image_hw: tuple[int, int],
        guides: list[torch.Tensor] | None = None,
    ) -> list[SparseLevel]:
        """feats: image feature maps (B, N, C_img, h_s, w_s), indexed by ``feature_map``. ``guides`` (training
        only): per level a (B, X_l * Y_l * Z_l) bool volume of the voxels to keep before any other (the level's
        GT-occupied blocks), so that the finer levels learn on the right candidates from the first step."""
        b, device = img_from_ego.shape[0], img_from_ego.device
        lo = torch.tensor(self.range_min_m, device=device)
        extent = torch.tensor(self.range_max_m, device=device) - lo
        levels: list[SparseLevel] = []
        for level, (shape, layer, k) in enumerate(zip(self.shapes, self.layers, self.keep)):
            if level == 0:
                cand = torch.arange(self.queries.shape[0], device=device).expand(b, -1)
                query = self.queries.unsqueeze(0).expand(b, -1, -1)
            else:
                prev = levels[-1]
                cand = children(prev.kept, self.shapes[level - 1])
                parent = self.lift[level - 1](prev.features).unsqueeze(2)  # (B, k, 1, C): children in octant order
                query = (parent + self.octant[level - 1]).flatten(1, 2)
            centres = voxel_centres_m(cand, shape, self.range_min_m, self.range_max_m)
            size = extent / torch.tensor(shape, dtype=torch.float32, device=device)
            neighbours = neighbour_slots(cand, shape, FACE_OFFSETS) if layer.mix is not None else None
            fmap = feats[self.feature_map[level]]
            query = layer(query, centres, (centres - lo) / extent, size, neighbours, fmap, img_from_ego, image_hw)
            logits = layer.occ(query).squeeze(-1)
            first = None if guides is None else guides[level].gather(1, cand)
            kept, slots = keep_top_k(cand, logits, k, first)
            features = query.gather(1, slots.unsqueeze(-1).expand(-1, -1, query.shape[-1]))
            levels.append(SparseLevel(cand, logits, kept, features))
        return levels
