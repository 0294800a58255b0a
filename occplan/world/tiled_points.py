"""Static voxel centres sorted by XY tile, voxelised into a query grid (the reconstructed world's static
ground truth occupancy)."""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from occplan.types import GridSpec, Pose
from occplan.world.occupancy_gt import CLASS_RANK


@dataclass(frozen=True)
class TiledPoints:
    """Static voxel centres sorted by XY tile for fast per-query selection.

    ``points_m`` (P, 3) float32 relative to ``origin_m`` (3,) float64; ``label`` (P,) uint8 Occ3D;
    the points of tile (iy, ix) are ``[tile_start[iy, ix], tile_start[iy, ix + 1])``.
    """

    points_m: np.ndarray
    label: np.ndarray
    origin_m: np.ndarray
    tile_m: float
    tile_start: np.ndarray

    @classmethod
    def build(cls, points_m: np.ndarray, label_occ3d: np.ndarray, tile_m: float) -> TiledPoints:
        origin = points_m.min(axis=0)
        rel = points_m - origin
        tile_xy = np.floor(rel[:, :2] / tile_m).astype(np.int64)
        tx, ty = int(tile_xy[:, 0].max()) + 1, int(tile_xy[:, 1].max()) + 1
        key = tile_xy[:, 1] * tx + tile_xy[:, 0]
        order = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=tx * ty).reshape(ty, tx)
        tile_start = np.zeros((ty, tx + 1), np.int64)
        tile_start[:, 1:] = np.cumsum(counts, axis=1)
        tile_start += np.concatenate([[0], np.cumsum(counts.sum(axis=1))[:-1]])[:, None]
        return cls(rel[order].astype(np.float32), label_occ3d[order], origin, float(tile_m), tile_start)

    def voxelise(self, grid_from_world: Pose, grid: GridSpec, out: np.ndarray) -> None:
        """Write the points' Occ3D labels into ``out`` (X, Y, Z) uint8 (pre-filled free); a voxel with
        points of several classes keeps the highest-ranked class (objects over structures over ground)."""
        world_from_grid = grid_from_world.inverse()
        corners = np.array(np.meshgrid(*zip(grid.range_min_m, grid.range_max_m), indexing="ij")).reshape(3, -1).T
        xy = world_from_grid.transform_points(corners)[:, :2] - self.origin_m[:2]
        ty, tx1 = self.tile_start.shape
        lo = np.clip(np.floor(xy.min(axis=0) / self.tile_m).astype(np.int64), 0, [tx1 - 2, ty - 1])
        hi = np.clip(np.floor(xy.max(axis=0) / self.tile_m).astype(np.int64), 0, [tx1 - 2, ty - 1])
        rows = np.arange(lo[1], hi[1] + 1)
        runs = np.stack([self.tile_start[rows, lo[0]], self.tile_start[rows, hi[0] + 1]], axis=1)
        trans = grid_from_world.rotation @ self.origin_m + grid_from_world.translation_m
        range_min = np.asarray(grid.range_min_m, np.float64)
        _voxelise_points(
            self.points_m, self.label, runs, grid_from_world.rotation, trans, range_min, grid.voxel_size_m, out
        )


@nb.njit(cache=True)
def _voxelise_points(points, label, runs, rot, trans, range_min, voxel, out):  # pragma: no cover - compiled
    sx, sy, sz = out.shape
    for r in range(runs.shape[0]):
        for p in range(runs[r, 0], runs[r, 1]):
            x, y, z = np.float64(points[p, 0]), np.float64(points[p, 1]), np.float64(points[p, 2])
            i = int(np.floor((rot[0, 0] * x + rot[0, 1] * y + rot[0, 2] * z + trans[0] - range_min[0]) / voxel))
            j = int(np.floor((rot[1, 0] * x + rot[1, 1] * y + rot[1, 2] * z + trans[1] - range_min[1]) / voxel))
            k = int(np.floor((rot[2, 0] * x + rot[2, 1] * y + rot[2, 2] * z + trans[2] - range_min[2]) / voxel))
            if 0 <= i < sx and 0 <= j < sy and 0 <= k < sz and CLASS_RANK[label[p]] > CLASS_RANK[out[i, j, k]]:
                out[i, j, k] = label[p]
