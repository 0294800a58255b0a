"""Voxels traversed by line segments (Amanatides & Woo 1987, "A fast voxel traversal algorithm"), numba.

Used for the Occ3D visibility masks: a voxel is observed when a ray passes through it or ends in it.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from occplan.types import GridSpec


@nb.njit(cache=True, inline="always")
def _axis_setup(p0, d, idx):  # pragma: no cover - compiled
    """(step, t_max, t_delta) along one axis for a segment p0 + s * d (grid units) starting in voxel idx."""
    if d > 0:
        return 1, (idx + 1 - p0) / d, 1.0 / d
    if d < 0:
        return -1, (idx - p0) / d, -1.0 / d
    return 0, np.inf, np.inf


@nb.njit(cache=True, inline="always")
def _clip(p0, d, size, s0, s1):  # pragma: no cover - compiled
    """Clip the segment parameter interval [s0, s1] to 0 <= p0 + s * d <= size."""
    if d == 0.0:
        return (s0, s1) if 0.0 <= p0 < size else (2.0, -1.0)
    a = -p0 / d
    b = (size - p0) / d
    return (max(s0, min(a, b)), min(s1, max(a, b)))


@nb.njit(parallel=True, cache=True)
def _mark(starts, ends, range_min, voxel, shape, out):  # pragma: no cover - compiled
    n = ends.shape[0]
    per_ray_start = starts.shape[0] == n
    nx, ny, nz = shape[0], shape[1], shape[2]
    for r in nb.prange(n):
        si = np.int64(r) if per_ray_start else np.int64(0)
        px = (starts[si, 0] - range_min[0]) / voxel
        py = (starts[si, 1] - range_min[1]) / voxel
        pz = (starts[si, 2] - range_min[2]) / voxel
        dx = (ends[r, 0] - range_min[0]) / voxel - px
        dy = (ends[r, 1] - range_min[1]) / voxel - py
        dz = (ends[r, 2] - range_min[2]) / voxel - pz
        s0, s1 = _clip(px, dx, nx, 0.0, 1.0)
        s0, s1 = _clip(py, dy, ny, s0, s1)
        s0, s1 = _clip(pz, dz, nz, s0, s1)
        if s0 > s1:
            continue
        i = min(max(int(np.floor(px + dx * s0)), 0), nx - 1)
        j = min(max(int(np.floor(py + dy * s0)), 0), ny - 1)
        k = min(max(int(np.floor(pz + dz * s0)), 0), nz - 1)
        step_i, t_i, dt_i = _axis_setup(px, dx, i)
        step_j, t_j, dt_j = _axis_setup(py, dy, j)
        step_k, t_k, dt_k = _axis_setup(pz, dz, k)
        while True:
            out[i, j, k] = True
            if t_i <= t_j and t_i <= t_k:
                if t_i > s1:
                    break
                i += step_i
                t_i += dt_i
                if i < 0 or i >= nx:
                    break
            elif t_j <= t_k:
                if t_j > s1:
                    break
                j += step_j
                t_j += dt_j
                if j < 0 or j >= ny:
                    break
            else:
                if t_k > s1:
                    break
                k += step_k
                t_k += dt_k
                if k < 0 or k >= nz:
                    break


def mark_segments(
    starts_m: np.ndarray, ends_m: np.ndarray, grid: GridSpec, out: np.ndarray | None = None
) -> np.ndarray:
    """Mark every voxel of ``grid`` that the segments ``starts -> ends`` pass through or end in.

    ``starts_m`` (N, 3) or (1, 3) and ``ends_m`` (N, 3), float, in the grid frame (metres).
    Returns (X, Y, Z) bool; ``out`` (same shape, bool) is updated in place when given.
    """
    if out is None:
        out = np.zeros(grid.shape, np.bool_)
    _mark(
        np.ascontiguousarray(starts_m, np.float64).reshape(-1, 3),
        np.ascontiguousarray(ends_m, np.float64).reshape(-1, 3),
        np.asarray(grid.range_min_m, np.float64),
        float(grid.voxel_size_m),
        np.asarray(grid.shape, np.int64),
        out,
    )
    return out
