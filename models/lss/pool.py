"""Precomputed-index voxel / BEV pooling (the BEVPoolv2 idea, Huang & Huang 2022): the frustum geometry is
fixed by the camera calibration, so the cell of every frustum point is computed once per calibration and
cached; pooling is then one gather-multiply (depth probability x context feature of the point's pixel) and
one ``index_add_`` (a scatter-sum into the cells), with no loop over points or cameras.

Cells: a ``PoolGrid`` splits the metric range ``[range_min_m, range_max_m)`` into ``shape`` cells, (X, Y, Z)
for a voxel volume or (X, Y) for BEV (a point then needs only a z inside the range). The flat cell index is
``(x * Y + y) * Z + z`` (``x * Y + y`` for BEV), so the pooled (cells, C) tensor reshapes to (X, Y[, Z], C).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from models.lss.geometry import DepthBins, frustum_ego
from occplan.errors import ValidationError


@dataclass(frozen=True)
class PoolGrid:
    """Pooling cells over the box ``[range_min_m, range_max_m)`` (ego frame, metres): ``shape`` (X, Y, Z) voxels
    or (X, Y) BEV pillars spanning the whole z range."""

    range_min_m: tuple[float, float, float]
    range_max_m: tuple[float, float, float]
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.shape) not in (2, 3) or any(s <= 0 for s in self.shape):
            raise ValidationError(f"PoolGrid.shape: expected 2 or 3 positive sizes, got {self.shape}")

    @property
    def num_cells(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def cell_index(self, points_m: torch.Tensor) -> torch.Tensor:
        """(..., 3) ego points -> (...) int64 flat cell index, -1 outside the range."""
        lo = torch.tensor(self.range_min_m, dtype=points_m.dtype, device=points_m.device)
        hi = torch.tensor(self.range_max_m, dtype=points_m.dtype, device=points_m.device)
        inside = ((points_m >= lo) & (points_m < hi)).all(-1)
        k = len(self.shape)
        size = torch.tensor(self.shape, dtype=points_m.dtype, device=points_m.device)
        idx = torch.floor((points_m[..., :k] - lo[:k]) / (hi[:k] - lo[:k]) * size).long()
        idx = torch.minimum(idx.clamp(min=0), torch.tensor(self.shape, device=idx.device) - 1)
        flat = idx[..., 0]
        for a in range(1, k):
            flat = flat * self.shape[a] + idx[..., a]
        return torch.where(inside, flat, torch.full_like(flat, -1))


@dataclass(frozen=True)
class PoolIndex:
    """Per frustum point inside the grid (P points, sorted by cell): ``point`` index into the flattened depth
    probabilities (N * D * Hf * Wf), ``pixel`` index into the flattened context pixels (N * Hf * Wf) and
    ``cell`` flat cell index; int64 tensors (P,)."""

    point: torch.Tensor
    pixel: torch.Tensor
    cell: torch.Tensor


def build_pool_index(
    img_from_ego: torch.Tensor, feature_hw: tuple[int, int], stride: int, bins: DepthBins, grid: PoolGrid
) -> PoolIndex:
    """The PoolIndex of one sample's N cameras (``img_from_ego`` (N, 3, 4) for the network's image size)."""
    hf, wf = feature_hw
    cell = grid.cell_index(frustum_ego(img_from_ego, feature_hw, stride, bins)).reshape(-1)  # (N * D * Hf * Wf,)
    keep = torch.nonzero(cell >= 0).squeeze(1)
    order = torch.argsort(cell[keep], stable=True)
    point = keep[order]
    n_d = point // (hf * wf)  # camera * D + bin
    pixel = (n_d // bins.num) * (hf * wf) + point % (hf * wf)
    return PoolIndex(point=point, pixel=pixel, cell=cell[point])


def lss_pool(depth: torch.Tensor, context: torch.Tensor, index: PoolIndex, num_cells: int) -> torch.Tensor:
    """Splat M images: depth probabilities (M, D, Hf, Wf) (any leading shape flattening to M * D * Hf * Wf)
    and context (M, C, Hf, Wf) -> (num_cells, C), each cell the sum over its frustum points of depth
    probability x the point's pixel context."""
    ctx = context.permute(0, 2, 3, 1).reshape(-1, context.shape[1])
    vals = depth.reshape(-1)[index.point].unsqueeze(1) * ctx[index.pixel]
    out = ctx.new_zeros(num_cells, ctx.shape[1])
    return out.index_add_(0, index.cell, vals)


class PoolIndexCache:
    """PoolIndex per calibration (the bytes of a sample's ``img_from_ego``, with the feature-map size and the
    device), computed on first use and kept for the ``max_entries`` most recent calibrations."""

    def __init__(self, stride: int, bins: DepthBins, grid: PoolGrid, max_entries: int = 64) -> None:
        self.stride, self.bins, self.grid = stride, bins, grid
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, PoolIndex] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __call__(self, img_from_ego: torch.Tensor, feature_hw: tuple[int, int]) -> PoolIndex:
        key = (tuple(feature_hw), str(img_from_ego.device), img_from_ego.detach().cpu().numpy().tobytes())
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
            return hit
        with torch.inference_mode(False):  # a normal tensor even when first built under inference mode (predict)
            index = build_pool_index(
                img_from_ego.detach().float().clone(), feature_hw, self.stride, self.bins, self.grid
            )
        self._entries[key] = index
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return index
