"""The reconstructed world's two-level LiDAR caster against a plain 3D DDA (Amanatides & Woo) over
the same voxel columns: same voxel hit, same range."""

from __future__ import annotations

import numba as nb
import numpy as np

from occplan.world.voxel_columns import StaticVoxels

LAYERS = 64


@nb.njit(cache=True)
def _reference_cast(origins, dirs, origin, voxel, columns, max_range, min_range):
    """One ray at a time, voxel by voxel: the first occupied voxel whose run's middle is past min_range."""
    n = dirs.shape[0]
    nx, ny = columns.shape
    dims = (nx, ny, LAYERS)
    out_t = np.full(n, np.inf)
    out_key = np.full(n, -1, np.int64)
    for r in range(n):
        o = r if origins.shape[0] == n else 0
        p = (origins[o] - origin) / voxel
        d = dirs[r]
        t0, t1 = 0.0, max_range / voxel
        for k in range(3):
            if d[k] == 0.0:
                if p[k] < 0.0 or p[k] >= dims[k]:
                    t1 = -1.0
                continue
            a, b = (0.0 - p[k]) / d[k], (dims[k] - p[k]) / d[k]
            t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 >= t1:
            continue
        idx = np.empty(3, np.int64)
        step = np.zeros(3, np.int64)
        t_next = np.full(3, np.inf)
        t_delta = np.full(3, np.inf)
        for k in range(3):
            idx[k] = min(max(int(np.floor(p[k] + d[k] * (t0 + 1e-9))), 0), dims[k] - 1)
            if d[k] > 0:
                step[k], t_next[k], t_delta[k] = 1, (idx[k] + 1 - p[k]) / d[k], 1.0 / d[k]
            elif d[k] < 0:
                step[k], t_next[k], t_delta[k] = -1, (idx[k] - p[k]) / d[k], -1.0 / d[k]
        t = t0
        while t < t1:
            a = np.argmin(t_next)
            t_exit = t_next[a]
            if (columns[idx[0], idx[1]] >> np.uint64(idx[2])) & np.uint64(1):
                t_mid = 0.5 * (t + min(t_exit, t1)) * voxel
                if t_mid >= min_range:
                    out_t[r] = t_mid
                    out_key[r] = (idx[0] * ny + idx[1]) * LAYERS + idx[2]
                    break
            t = t_exit
            t_next[a] += t_delta[a]
            idx[a] += step[a]
            if idx[a] < 0 or idx[a] >= dims[a]:
                break
    return out_t, out_key


def _world() -> StaticVoxels:
    """A 40 m x 30 m patch: ground at layer 10 with holes, walls, poles, floating boxes."""
    rng = np.random.default_rng(0)
    nx, ny = 200, 150
    occ = np.zeros((nx, ny, LAYERS), bool)
    occ[:, :, 10] = rng.random((nx, ny)) > 0.1
    occ[50:52, 20:130, 10:30] = True
    occ[120:180, 90:92, 10:22] = True
    occ[rng.integers(0, nx, 300), rng.integers(0, ny, 300), :] = rng.random((300, LAYERS)) > 0.8
    ijk = np.argwhere(occ)
    origin = np.array([-20.0, -15.0, -3.0])
    points = origin + (ijk + 0.5) * 0.2
    n = len(points)
    return StaticVoxels.from_points(points, np.ones(n, np.uint8), np.ones(n, np.float32), origin, (nx, ny), 0.2)


def test_two_level_caster_hits_the_voxels_of_a_plain_3d_dda():
    world = _world()
    rng = np.random.default_rng(1)
    dirs = rng.normal(size=(20_000, 3))
    dirs[:5000, 2] = -np.abs(dirs[:5000, 2]) * 0.2  # grazing the ground
    dirs[5000:5100] = [[1.0, 0.0, 0.0]] * 100  # axis-aligned
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    for origin in ([0.3, 0.1, 1.8], [-19.9, 14.9, 9.0], [-25.0, 0.0, 1.0]):  # inside, corner, outside the grid
        o = np.array([origin])
        got_t, got_i = world.cast(o, dirs, 60.0, 1.0)
        want_t, want_key = _reference_cast(o, dirs, world.origin_m, world.voxel_m, world.columns, 60.0, 1.0)
        want_i = np.full(len(dirs), -1, np.int64)
        want_i[want_key >= 0] = np.searchsorted(world.keys, want_key[want_key >= 0])
        assert np.mean(got_i == want_i) > 0.999  # ties at voxel corners may resolve either way
        same = got_i == want_i
        assert np.allclose(got_t[same], want_t[same], atol=1e-6, equal_nan=False)
        assert np.isfinite(got_t).sum() > 1000


def test_voxel_index_from_column_bits_equals_a_search_of_the_sorted_keys():
    rng = np.random.default_rng(4)
    points = rng.uniform([0, 0, 0], [30, 20, 12.8], size=(20_000, 3))
    voxels = StaticVoxels.from_points(
        points, rng.integers(1, 30, len(points)).astype(np.uint8), np.zeros(len(points), np.float32),
        np.zeros(3), (150, 100), 0.2,
    )  # fmt: skip
    keys = np.concatenate([rng.choice(voxels.keys, 5_000), voxels.keys[[0, -1]], [-1]])
    expected = np.where(keys >= 0, np.searchsorted(voxels.keys, keys), -1)
    assert np.array_equal(voxels.index_of(keys), expected)
    assert (voxels.keys % LAYERS).max() == LAYERS - 1  # the top layer (bit 63) is covered
