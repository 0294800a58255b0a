"""Exact ground-truth occupancy of a generated world in an Occ3D-style grid.

Static geometry: every face is sampled on a lattice about ``spacing_m`` apart, generated per query
directly in the grid frame and only where it lies inside the grid (no stored point cloud), and the
samples vote for their voxel's class. A voxel holding samples of several classes takes the majority class
(ties go to the higher ``CLASS_RANK``: objects over structures over flat ground). Agents: every voxel that
overlaps an agent
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
CLASS_RANK = np.array([_RANK_ORDER.index(n) for n in _OCC3D.class_names], np.int8)
_OVERLAP_TOLERANCE_M = 0.01
_TOUCHED = 255  # marks a voxel holding samples while votes are counted (never a valid Occ3D label)


@dataclass(frozen=True)
class SurfaceLattice:
    """Every static face as a sampling lattice ``v0 + (u / n1) * e1 + (w / n2) * e2`` (u, w >= 0,
    u / n1 + w / n2 <= 1), spanned from the face's shortest edge so that slivers stay cheap; lattice
    steps are at most ``spacing_m``. World frame: ``v0`` / ``e1`` / ``e2`` (F, 3) float64, ``n1`` /
    ``n2`` (F,) int64, ``label`` (F,) uint8 Occ3D class, ``bbox_min`` / ``bbox_max`` (F, 3) float64.
    """

    v0: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    n1: np.ndarray
    n2: np.ndarray
    label: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    spacing_m: float

    @classmethod
    def from_mesh(cls, mesh: StaticMesh, spacing_m: float = 0.1) -> SurfaceLattice:
        tri = mesh.vertices_m[mesh.faces]  # (F, 3, 3)
        edge_len = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=2)  # edge k: vertex k -> k + 1
        k = np.argmin(edge_len, axis=1)
        rows = np.arange(len(tri))
        v0, v1, v2 = tri[rows, k], tri[rows, (k + 1) % 3], tri[rows, (k + 2) % 3]
        e1, e2 = v1 - v0, v2 - v0
        n1 = np.maximum(1, np.ceil(np.linalg.norm(e1, axis=1) / spacing_m)).astype(np.int64)
        n2 = np.maximum(1, np.ceil(np.linalg.norm(e2, axis=1) / spacing_m)).astype(np.int64)
        label = GENERAL_TO_OCC3D[mesh.face_label]
        return cls(v0, e1, e2, n1, n2, label, tri.min(axis=1), tri.max(axis=1), float(spacing_m))


@nb.njit(cache=True, inline="always")
def _clip_row(base, step, size, lo, hi):  # pragma: no cover - compiled
    """Narrow [lo, hi] to the parameters f with 0 <= base + f * step < size (grid units, one axis)."""
    if step == 0.0:
        return (lo, hi) if 0.0 <= base < size else (1.0, 0.0)
    a = -base / step
    b = (size - base) / step
    return max(lo, min(a, b)), min(hi, max(a, b))


@nb.njit(cache=True)
def _voxelise_lattice(  # pragma: no cover - compiled
    faces, v0, e1, e2, n1, n2, label, rot, trans, range_min, voxel, rank, counts, touched, out
):
    sx, sy, sz = out.shape
    size = (float(sx), float(sy), float(sz))
    ncls = counts.shape[1]
    flat = out.reshape(-1)
    n_touched = 0
    g0 = np.empty(3)
    g1 = np.empty(3)
    g2 = np.empty(3)
    for f in faces:
        for a in range(3):  # the face's lattice vectors in grid units
            g0[a] = (
                rot[a, 0] * v0[f, 0] + rot[a, 1] * v0[f, 1] + rot[a, 2] * v0[f, 2] + trans[a] - range_min[a]
            ) / voxel
            g1[a] = (rot[a, 0] * e1[f, 0] + rot[a, 1] * e1[f, 1] + rot[a, 2] * e1[f, 2]) / voxel
            g2[a] = (rot[a, 0] * e2[f, 0] + rot[a, 1] * e2[f, 1] + rot[a, 2] * e2[f, 2]) / voxel
        a_n, b_n = n1[f], n2[f]
        for u in range(a_n + 1):
            fu = u / a_n
            w_max = int(np.floor(b_n * (1.0 - fu) + 1e-9))
            lo, hi = 0.0, w_max / b_n
            for a in range(3):  # only the part of the row inside the grid
                lo, hi = _clip_row(g0[a] + fu * g1[a], g2[a], size[a], lo, hi)
            if lo > hi:
                continue
            for w in range(max(0, int(np.ceil(lo * b_n - 1e-9))), min(w_max, int(np.floor(hi * b_n + 1e-9))) + 1):
                fw = w / b_n
                i = int(np.floor(g0[0] + fu * g1[0] + fw * g2[0]))
                j = int(np.floor(g0[1] + fu * g1[1] + fw * g2[1]))
                k = int(np.floor(g0[2] + fu * g1[2] + fw * g2[2]))
                if 0 <= i < sx and 0 <= j < sy and 0 <= k < sz:
                    v = (i * sy + j) * sz + k
                    if flat[v] != _TOUCHED:
                        flat[v] = _TOUCHED
                        touched[n_touched] = v
                        n_touched += 1
                    if counts[v, label[f]] < 255:  # saturating vote count
                        counts[v, label[f]] += 1
    for t in range(n_touched):
        v = touched[t]
        best = 0
        for c in range(1, ncls):
            if counts[v, c] > counts[v, best] or (counts[v, c] == counts[v, best] and rank[c] > rank[best]):
                best = c
        flat[v] = best
        counts[v, :] = 0


@nb.njit(cache=True)
def _faces_in_box(bbox_min, bbox_max, lo, hi):  # pragma: no cover - compiled
    """Indices of the faces whose bounding box (F, 3) meets the box [lo, hi] (3,)."""
    out = np.empty(bbox_min.shape[0], np.int64)
    n = 0
    for f in range(bbox_min.shape[0]):
        if (
            bbox_max[f, 0] >= lo[0] and bbox_max[f, 1] >= lo[1] and bbox_max[f, 2] >= lo[2]
            and bbox_min[f, 0] <= hi[0] and bbox_min[f, 1] <= hi[1] and bbox_min[f, 2] <= hi[2]
        ):  # fmt: skip
            out[n] = f
            n += 1
    return out[:n]


@dataclass(frozen=True)
class VoteScratch:
    """Reusable buffers of ``voxelise_static`` for one grid shape (X * Y * Z = V voxels): ``counts``
    (V, 18) uint8 per-class votes, all zero between calls; ``touched`` (V,) int64 indices of the voxels
    holding samples (contents undefined between calls)."""

    counts: np.ndarray
    touched: np.ndarray

    @classmethod
    def for_grid(cls, grid: GridSpec) -> VoteScratch:
        return cls(np.zeros((grid.num_voxels, _OCC3D.num_classes), np.uint8), np.empty(grid.num_voxels, np.int64))


def voxelise_static(
    lattice: SurfaceLattice, grid_from_world: Pose, grid: GridSpec, out: np.ndarray, scratch: VoteScratch
) -> None:
    """Vote the lattice samples of the static faces into ``out`` (X, Y, Z) uint8 (pre-filled free,
    C-contiguous): each voxel holding samples takes their majority class. Only the faces whose
    bounding box meets the grid's and only the lattice points inside the grid are generated.
    ``scratch`` is the grid shape's ``VoteScratch`` (its counts are left zeroed)."""
    corners = np.array(np.meshgrid(*zip(grid.range_min_m, grid.range_max_m), indexing="ij")).reshape(3, -1).T
    world_corners = grid_from_world.inverse().transform_points(corners)
    lo, hi = world_corners.min(axis=0), world_corners.max(axis=0)
    faces = _faces_in_box(lattice.bbox_min, lattice.bbox_max, lo, hi)
    _voxelise_lattice(
        faces,
        lattice.v0,
        lattice.e1,
        lattice.e2,
        lattice.n1,
        lattice.n2,
        lattice.label,
        grid_from_world.rotation,
        grid_from_world.translation_m,
        np.asarray(grid.range_min_m, np.float64),
        float(grid.voxel_size_m),
        CLASS_RANK,
        scratch.counts,
        scratch.touched,
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
