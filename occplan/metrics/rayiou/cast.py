"""Ray casting through occupancy grids, exactly as SparseOcc ``lib/dvr/dvr.cu``:

* origin and end point (origin + direction) in voxel units
  ``float32((p - range_min) / float64(float32(voxel)))`` (SparseOcc divides a float64 origin by a
  float32 tensor);
* Amanatides-Woo traversal in double from the float32 voxel coordinates, start voxel by ``int()``
  truncation, ties to Z over X and Y and to Y over X, at most 1000 steps; the depth is the **exit**
  distance of the first occupied voxel (``label < free`` or ``label > free``), else of the last
  in-grid voxel; a ray that never enters the grid gets depth -1 and voxel (0, 0, 0);
* metres ``float32(depth) * float32(voxel)``; label (and flow) read at the hit voxel.

Every kernel is compiled with numba's ``numpy`` error model: no zero-divisor test before each division
(a component that is 0 is tested for explicitly, as in dvr.cu, and ``cast_rays`` refuses a zero
direction).

The fast kernel (``cast_rays``) runs numba-parallel over rays (or in the calling thread, for callers
that run one sample per thread), over all rays or a listed subset, and stops at the first hit;
``trace_reference`` is the reference-style single-thread traversal that records the whole path like
the CUDA kernel and then searches it (also callable as plain Python through ``.py_func``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from occplan.errors import ValidationError
from occplan.metrics.rayiou.origins import lidar_ray_directions
from occplan.types import GridSpec, LabelSet
from occplan.types._check import check_array

MAX_STEP = 1000
_DBL_MAX = np.finfo(np.float64).max


def _scale(grid: GridSpec) -> np.float64:
    return np.float64(np.float32(grid.voxel_size_m))


def to_voxel_units(points_m: np.ndarray, grid: GridSpec) -> np.ndarray:
    """(..., 3) metric points (float64) -> float32 voxel coordinates, rounded as the reference
    (float64 points minus a float32 offset, divided by the float32 voxel size, then float32)."""
    offset = np.asarray(grid.range_min_m, dtype=np.float32).astype(np.float64)
    return ((np.asarray(points_m, dtype=np.float64) - offset) / _scale(grid)).astype(np.float32)


# --- traversal ------------------------------------------------------------------------------
@numba.njit(cache=True, error_model="numpy")
def _axis_setup(o: float, d: float):
    """Start voxel, step, tMax and tDelta along one axis (dvr.cu): DBL_MAX when d == 0."""
    v = int(o)
    s = 1 if d >= 0 else -1
    if d == 0:
        return v, s, _DBL_MAX, _DBL_MAX
    bound = v + 1 if s > 0 else v
    return v, s, (bound - o) / d, s / d


@numba.njit(cache=True, error_model="numpy")
def _setup(o0, o1, o2, e0, e1, e2):
    """Ray from a float32 voxel-unit origin through a float32 end point, in double (dvr.cu)."""
    ox, oy, oz = float(o0), float(o1), float(o2)
    rx, ry, rz = float(e0) - ox, float(e1) - oy, float(e2) - oz
    norm = math.sqrt(rx * rx + ry * ry + rz * rz)
    x, sx, tx, dx = _axis_setup(ox, rx / norm)
    y, sy, ty, dy = _axis_setup(oy, ry / norm)
    z, sz, tz, dz = _axis_setup(oz, rz / norm)
    return x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz


@numba.njit(cache=True, error_model="numpy")
def _choose(tx: float, ty: float, tz: float) -> int:
    """Axis of the next step with the dvr.cu tie rules: Z over X and Y, Y over X."""
    if tx < ty and tx < tz:
        return 0
    if tx < ty:
        return 2
    if ty < tz:
        return 1
    return 2


@numba.njit(cache=True, error_model="numpy")
def _voxel_units(p, offset, scale):
    return np.float32((p - offset) / scale)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _walk(occ_bits, n_grids, nx, ny, nz, x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz):
    """Walk one ray (the ``_setup`` values) through one or two bit-packed grids at once; see
    ``_trace_fast``. Returns (depth, flat index) of grid 0 and of grid 1."""
    steps = 0
    while not (0 <= x < nx and 0 <= y < ny and 0 <= z < nz) and steps < MAX_STEP:
        a = _choose(tx, ty, tz)
        if a == 0:
            x += sx
            tx += dx
        elif a == 1:
            y += sy
            ty += dy
        else:
            z += sz
            tz += dz
        steps += 1
    d0, d1, i0, i1 = -1.0, -1.0, 0, 0
    last_d, last_idx = -1.0, 0
    todo = (1 << n_grids) - 1
    idx = (x * ny + y) * nz + z
    step_x, step_y = sx * ny * nz, sy * nz
    # voxels left along each axis before the walk leaves the grid
    left_x = nx - x if sx > 0 else x + 1
    left_y = ny - y if sy > 0 else y + 1
    left_z = nz - z if sz > 0 else z + 1
    while steps < MAX_STEP:
        bit = idx * n_grids
        hit = (occ_bits[bit >> 3] >> (bit & 7)) & todo
        last_idx = idx
        if tx < ty and tx < tz:
            last_d = tx
            tx += dx
            idx += step_x
            left_x -= 1
            out = left_x == 0
        elif tx < ty or not ty < tz:
            last_d = tz
            tz += dz
            idx += sz
            left_z -= 1
            out = left_z == 0
        else:
            last_d = ty
            ty += dy
            idx += step_y
            left_y -= 1
            out = left_y == 0
        steps += 1
        if hit:
            if hit & 1:
                d0, i0 = last_d, last_idx
            if hit & 2:
                d1, i1 = last_d, last_idx
            todo &= ~hit
            if todo == 0:
                break
        if out:
            break
    if todo & 1:
        d0, i0 = last_d, last_idx
    if todo & 2:
        d1, i1 = last_d, last_idx
    return d0, i0, d1, i1


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _cast_into(occ_bits, n_grids, shape, origins_m, origins_v, dirs, t, r, k, offset, scale, dist_out, index_out):
    """Cast the ray from origin ``t`` along direction ``r`` through ``n_grids`` grids and write its
    depth and voxel of each grid at position ``k`` of ``dist_out`` / ``index_out`` (G, K).
    Inlined into the kernels' loops (no call, no array reference counting per ray), each loop
    written for a constant ``n_grids``."""
    x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz = _setup(
        origins_v[t, 0],
        origins_v[t, 1],
        origins_v[t, 2],
        _voxel_units(origins_m[t, 0] + np.float64(dirs[r, 0]), offset[0], scale),
        _voxel_units(origins_m[t, 1] + np.float64(dirs[r, 1]), offset[1], scale),
        _voxel_units(origins_m[t, 2] + np.float64(dirs[r, 2]), offset[2], scale),
    )
    nx, ny, nz = shape[0], shape[1], shape[2]
    d0, i0, d1, i1 = _walk(occ_bits, n_grids, nx, ny, nz, x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz)
    dist_out[0, k] = d0
    index_out[0, k] = i0
    if n_grids > 1:
        dist_out[1, k] = d1
        index_out[1, k] = i1


@numba.njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def _trace_fast(occ_bits, shape, origins_m, origins_v, dirs, ts, rs, offset, scale, dist_out, index) -> None:
    """Cast the listed rays through one or two grids at once (prediction and GT), numba-parallel.

    occ_bits (ceil(X*Y*Z*G / 8),) uint8: the G = 1 or 2 occupancy grids bit-packed (``pack_occupancy``),
    so the walk reads a compact array that stays in cache; origins_m (T, 3) float64 metres and
    origins_v (T, 3) float32 the same in voxel units (``to_voxel_units``, once per origin rather
    than per ray); dirs (R, 3) float32; ts, rs (K,) int64 the origin and direction of each ray
    (split from the flat ids ``t * R + r`` once by ``np.divmod``: a 64-bit division per ray in the
    kernel cost ~7 % of the cast); offset (3,) and scale: voxel-unit conversion of the end points.
    Writes dist_out (G, K) float32 exit depths in voxel units and index (G, K) int32 flat voxel indices
    ``(x * Y + y) * Z + z``. One walk serves both grids and stops once both have been hit; it visits
    exactly the voxels of the reference walk (``trace_reference``) with the same tie rules (written out
    inline), counting the voxels left per axis instead of testing bounds. A ray that never enters the
    grid keeps depth -1 and index 0.
    """
    if dist_out.shape[0] == 1:
        for k in numba.prange(ts.size):
            _cast_into(occ_bits, 1, shape, origins_m, origins_v, dirs, ts[k], rs[k], k, offset, scale, dist_out, index)
    else:
        for k in numba.prange(ts.size):
            _cast_into(occ_bits, 2, shape, origins_m, origins_v, dirs, ts[k], rs[k], k, offset, scale, dist_out, index)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _trace_serial(occ_bits, shape, origins_m, origins_v, dirs, ts, rs, offset, scale, dist_out, index) -> None:
    """``_trace_fast`` in the calling thread only (callers that already run one sample per thread)."""
    if dist_out.shape[0] == 1:
        for k in range(ts.size):
            _cast_into(occ_bits, 1, shape, origins_m, origins_v, dirs, ts[k], rs[k], k, offset, scale, dist_out, index)
    else:
        for k in range(ts.size):
            _cast_into(occ_bits, 2, shape, origins_m, origins_v, dirs, ts[k], rs[k], k, offset, scale, dist_out, index)


@numba.njit(cache=True, error_model="numpy")
def trace_reference(occ, shape, origin_v, end_v):
    """Reference-style traversal of one ray: record the whole in-grid path (voxels and exit
    distances, as the CUDA kernel does), then take the first occupied voxel.

    occ (X*Y*Z,) uint8; returns (depth in voxel units as float32, (3,) int64 voxel).
    """
    nx, ny, nz = shape[0], shape[1], shape[2]
    x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz = _setup(
        origin_v[0], origin_v[1], origin_v[2], end_v[0], end_v[1], end_v[2]
    )
    path = np.zeros((MAX_STEP, 3), dtype=np.int64)
    dists = np.zeros(MAX_STEP, dtype=np.float64)
    count = 0
    was_inside = False
    for _ in range(MAX_STEP):
        inside = 0 <= x < nx and 0 <= y < ny and 0 <= z < nz
        if inside:
            path[count, 0], path[count, 1], path[count, 2] = x, y, z
            was_inside = True
        elif was_inside:
            break
        a = _choose(tx, ty, tz)
        if a == 0:
            d = tx
            x += sx
            tx += dx
        elif a == 1:
            d = ty
            y += sy
            ty += dy
        else:
            d = tz
            z += sz
            tz += dz
        if inside:
            dists[count] = d
            count += 1
    for i in range(count):
        if occ[(path[i, 0] * ny + path[i, 1]) * nz + path[i, 2]] > 0:
            return np.float32(dists[i]), path[i].copy()
    if count > 0:
        return np.float32(dists[count - 1]), path[count - 1].copy()
    return np.float32(-1.0), np.zeros(3, dtype=np.int64)


@numba.njit(cache=True, error_model="numpy")
def trace_reference_all(occ, shape, origins_v, ends_v, dist_out, coord_out) -> None:
    """``trace_reference`` over (T, R) rays of one grid, single thread (the benchmark's baseline)."""
    for t in range(ends_v.shape[0]):
        for r in range(ends_v.shape[1]):
            d, c = trace_reference(occ, shape, origins_v[t], ends_v[t, r])
            dist_out[t, r] = d
            coord_out[t, r] = c


# --- records --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RayRecords:
    """Per-ray results of one grid for N rays: all T origins x R directions flattened origin-major
    (N = T*R, ray id ``t * R + r``), or the N listed ray ids of ``cast_rays(..., rays=...)`` in order.

    ``label`` (N,) uint8 label at the hit voxel; ``dist_m`` (N,) float32 exit distance of the hit
    voxel in metres (-0.4 for a ray that never enters the grid); ``voxel_index`` (N,) int32 flat
    index ``(x * Y + y) * Z + z`` of the hit voxel (0 for a ray that never enters; None where it was
    not kept, as in cached GT hits); ``flow`` (N, 2) float32 flow at the hit voxel or None; ``shape``
    the grid shape.
    """

    label: np.ndarray
    dist_m: np.ndarray
    voxel_index: np.ndarray | None
    shape: tuple[int, int, int]
    flow: np.ndarray | None = None

    @property
    def voxel(self) -> np.ndarray:
        """(N, 3) int64 hit voxel [x, y, z]."""
        if self.voxel_index is None:
            raise ValidationError("RayRecords.voxel: these records keep no voxel index")
        return np.stack(np.unravel_index(self.voxel_index, self.shape), axis=1)


def pack_occupancy(semantics: list[np.ndarray], free_index: int) -> np.ndarray:
    """G (X, Y, Z) label grids -> (ceil(X*Y*Z*G / 8),) uint8 with bit ``G * i + g`` (little bit order)
    set where grid g is occupied (label != free) at flat voxel i: 80 KB per Occ3D grid."""
    bits = np.empty((semantics[0].size, len(semantics)), dtype=bool)
    for g, sem in enumerate(semantics):
        np.not_equal(sem.reshape(-1), free_index, out=bits[:, g])
    return np.packbits(bits.reshape(-1), bitorder="little")


def flow_at(flow: np.ndarray, voxel_index: np.ndarray) -> np.ndarray:
    """(K, 2) float32 rows of an (X, Y, Z, 2) float32 flow grid at K flat voxel indices, each
    (vx, vy) pair gathered as one 8-byte word (the same bits as ``flow.reshape(-1, 2)[voxel_index]``,
    a third of its time)."""
    words = np.ascontiguousarray(flow, dtype=np.float32).reshape(-1).view(np.uint64)
    return words[voxel_index].view(np.float32).reshape(-1, 2)


def cast_rays(
    semantics: list[np.ndarray],
    origins_m: np.ndarray,
    grid: GridSpec,
    labels: LabelSet,
    flows: list[np.ndarray | None] | None = None,
    directions: np.ndarray | None = None,
    rays: np.ndarray | None = None,
    parallel: bool = True,
) -> list[RayRecords]:
    """Cast rays from each origin (T, 3) (grid frame, metres) through one or two (X, Y, Z) uint8
    semantics grids (GT and prediction: same rays, one walk) -> one RayRecords per grid.

    ``flows`` optionally gives each grid's (X, Y, Z, 2) float32 flow; ``directions`` (R, 3) float32
    unit vectors default to the 14,040 ``lidar_ray_directions``. ``rays`` (K,) int64 origin-major
    flat ray ids ``t * R + r`` casts only those rays (the records then hold them in that order;
    default all T * R). ``parallel`` walks numba-parallel over rays; False walks in the calling
    thread (for callers that already run one sample per thread)."""
    origins = check_array(np.asarray(origins_m, dtype=np.float64), "ray origins_m", (None, 3), finite=True)
    if len(origins) == 0:
        raise ValidationError("ray origins_m: no origin (need at least one)")
    if not 1 <= len(semantics) <= 2:
        raise ValidationError(f"cast_rays: 1 or 2 grids per call, got {len(semantics)}")
    flows = flows if flows is not None else [None] * len(semantics)
    for g, (sem, flow) in enumerate(zip(semantics, flows, strict=True)):
        check_array(sem, f"semantics[{g}]", grid.shape, np.uint8)
        labels.validate(sem, f"semantics[{g}]")
        if flow is not None:
            check_array(flow, f"flow[{g}]", (*grid.shape, 2), np.float32, finite=True)
    occ_bits = pack_occupancy(semantics, labels.free_index)
    dirs = (
        lidar_ray_directions() if directions is None else check_array(directions, "directions", (None, 3), np.float32)
    )
    if directions is not None and not np.all(np.any(dirs != 0, axis=1)):
        raise ValidationError(f"directions: row {int(np.argmin(np.any(dirs != 0, axis=1)))} is the zero vector")
    n = len(origins) * len(dirs)
    if rays is None:
        rays = np.arange(n, dtype=np.int64)
    else:
        check_array(rays, "rays", (None,), np.int64)
        if rays.size and (rays.min() < 0 or rays.max() >= n):
            raise ValidationError(f"rays: ids must lie in [0, {n}) ({len(origins)} origins x {len(dirs)} directions)")
    dist_v = np.empty((len(semantics), rays.size), dtype=np.float32)
    index = np.empty(dist_v.shape, dtype=np.int32)
    offset = np.asarray(grid.range_min_m, dtype=np.float32).astype(np.float64)
    shape = np.asarray(grid.shape, dtype=np.int64)
    kernel = _trace_fast if parallel else _trace_serial
    origins_v = to_voxel_units(origins, grid)
    ray_t, ray_r = np.divmod(rays, len(dirs))
    kernel(occ_bits, shape, origins, origins_v, dirs, ray_t, ray_r, offset, _scale(grid), dist_v, index)
    scale = np.float32(grid.voxel_size_m)
    out = []
    for g, (sem, flow) in enumerate(zip(semantics, flows, strict=True)):
        idx = index[g]
        rec_flow = None if flow is None else flow_at(flow, idx)
        out.append(RayRecords(sem.reshape(-1)[idx], dist_v[g] * scale, idx, grid.shape, rec_flow))
    return out
