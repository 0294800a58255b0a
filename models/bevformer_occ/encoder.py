"""BEVFormer encoder: learned BEV queries refined by layers of temporal self-attention (to the aligned
previous BEV), spatial cross-attention (to the camera features; occnet's ``SpatialCrossAttention``:
reference points per pillar at several heights projected into each camera, learned offsets and weights,
bilinear sampling) and a feed-forward network, each with a post-norm residual.

Shapes: queries (B, Q, C) with Q = X * Y (x-major); output BEV (B, C, X, Y) on the ego-frame grid.
"""

from __future__ import annotations

import torch
from torch import nn

from models.bevformer_occ.temporal import TemporalSelfAttention
from models.occnet.bev_encoder import SpatialCrossAttention, pillar_reference_points, project_to_cameras


class BevFormerLayer(nn.Module):
    """TSA -> norm -> SCA -> norm -> FFN -> norm."""

    def __init__(
        self,
        dim: int,
        bev_shape: tuple[int, int],
        num_ref: int,
        num_offsets: int,
        offset_scale: float,
        tsa_offsets: int,
        tsa_offset_scale_cells: float,
    ) -> None:
        super().__init__()
        self.tsa = TemporalSelfAttention(dim, bev_shape, tsa_offsets, tsa_offset_scale_cells)
        self.norm0 = nn.LayerNorm(dim)
        self.sca = SpatialCrossAttention(dim, num_ref, num_offsets, offset_scale)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(inplace=True), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(
        self,
        query: torch.Tensor,
        pos: torch.Tensor,
        prev: torch.Tensor | None,
        has_prev: torch.Tensor | None,
        ref: torch.Tensor,
        valid: torch.Tensor,
        feats: torch.Tensor,
    ) -> torch.Tensor:
        """prev (B, Q, C) aligned previous BEV or None; has_prev (B,) bool: samples without a previous
        frame attend to their own queries instead."""
        if prev is None:
            prev = query
        elif has_prev is not None:
            prev = torch.where(has_prev.view(-1, 1, 1), prev, query)
        query = self.norm0(query + self.tsa(query, pos, prev))
        query = self.norm1(query + self.sca(query + pos, ref, valid, feats))
        return self.norm2(query + self.ffn(query))


class BevFormerEncoder(nn.Module):
    """Learned BEV queries (X*Y, C) + positional embedding through ``num_layers`` BEVFormer layers."""

    def __init__(
        self,
        dim: int,
        bev_shape: tuple[int, int],
        range_min_m: tuple[float, float, float],
        range_max_m: tuple[float, float, float],
        num_layers: int,
        num_ref: int,
        num_offsets: int,
        offset_scale: float,
        tsa_offsets: int,
        tsa_offset_scale_cells: float,
    ) -> None:
        super().__init__()
        self.bev_shape = bev_shape
        q = bev_shape[0] * bev_shape[1]
        self.queries = nn.Parameter(torch.randn(q, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(q, dim) * 0.02)
        self.register_buffer(
            "ref_ego", pillar_reference_points(bev_shape, range_min_m, range_max_m, num_ref), persistent=False
        )
        self.layers = nn.ModuleList(
            BevFormerLayer(dim, bev_shape, num_ref, num_offsets, offset_scale, tsa_offsets, tsa_offset_scale_cells)
            for _ in range(num_layers)
        )

    def forward(
        self,
        feats: torch.Tensor,
        img_from_ego: torch.Tensor,
        image_hw: tuple[int, int],
        prev_bev: torch.Tensor | None = None,
        has_prev: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """feats (B, N, C, h, w); img_from_ego (B, N, 3, 4) for images of size ``image_hw``; prev_bev
        (B, C, X, Y) the previous BEV already aligned to the current ego frame, or None (first frame);
        has_prev (B,) bool or None (= all). Returns (B, C, X, Y)."""
        b = feats.shape[0]
        ref, valid = project_to_cameras(self.ref_ego, img_from_ego, image_hw)
        query = self.queries.unsqueeze(0).expand(b, -1, -1)
        pos = self.pos.unsqueeze(0)
        prev = None if prev_bev is None else prev_bev.flatten(2).transpose(1, 2)
        for layer in self.layers:
            query = layer(query, pos, prev, has_prev, ref, valid, feats)
        return query.transpose(1, 2).reshape(b, -1, *self.bev_shape)
