"""Point cloud -> sparse voxels (vectorised numpy, no loops over points).

Each non-empty voxel gets ``NUM_VOXEL_FEATURES`` features: mean offset of its points from the voxel
centre in voxel units (3), mean intensity / 255, mean time lag (s), log(1 + count), and the voxel
centre normalised by the grid half-extent (x, y) and height (z) (3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.types import GridSpec

NUM_VOXEL_FEATURES = 9
NUM_POINT_FEATURES = 5


@dataclass(frozen=True)
class VoxelizedPoints:
    """``coords`` (V, 3) int32 voxel indices [x, y, z] of ``grid``; ``features`` (V, 9) float32;
    ``point_voxel`` (N,) int64 row of ``coords`` holding each input point (-1 outside the grid);
    ``point_features`` (N, 5) float32 per point: offset from its voxel centre in voxel units (3),
    intensity / 255, z normalised like the voxel centres."""

    coords: np.ndarray
    features: np.ndarray
    point_voxel: np.ndarray
    point_features: np.ndarray


def voxelize(points: np.ndarray, time_lag_s: np.ndarray, grid: GridSpec) -> VoxelizedPoints:
    """Voxelise (N, 5+) points (x, y, z m, intensity, ...) in the grid frame with (N,) time lags."""
    xyz = points[:, :3].astype(np.float64)
    idx = grid.index_of(xyz)
    inside = grid.in_bounds(idx)
    shape = np.asarray(grid.shape, dtype=np.int64)
    lo = np.asarray(grid.range_min_m)
    hi = np.asarray(grid.range_max_m)
    extent = np.array([hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]]) / 2.0
    mid = (lo + hi) / 2.0

    clipped = np.clip(idx, 0, shape - 1)
    offset = (xyz - grid.centers_of(clipped)) / grid.voxel_size_m
    intensity = np.clip(points[:, 3].astype(np.float64), 0.0, 255.0) / 255.0
    z_norm = (xyz[:, 2] - mid[2]) / extent[2]
    point_features = np.concatenate([offset, intensity[:, None], z_norm[:, None]], axis=1).astype(np.float32)

    linear = np.ravel_multi_index(clipped[inside].T, tuple(shape))
    uniq, inverse = np.unique(linear, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(uniq)).astype(np.float64)
    per_point = np.concatenate(
        [offset[inside], intensity[inside, None], time_lag_s[inside, None].astype(np.float64)], axis=1
    )
    sums = np.stack([np.bincount(inverse, weights=col, minlength=len(uniq)) for col in per_point.T], axis=1)
    coords = np.stack(np.unravel_index(uniq, tuple(shape)), axis=1)
    centres = (grid.centers_of(coords) - mid) / extent
    features = np.concatenate([sums / counts[:, None], np.log1p(counts)[:, None], centres], axis=1)

    point_voxel = np.full(len(points), -1, dtype=np.int64)
    point_voxel[inside] = inverse
    return VoxelizedPoints(
        coords=coords.astype(np.int32),
        features=features.astype(np.float32),
        point_voxel=point_voxel,
        point_features=point_features,
    )
