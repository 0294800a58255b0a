"""Points -> voxel labels on the target grid: majority vote per voxel."""

from __future__ import annotations

import numpy as np

from occplan.labels.semantics import majority
from occplan.types import GridSpec, LabelSet


def voxel_keys(points_m: np.ndarray, grid: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) grid-frame points -> (flat voxel index ``(i * Y + j) * Z + k`` (M,) int64 of the points
    inside the grid, (N,) bool which points are inside)."""
    idx = grid.index_of(points_m)
    inside = grid.in_bounds(idx)
    idx = idx[inside]
    _, sy, sz = grid.shape
    return (idx[:, 0] * sy + idx[:, 1]) * sz + idx[:, 2], inside


def vote(points_m: np.ndarray, label: np.ndarray, grid: GridSpec, weight: np.ndarray | None = None) -> np.ndarray:
    """(X, Y, Z) uint8 Occ3D semantics: each voxel holding points (grid frame (N, 3), Occ3D labels (N,))
    takes their majority class weighted by ``weight`` (N,) (default 1; ties to the lower class index),
    free elsewhere."""
    out = np.full(grid.num_voxels, LabelSet.occ3d().free_index, np.uint8)
    keys, inside = voxel_keys(points_m, grid)
    if len(keys):
        w = None if weight is None else weight[inside]
        voxels, winner, _ = majority(keys, label[inside], w)
        out[voxels] = winner
    return out.reshape(grid.shape)
