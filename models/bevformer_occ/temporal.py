"""BEVFormer's temporal self-attention (TSA) and the ego-motion alignment of the previous BEV it reads.

Alignment: the previous frame's BEV (B, C, X, Y) lives on the grid of the previous ego frame. Every cell
centre of the current grid (ego frame, z = 0) is mapped into the previous ego frame with
``prev_from_cur = inverse(world_from_ego_prev) @ world_from_ego_cur`` and the previous BEV is sampled there
bilinearly (``grid_sample``, zeros outside the previous grid). A static world point thus keeps its feature:
after the ego drives 2 cells forward, a feature moves 2 cells back.

TSA (single head, single scale): each BEV query samples ``num_offsets`` learned offsets around its own cell
in two BEV maps, the aligned previous BEV and the current queries; offsets and softmax weights are
predicted from the concatenation [previous BEV, query + positional embedding] at the cell, and the two
sampled results are averaged. At a scene's first frame the previous BEV is the current query itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bev_cell_centres(
    bev_shape: tuple[int, int], range_min_m: tuple[float, ...], range_max_m: tuple[float, ...]
) -> torch.Tensor:
    """(X, Y, 2) ego-frame x, y (m) of the BEV cell centres over the x/y range, x index first."""
    axes = [
        range_min_m[a] + (torch.arange(n, dtype=torch.float64) + 0.5) * (range_max_m[a] - range_min_m[a]) / n
        for a, n in enumerate(bev_shape)
    ]
    gx, gy = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([gx, gy], dim=-1)


def bev_sample_grid(xy_m: torch.Tensor, range_min_m: tuple[float, ...], range_max_m: tuple[float, ...]) -> torch.Tensor:
    """(..., 2) ego x, y (m) -> (..., 2) ``grid_sample`` coordinates into a (C, X, Y) BEV map
    (align_corners=False): the last axis is (Y, X) normalised to [-1, 1] over the range."""
    nx = (xy_m[..., 0] - range_min_m[0]) / (range_max_m[0] - range_min_m[0]) * 2 - 1
    ny = (xy_m[..., 1] - range_min_m[1]) / (range_max_m[1] - range_min_m[1]) * 2 - 1
    return torch.stack([ny, nx], dim=-1)


def align_previous_bev(
    prev_bev: torch.Tensor,
    prev_from_cur: torch.Tensor,
    range_min_m: tuple[float, ...],
    range_max_m: tuple[float, ...],
) -> torch.Tensor:
    """Resample the previous BEV (B, C, X, Y) into the current ego frame.

    ``prev_from_cur`` (B, 4, 4): current ego frame -> previous ego frame. Returns (B, C, X, Y); cells whose
    centre falls outside the previous grid are zero."""
    b, _, nx, ny = prev_bev.shape
    centres = bev_cell_centres((nx, ny), range_min_m, range_max_m).to(prev_from_cur.device)  # (X, Y, 2)
    rot = prev_from_cur[:, :2, :2].to(torch.float64)
    shift = prev_from_cur[:, :2, 3].to(torch.float64)
    xy_prev = torch.einsum("bij,xyj->bxyi", rot, centres) + shift.view(b, 1, 1, 2)
    grid = bev_sample_grid(xy_prev, range_min_m, range_max_m).to(prev_bev.dtype)
    return F.grid_sample(prev_bev, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class TemporalSelfAttention(nn.Module):
    """Deformable single-head attention of BEV queries to [aligned previous BEV, current queries].

    ``offset_scale_cells``: offsets are predicted in BEV cells times this scale."""

    def __init__(self, dim: int, bev_shape: tuple[int, int], num_offsets: int, offset_scale_cells: float) -> None:
        super().__init__()
        self.bev_shape, self.num_offsets, self.offset_scale = bev_shape, num_offsets, offset_scale_cells
        self.offsets = nn.Linear(2 * dim, 2 * num_offsets * 2)
        self.weights = nn.Linear(2 * dim, 2 * num_offsets)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        nx, ny = bev_shape
        cells = ((0.0, 0.0), (float(nx), float(ny)))  # a range in cell units
        centres = bev_sample_grid(bev_cell_centres(bev_shape, *cells), *cells)
        self.register_buffer("ref", centres.reshape(-1, 2).float(), persistent=False)  # (Q, 2) own cell centres
        # grid_sample units per BEV cell in (Y, X) order
        self.register_buffer("cell", torch.tensor([2.0 / ny, 2.0 / nx]), persistent=False)
        nn.init.zeros_(self.offsets.weight)
        with torch.no_grad():  # start with offsets on a one-cell ring around the query's cell
            ang = torch.arange(num_offsets, dtype=torch.float32) * (2 * torch.pi / num_offsets)
            ring = torch.stack([ang.cos(), ang.sin()], dim=-1) * (1.0 if num_offsets > 1 else 0.0)
            self.offsets.bias.copy_(ring.repeat(2, 1).reshape(-1) / offset_scale_cells)

    def forward(self, query: torch.Tensor, pos: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """query (B, Q, C) current queries; pos (1 or B, Q, C); prev (B, Q, C) aligned previous BEV (or
        the queries themselves). Q = X * Y, x-major. Returns (B, Q, C)."""
        b, q, c = query.shape
        nx, ny = self.bev_shape
        k = self.num_offsets
        x = torch.cat([prev, query + pos], dim=-1)
        off = self.offsets(x).view(b, q, 2, k, 2) * (self.offset_scale * self.cell)
        attn = self.weights(x).view(b, q, 2, k).softmax(-1)
        value = self.value(torch.stack([prev, query], dim=1))  # (B, 2, Q, C)
        value = value.view(b * 2, nx, ny, c).permute(0, 3, 1, 2)  # (B*2, C, X, Y)
        loc = (self.ref.view(1, q, 1, 1, 2) + off).transpose(1, 2).reshape(b * 2, q, k, 2)
        sampled = F.grid_sample(value, loc, mode="bilinear", padding_mode="zeros", align_corners=False)
        w = attn.transpose(1, 2).reshape(b * 2, 1, q, k)
        mixed = (sampled * w).sum(-1).view(b, 2, c, q).mean(1)  # average over [previous, current]
        return self.out(mixed.transpose(1, 2))
