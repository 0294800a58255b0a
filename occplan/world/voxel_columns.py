"""Static voxels of a reconstructed world as column bit-masks, and the LiDAR caster over them.

A column is the 64 voxels above one (x, y) cell, one bit each in a uint64; the caster walks the columns
a ray crosses (numba; blocks of 8 x 8 columns whose bits miss the ray's layers are skipped whole) and
returns the middle of the ray's run through the first occupied voxel. See ``occplan.world.reconstructed``
for how the voxels are built from a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numba as nb
import numpy as np

_LAYERS = 64  # voxels per column (bits of a uint64)
_BLOCK = 8  # columns per side of a block of the LiDAR caster's coarse level


@dataclass(frozen=True)
class StaticVoxels:
    """Occupied static voxels of a world.

    ``origin_m`` (3,) world corner of voxel (0, 0, 0); ``columns`` (X, Y) uint64: bit k of column
    (i, j) is set when voxel (i, j, k) is occupied; ``keys`` (M,) int64 sorted voxel keys
    ``(i * Y + j) * 64 + k`` with ``label`` (M,) uint8 lidarseg general and ``intensity`` (M,) float32.
    """

    origin_m: np.ndarray
    voxel_m: float
    columns: np.ndarray
    keys: np.ndarray
    label: np.ndarray
    intensity: np.ndarray

    @cached_property
    def coarse(self) -> np.ndarray:
        """(ceil(X / B), ceil(Y / B)) uint64: OR of the columns of each B x B block (B = ``_BLOCK``)."""
        nx, ny = self.columns.shape
        padded = np.zeros((-(-nx // _BLOCK) * _BLOCK, -(-ny // _BLOCK) * _BLOCK), np.uint64)
        padded[:nx, :ny] = self.columns
        blocks = padded.reshape(padded.shape[0] // _BLOCK, _BLOCK, padded.shape[1] // _BLOCK, _BLOCK)
        return np.bitwise_or.reduce(np.bitwise_or.reduce(blocks, axis=3), axis=1)

    @classmethod
    def from_points(
        cls, points_m: np.ndarray, label: np.ndarray, intensity_: np.ndarray, origin_m: np.ndarray, shape_xy, voxel_m
    ) -> StaticVoxels:
        """Voxelise (P, 3) world points; points outside the column grid are dropped."""
        idx = np.floor((points_m - origin_m) / voxel_m).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < [shape_xy[0], shape_xy[1], _LAYERS]), axis=1)
        idx, label, intensity_ = idx[ok], label[ok], intensity_[ok]
        key = (idx[:, 0] * shape_xy[1] + idx[:, 1]) * _LAYERS + idx[:, 2]
        keys, inverse = np.unique(key, return_inverse=True)
        # majority label per voxel: count (voxel, label) pairs, keep the most frequent per voxel
        pair, pair_count = np.unique(inverse * 256 + label, return_counts=True)
        order = np.lexsort((pair_count, pair // 256))
        last = np.r_[np.diff(pair[order] // 256) != 0, True]
        vox_label = (pair[order][last] % 256).astype(np.uint8)
        mean_int = (np.bincount(inverse, intensity_, len(keys)) / np.bincount(inverse, minlength=len(keys))).astype(
            np.float32
        )
        columns = np.zeros(shape_xy[0] * shape_xy[1], np.uint64)
        np.bitwise_or.at(columns, keys // _LAYERS, np.left_shift(np.uint64(1), (keys % _LAYERS).astype(np.uint64)))
        return cls(origin_m, float(voxel_m), columns.reshape(shape_xy), keys, vox_label, mean_int)

    def centers_m(self) -> np.ndarray:
        """(M, 3) world-frame centres of the occupied voxels (in ``keys`` order)."""
        k = self.keys
        ny = self.columns.shape[1]
        ijk = np.column_stack([k // _LAYERS // ny, k // _LAYERS % ny, k % _LAYERS])
        return self.origin_m + (ijk + 0.5) * self.voxel_m

    def cast(self, origins_m: np.ndarray, directions: np.ndarray, max_range_m: float, min_range_m: float):
        """Nearest occupied voxel along N rays: (distance (N,) float64, inf on a miss; index into ``keys`` (N,), -1)."""
        t, key = _cast_columns(
            np.ascontiguousarray(origins_m, np.float64),
            np.ascontiguousarray(directions, np.float64),
            self.origin_m,
            self.voxel_m,
            self.columns,
            self.coarse,
            _BLOCK,
            float(max_range_m),
            float(min_range_m),
        )
        return t, self.index_of(key)

    @cached_property
    def _column_start(self) -> np.ndarray:
        """(X * Y,) int64: index in ``keys`` of each column's first voxel (keys are column-major sorted)."""
        count = np.bincount(self.keys // _LAYERS, minlength=self.columns.size)
        return np.cumsum(count) - count

    def index_of(self, key: np.ndarray) -> np.ndarray:
        """Indices into ``keys`` of occupied-voxel keys (N,) int64 (-1 stays -1): the column's start plus
        the occupied layers below, counted in the column's bits (no search)."""
        return _key_index(np.asarray(key, np.int64), self.columns.reshape(-1), self._column_start)


@nb.njit(cache=True, inline="always")
def _popcount(x):  # pragma: no cover - compiled
    """Set bits of a uint64 (SWAR)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@nb.njit(cache=True)
def _key_index(key, columns, column_start):  # pragma: no cover - compiled
    out = np.full(key.shape[0], -1, np.int64)
    for r in range(key.shape[0]):
        if key[r] < 0:
            continue
        col, layer = key[r] // _LAYERS, key[r] % _LAYERS
        below = columns[col] & ((np.uint64(1) << np.uint64(layer)) - np.uint64(1))
        out[r] = column_start[col] + _popcount(below)
    return out


@nb.njit(cache=True, inline="always")
def _layer_bits(column, k_lo, k_hi):  # pragma: no cover - compiled
    """Bits k_lo..k_hi (inclusive, 0 <= k_lo <= k_hi < 64) of a uint64 column."""
    width = k_hi - k_lo + 1
    mask = ~np.uint64(0) if width >= _LAYERS else (np.uint64(1) << np.uint64(width)) - np.uint64(1)
    return column & (mask << np.uint64(k_lo))


@nb.njit(cache=True, inline="always")
def _layer_range(pz, dz, ta, tb):  # pragma: no cover - compiled
    """Layers (k_lo, k_hi) the ray crosses for t in [ta, tb] (grid units), clipped to the column
    (k_lo > k_hi: none)."""
    za, zb = pz + dz * ta, pz + dz * tb
    k_lo = max(int(np.floor(min(za, zb))), 0)
    k_hi = min(int(np.floor(max(za, zb))), _LAYERS - 1)
    return k_lo, k_hi


@nb.njit(cache=True)
def _first_in_column(column, pz, dz, ta, tb, min_t):  # pragma: no cover - compiled
    """Middle t of the ray's run through the first occupied voxel of one column crossed over [ta, tb]
    whose middle is at least ``min_t`` (grid units), and its layer; (-1, -1) when none."""
    k_lo, k_hi = _layer_range(pz, dz, ta, tb)
    if k_lo > k_hi or _layer_bits(column, k_lo, k_hi) == 0:
        return -1.0, -1
    for n in range(k_hi - k_lo + 1):
        k = k_lo + n if dz >= 0.0 else k_hi - n
        if (column >> np.uint64(k)) & np.uint64(1) == 0:
            continue
        r0, r1 = ta, tb
        if dz != 0.0:
            a, b = (k - pz) / dz, (k + 1 - pz) / dz
            r0, r1 = max(ta, min(a, b)), min(tb, max(a, b))
        if r1 - r0 <= 1e-9:  # grazes a voxel edge or corner
            continue
        t_mid = 0.5 * (r0 + r1)
        if t_mid >= min_t:
            return t_mid, k
    return -1.0, -1


@nb.njit(cache=True, inline="always")
def _dda_setup(p, d, cell, t0, n):  # pragma: no cover - compiled
    """2D DDA along one axis with cells of ``cell`` grid units: (first cell index, step, t_next, t_delta)."""
    i = min(max(int(np.floor((p + d * t0) / cell)), 0), n - 1)
    if d > 0.0:
        return i, 1, ((i + 1) * cell - p) / d, cell / d
    if d < 0.0:
        return i, -1, (i * cell - p) / d, -cell / d
    return i, 0, np.inf, np.inf


@nb.njit(parallel=True, cache=True)
def _cast_columns(origins, dirs, origin, voxel, columns, coarse, block, max_range, min_range):  # pragma: no cover
    """Two-level traversal: a 2D DDA over blocks of ``block`` x ``block`` columns (``coarse`` = OR of
    their bits) skips blocks whose bits miss the ray's layers, then a 2D DDA over the block's columns
    tests each column's layers crossed by the ray at once. Visits the voxels of a 3D DDA in the same order."""
    n = dirs.shape[0]
    nx, ny = columns.shape
    cx, cy = coarse.shape
    per_ray_origin = origins.shape[0] == n
    out_t = np.full(n, np.inf)
    out_key = np.full(n, -1, np.int64)
    min_t = min_range / voxel
    for r in nb.prange(n):
        oi = np.int64(r) if per_ray_origin else np.int64(0)
        p = np.empty(3)
        d = np.empty(3)
        for k in range(3):
            p[k] = (origins[oi, k] - origin[k]) / voxel
            d[k] = dirs[r, k]
        t0, t1 = 0.0, max_range / voxel
        dims = (float(nx), float(ny), float(_LAYERS))
        for k in range(3):  # clip the ray to the grid box [0, dims]
            if d[k] == 0.0:
                if p[k] < 0.0 or p[k] >= dims[k]:
                    t1 = -1.0
                continue
            a, b = (0.0 - p[k]) / d[k], (dims[k] - p[k]) / d[k]
            t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 >= t1:
            continue
        bi, bsi, bti, bdi = _dda_setup(p[0], d[0], float(block), t0 + 1e-9, cx)
        bj, bsj, btj, bdj = _dda_setup(p[1], d[1], float(block), t0 + 1e-9, cy)
        ta = t0
        done = False
        while not done and ta < t1:
            tb = min(bti, btj, t1)
            k_lo, k_hi = _layer_range(p[2], d[2], ta, tb)
            if k_lo <= k_hi and _layer_bits(coarse[bi, bj], k_lo, k_hi) != 0:
                i, si, ti, di = _dda_setup(p[0], d[0], 1.0, ta + 1e-9, nx)
                j, sj, tj, dj = _dda_setup(p[1], d[1], 1.0, ta + 1e-9, ny)
                ca = ta
                while ca < tb:
                    cb = min(ti, tj, tb)
                    t_mid, k = _first_in_column(columns[i, j], p[2], d[2], ca, cb, min_t)
                    if k >= 0:
                        out_t[r] = t_mid * voxel
                        out_key[r] = (i * ny + j) * _LAYERS + k
                        done = True
                        break
                    ca = cb
                    if ti <= tj:
                        i, ti = i + si, ti + di
                    else:
                        j, tj = j + sj, tj + dj
                    if i < 0 or i >= nx or j < 0 or j >= ny:
                        break
            ta = tb
            if bti <= btj:
                bi, bti = bi + bsi, bti + bdi
            else:
                bj, btj = bj + bsj, btj + bdj
            if bi < 0 or bi >= cx or bj < 0 or bj >= cy:
                break
    return out_t, out_key
