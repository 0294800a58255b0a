"""Exact ground-truth occupancy of a generated world in an Occ3D-style grid.

Static geometry: the static mesh is sampled once into dense surface points (world frame, about
``spacing_m`` apart, binned into XY tiles); per query the points near the grid are moved into the
grid frame and voxelised. A voxel holding samples of several classes takes the majority class
(ties go to the higher ``_RANK``: objects over structures over flat ground). Agents: every voxel that overlaps an agent
box (by more than 1 cm) takes the agent's class and its velocity rotated into the grid frame
(flow, m/s); everything else is free (17). Voxelisation runs in numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from occplan.types import GridSpec, LabelSet, Pose
from occplan.world.raycast import BoxSet
from occplan.world.spec import StaticMesh

GENERAL_TO_OCC3D = LabelSet.lidarseg_general().table_to(LabelSet.occ3d())
_OCC3D = LabelSet.occ3d()
_RANK_ORDER = (  # tie-break priority of voxel classes, lowest first
    "free", "driveable_surface", "other_flat", "sidewalk", "terrain", "vegetation", "manmade", "others",
    "barrier", "traffic_cone", "bicycle", "motorcycle", "pedestrian", "car", "construction_vehicle",
    "trailer", "truck", "bus",
)  # fmt: skip
_RANK = np.array([_RANK_ORDER.index(n) for n in _OCC3D.class_names], np.int8)
_OVERLAP_TOLERANCE_M = 0.01
_TOUCHED = 255  # marks a voxel holding samples while votes are counted (never a valid Occ3D label)


@dataclass(frozen=True)
class SurfaceSamples:
    """Surface points of the static mesh, sorted by XY tile.

    ``points_m`` (P, 3) float32 relative to ``origin_m`` (3,) float64 (world frame);
    ``label`` (P,) uint8 Occ3D class; ``tile_start`` (TY, TX + 1) int64: the points of tile
    (iy, ix) are ``[tile_start[iy, ix], tile_start[iy, ix + 1])`` (rows are contiguous);
    tile (iy, ix) covers world x in ``origin + ix * tile_m`` ... (+ tile_m), likewise y.
    """

    points_m: np.ndarray
    label: np.ndarray
    origin_m: np.ndarray
    tile_m: float
    tile_start: np.ndarray


@nb.njit(cache=True)
def _lattice_counts(v0, e1, e2, spacing):  # pragma: no cover - compiled
    f = v0.shape[0]
    n1 = np.empty(f, np.int64)
    n2 = np.empty(f, np.int64)
    count = np.empty(f, np.int64)
    for i in range(f):
        a = max(1, int(np.ceil(np.sqrt((e1[i] ** 2).sum()) / spacing)))
        b = max(1, int(np.ceil(np.sqrt((e2[i] ** 2).sum()) / spacing)))
        c = 0
        for u in range(a + 1):
            c += int(np.floor(b * (1.0 - u / a) + 1e-9)) + 1
        n1[i], n2[i], count[i] = a, b, c
    return n1, n2, count


@nb.njit(cache=True)
def _lattice_fill(v0, e1, e2, n1, n2, start, out):  # pragma: no cover - compiled
    for i in range(v0.shape[0]):
        k = start[i]
        a, b = n1[i], n2[i]
        for u in range(a + 1):
            fu = u / a
            for w in range(int(np.floor(b * (1.0 - fu) + 1e-9)) + 1):
                fw = w / b
                for d in range(3):
                    out[k, d] = v0[i, d] + fu * e1[i, d] + fw * e2[i, d]
                k += 1


def sample_surface(mesh: StaticMesh, spacing_m: float = 0.1, tile_m: float = 8.0) -> SurfaceSamples:
    """Sample every face on a barycentric lattice spanned from the shortest edge (gaps <= ~spacing)."""
    tri = mesh.vertices_m[mesh.faces]  # (F, 3, 3)
    edge_len = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=2)  # edge k: vertex k -> k+1
    k = np.argmin(edge_len, axis=1)  # start at the shortest edge so long slivers stay cheap
    rows = np.arange(len(tri))
    v0, v1, v2 = tri[rows, k], tri[rows, (k + 1) % 3], tri[rows, (k + 2) % 3]
    origin = mesh.vertices_m.min(axis=0)
    e1, e2 = v1 - v0, v2 - v0
    n1, n2, count = _lattice_counts(v0, e1, e2, float(spacing_m))
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    pts = np.empty((int(count.sum()), 3))
    _lattice_fill(v0 - origin, e1, e2, n1, n2, start, pts)
    label = np.repeat(GENERAL_TO_OCC3D[mesh.face_label], count)
    # sort into tiles (row-major: iy then ix) so a query reads contiguous runs
    tile_xy = np.maximum(np.floor(pts[:, :2] / tile_m).astype(np.int64), 0)  # >= 0 up to rounding
    tx, ty = int(tile_xy[:, 0].max()) + 1, int(tile_xy[:, 1].max()) + 1
    key = tile_xy[:, 1] * tx + tile_xy[:, 0]
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=tx * ty).reshape(ty, tx)
    tile_start = np.zeros((ty, tx + 1), np.int64)
    tile_start[:, 1:] = np.cumsum(counts, axis=1)
    tile_start += np.concatenate([[0], np.cumsum(counts.sum(axis=1))[:-1]])[:, None]
    return SurfaceSamples(pts[order].astype(np.float32), label[order], origin, float(tile_m), tile_start)


@nb.njit(cache=True)
def _voxelise_static(points, label, runs, rot, trans, range_min, voxel, rank, counts, out):  # pragma: no cover
    sx, sy, sz = out.shape
    ncls = counts.shape[1]
    touched = np.empty(sx * sy * sz, np.int64)
    n_touched = 0
    flat = out.reshape(-1)
    for r in range(runs.shape[0]):
        for p in range(runs[r, 0], runs[r, 1]):
            x, y, z = np.float64(points[p, 0]), np.float64(points[p, 1]), np.float64(points[p, 2])
            i = int(np.floor((rot[0, 0] * x + rot[0, 1] * y + rot[0, 2] * z + trans[0] - range_min[0]) / voxel))
            j = int(np.floor((rot[1, 0] * x + rot[1, 1] * y + rot[1, 2] * z + trans[1] - range_min[1]) / voxel))
            k = int(np.floor((rot[2, 0] * x + rot[2, 1] * y + rot[2, 2] * z + trans[2] - range_min[2]) / voxel))
            if 0 <= i < sx and 0 <= j < sy and 0 <= k < sz:
                v = (i * sy + j) * sz + k
                if flat[v] != _TOUCHED:
                    flat[v] = _TOUCHED
                    touched[n_touched] = v
                    n_touched += 1
                if counts[v, label[p]] < 65535:
                    counts[v, label[p]] += 1
    for t in range(n_touched):
        v = touched[t]
        best = 0
        for c in range(1, ncls):
            if counts[v, c] > counts[v, best] or (counts[v, c] == counts[v, best] and rank[c] > rank[best]):
                best = c
        flat[v] = best
        counts[v, :] = 0


def voxelise_static(
    samples: SurfaceSamples, grid_from_world: Pose, grid: GridSpec, out: np.ndarray, counts: np.ndarray
) -> None:
    """Write the Occ3D labels of the static surface samples into ``out`` (X, Y, Z) uint8 (pre-filled
    free, C-contiguous). ``counts`` (X * Y * Z, 18) uint16 is an all-zero scratch buffer (left zeroed)."""
    world_from_grid = grid_from_world.inverse()
    corners = np.array(np.meshgrid(*zip(grid.range_min_m, grid.range_max_m), indexing="ij")).reshape(3, -1).T
    xy = world_from_grid.transform_points(corners)[:, :2] - samples.origin_m[:2]
    ty, tx1 = samples.tile_start.shape
    lo = np.clip(np.floor(xy.min(axis=0) / samples.tile_m).astype(np.int64), 0, [tx1 - 2, ty - 1])
    hi = np.clip(np.floor(xy.max(axis=0) / samples.tile_m).astype(np.int64), 0, [tx1 - 2, ty - 1])
    rows = np.arange(lo[1], hi[1] + 1)
    runs = np.stack([samples.tile_start[rows, lo[0]], samples.tile_start[rows, hi[0] + 1]], axis=1)
    # grid_from_world applied to (origin + p): rotate p, translate by R @ origin + t
    trans = grid_from_world.rotation @ samples.origin_m + grid_from_world.translation_m
    _voxelise_static(
        samples.points_m,
        samples.label,
        runs,
        grid_from_world.rotation,
        trans,
        np.asarray(grid.range_min_m, np.float64),
        float(grid.voxel_size_m),
        _RANK,
        counts,
        out,
    )


@nb.njit(cache=True)
def _voxelise_boxes(center, half, yaw, label, vel, range_min, voxel, tol, out, flow):  # pragma: no cover
    sx, sy, sz = out.shape
    hv = voxel / 2
    for b in range(center.shape[0]):
        c, s = np.cos(yaw[b]), np.sin(yaw[b])
        ex = abs(c) * half[b, 0] + abs(s) * half[b, 1]  # box half extent along the grid x / y axes
        ey = abs(s) * half[b, 0] + abs(c) * half[b, 1]
        i0 = max(0, int(np.floor((center[b, 0] - ex - range_min[0]) / voxel)))
        i1 = min(sx - 1, int(np.floor((center[b, 0] + ex - range_min[0]) / voxel)))
        j0 = max(0, int(np.floor((center[b, 1] - ey - range_min[1]) / voxel)))
        j1 = min(sy - 1, int(np.floor((center[b, 1] + ey - range_min[1]) / voxel)))
        k0 = max(0, int(np.floor((center[b, 2] - half[b, 2] - range_min[2]) / voxel)))
        k1 = min(sz - 1, int(np.floor((center[b, 2] + half[b, 2] - range_min[2]) / voxel)))
        pv = hv * (abs(c) + abs(s))  # voxel half extent along the box axes
        for i in range(i0, i1 + 1):
            dx = range_min[0] + (i + 0.5) * voxel - center[b, 0]
            if abs(dx) > ex + hv - tol:
                continue
            for j in range(j0, j1 + 1):
                dy = range_min[1] + (j + 0.5) * voxel - center[b, 1]
                if abs(dy) > ey + hv - tol:
                    continue
                if abs(c * dx + s * dy) > half[b, 0] + pv - tol or abs(-s * dx + c * dy) > half[b, 1] + pv - tol:
                    continue
                for k in range(k0, k1 + 1):
                    dz = range_min[2] + (k + 0.5) * voxel - center[b, 2]
                    if abs(dz) > half[b, 2] + hv - tol:
                        continue
                    out[i, j, k] = label[b]
                    flow[i, j, k, 0] = vel[b, 0]
                    flow[i, j, k, 1] = vel[b, 1]


def voxelise_boxes(boxes: BoxSet, grid_from_world: Pose, grid: GridSpec, out: np.ndarray, flow: np.ndarray) -> None:
    """Write agent classes into ``out`` (X, Y, Z) uint8 and their velocity (grid frame, m/s) into
    ``flow`` (X, Y, Z, 2) float32 for every voxel overlapping a box (boxes are yawed about z; the
    grid frame is assumed level with the world)."""
    if not len(boxes):
        return
    center = grid_from_world.transform_points(boxes.center_m)
    yaw = boxes.yaw_rad + grid_from_world.yaw_rad
    vel3 = np.concatenate([boxes.velocity_mps, np.zeros((len(boxes), 1))], axis=1)
    vel = grid_from_world.transform_vectors(vel3)[:, :2].astype(np.float32)
    _voxelise_boxes(
        center,
        boxes.half_extent_m,
        yaw,
        GENERAL_TO_OCC3D[boxes.label],
        vel,
        np.asarray(grid.range_min_m, np.float64),
        float(grid.voxel_size_m),
        _OVERLAP_TOLERANCE_M,
        out,
        flow,
    )
