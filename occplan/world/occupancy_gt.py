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
from occplan.world.face_buckets import FaceBuckets
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
# While votes are cast, a voxel voted for by one class holds ``label | votes << 5`` (labels < 32, 1..7
# votes); from the 8th vote or a second class on, its votes live in a row of ``VoteScratch.counts``.
_LABEL_BITS, _ONE_VOTE, _SEVEN_VOTES = 31, 32, 7 * 32


@dataclass(frozen=True)
class SurfaceLattice:
    """Every static face as a sampling lattice ``v0 + (u / n1) * e1 + (w / n2) * e2`` (u, w >= 0,
    u / n1 + w / n2 <= 1), spanned from the vertex of the face's largest angle (opposite its longest
    edge) with ``e1`` the shorter of its two edges: rows run along ``e2``, a sliver has few rows and
    the lattice of a right triangle is square. Lattice steps are at most ``spacing_m``. World frame:
    ``v0`` / ``e1`` / ``e2`` (F, 3) float64, ``n1`` / ``n2`` (F,) int64, ``label`` (F,) uint8 Occ3D
    class, ``bbox_min`` / ``bbox_max`` (F, 3) float64 and ``buckets`` the bounding boxes bucketed over xy.
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
    buckets: FaceBuckets

    @classmethod
    def from_mesh(cls, mesh: StaticMesh, spacing_m: float = 0.2) -> SurfaceLattice:
        tri = mesh.vertices_m[mesh.faces]  # (F, 3, 3)
        edge_len = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=2)  # edge k: vertex k -> k + 1
        m = np.argmax(edge_len, axis=1)  # the longest edge; v0 is the vertex opposite it (largest angle)
        rows = np.arange(len(tri))
        v0 = tri[rows, (m + 2) % 3]
        a, b = tri[rows, m] - v0, tri[rows, (m + 1) % 3] - v0
        a_shorter = (np.linalg.norm(a, axis=1) <= np.linalg.norm(b, axis=1))[:, None]
        e1, e2 = np.where(a_shorter, a, b), np.where(a_shorter, b, a)
        n1 = np.maximum(1, np.ceil(np.linalg.norm(e1, axis=1) / spacing_m)).astype(np.int64)
        n2 = np.maximum(1, np.ceil(np.linalg.norm(e2, axis=1) / spacing_m)).astype(np.int64)
        label = GENERAL_TO_OCC3D[mesh.face_label]
        lo, hi = tri.min(axis=1), tri.max(axis=1)
        return cls(v0, e1, e2, n1, n2, label, lo, hi, float(spacing_m), FaceBuckets.from_bboxes(lo, hi))


@nb.njit(cache=True, inline="always")
def _clip_row(base, step, size, lo, hi):  # pragma: no cover - compiled
    """Narrow the sample range [lo, hi] (floats) to the samples w with 0 <= base + w * step < size
    (grid units, one axis)."""
    if step == 0.0:
        return (lo, hi) if 0.0 <= base < size else (1.0, 0.0)
    a = -base / step
    b = (size - base) / step
    return max(lo, min(a, b)), min(hi, max(a, b))


@nb.njit(cache=True, nogil=True)
def _voxelise_lattice(  # pragma: no cover - compiled
    faces, v0, e1, e2, n1, n2, label, rot, trans, range_min, voxel, rank, free, slot, counts, out
):
    sx, sy, sz = out.shape
    size = (float(sx), float(sy), float(sz))
    flat = out.reshape(-1)
    n_mixed = 0
    g0 = np.empty(3)
    du = np.empty(3)
    dw = np.empty(3)
    longest = 0
    for f in faces:
        longest = max(longest, n2[f])
    row = np.empty(longest + 1, np.int64)  # the voxel index of each sample of a row (-1 outside the grid)
    for f in faces:
        a_n, b_n = n1[f], n2[f]
        inside = True  # all three corners inside the grid: no row needs clipping
        outside = False  # all three corners beyond one side of the grid: no sample inside
        for a in range(3):  # the face's origin and lattice steps in grid units
            g0[a] = (
                rot[a, 0] * v0[f, 0] + rot[a, 1] * v0[f, 1] + rot[a, 2] * v0[f, 2] + trans[a] - range_min[a]
            ) / voxel
            g1 = (rot[a, 0] * e1[f, 0] + rot[a, 1] * e1[f, 1] + rot[a, 2] * e1[f, 2]) / voxel
            g2 = (rot[a, 0] * e2[f, 0] + rot[a, 1] * e2[f, 1] + rot[a, 2] * e2[f, 2]) / voxel
            du[a] = g1 / a_n
            dw[a] = g2 / b_n
            lo_a, hi_a = g0[a] + min(0.0, g1, g2), g0[a] + max(0.0, g1, g2)
            inside &= lo_a >= 0.0 and hi_a < size[a]
            outside |= hi_a < 0.0 or lo_a >= size[a]
        if outside:
            continue
        lab = label[f]
        dw0, dw1, dw2 = dw[0], dw[1], dw[2]
        for u in range(a_n + 1):
            w_lo, w_hi = 0, (b_n * (a_n - u)) // a_n  # samples with u / n1 + w / n2 <= 1
            bx, by, bz = g0[0] + u * du[0], g0[1] + u * du[1], g0[2] + u * du[2]
            if not inside:
                lo, hi = float(w_lo), float(w_hi)
                lo, hi = _clip_row(bx, dw0, size[0], lo, hi)
                lo, hi = _clip_row(by, dw1, size[1], lo, hi)
                lo, hi = _clip_row(bz, dw2, size[2], lo, hi)
                if lo > hi:
                    continue
                w_lo, w_hi = max(w_lo, int(np.ceil(lo - 1e-9))), min(w_hi, int(np.floor(hi + 1e-9)))
            m = w_hi + 1 - w_lo
            # the samples' voxels first (no stores into the grid: a loop the compiler vectorises), then the votes
            if dw2 == 0.0:  # a level row: every sample in the layer of its start
                fk = np.floor(bz)
                if not 0.0 <= fk < size[2]:
                    continue
                k = np.int64(fk)
                for q in range(m):
                    fi, fj = np.floor(bx + (w_lo + q) * dw0), np.floor(by + (w_lo + q) * dw1)
                    ok = (fi >= 0.0) & (fi < size[0]) & (fj >= 0.0) & (fj < size[1])
                    row[q] = (np.int64(fi) * sy + np.int64(fj)) * sz + k if ok else -1
            else:
                for q in range(m):
                    fi, fj = np.floor(bx + (w_lo + q) * dw0), np.floor(by + (w_lo + q) * dw1)
                    fk = np.floor(bz + (w_lo + q) * dw2)
                    ok = (fi >= 0.0) & (fi < size[0]) & (fj >= 0.0) & (fj < size[1]) & (fk >= 0.0) & (fk < size[2])
                    row[q] = (np.int64(fi) * sy + np.int64(fj)) * sz + np.int64(fk) if ok else -1
            for q in range(m):
                v = row[q]
                if v < 0:
                    continue
                state = flat[v]
                if state == free:  # first vote
                    flat[v] = lab | _ONE_VOTE
                    continue
                if state >= _ONE_VOTE:  # one class so far: state = label | votes << 5 (1..7 votes)
                    best = state & _LABEL_BITS
                    if best == lab and state < _SEVEN_VOTES:
                        flat[v] = state + _ONE_VOTE
                        continue
                    slot[v] = n_mixed  # a second class or an 8th vote: count in a row of ``counts``
                    counts[n_mixed, best] = state >> 5
                    n_mixed += 1
                    flat[v] = state = best
                r = slot[v]  # counted: state is the plurality label (ties to the higher rank)
                c = min(counts[r, lab] + 1, 255)  # saturating vote count
                counts[r, lab] = c
                if lab != state and (c > counts[r, state] or (c == counts[r, state] and rank[lab] > rank[state])):
                    flat[v] = lab
    for v in range(flat.shape[0]):  # drop the vote counts of the single-class voxels
        flat[v] &= _LABEL_BITS
    counts[:n_mixed] = 0


@dataclass(frozen=True)
class VoteScratch:
    """Reusable buffers of ``voxelise_static`` for one grid shape (X * Y * Z = V voxels): the row
    ``slot`` (V,) int32 of ``counts`` (V, 18) uint8 per-class votes of each voxel whose votes are
    counted there (see ``_LABEL_BITS``). ``counts`` is all zero between calls; ``slot`` is undefined
    between calls (read only for voxels given a row in the current call)."""

    slot: np.ndarray
    counts: np.ndarray

    @classmethod
    def for_grid(cls, grid: GridSpec) -> VoteScratch:
        v = grid.num_voxels
        return cls(np.empty(v, np.int32), np.zeros((v, _OCC3D.num_classes), np.uint8))


@nb.njit(cache=True, nogil=True)
def _box_around(rotation, translation, range_min, range_max):  # pragma: no cover - compiled
    """(lo, hi) (3,) of the 8 grid corners (``range_min`` / ``range_max`` (3,)) moved by
    ``rotation @ p + translation``."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for c in range(8):
        x = range_max[0] if c & 4 else range_min[0]
        y = range_max[1] if c & 2 else range_min[1]
        z = range_max[2] if c & 1 else range_min[2]
        for a in range(3):
            p = rotation[a, 0] * x + rotation[a, 1] * y + rotation[a, 2] * z + translation[a]
            lo[a], hi[a] = min(lo[a], p), max(hi[a], p)
    return lo, hi


def grid_world_box(world_from_grid: Pose, grid: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) (3,) world-frame corners of the axis-aligned box around ``grid`` placed by
    ``world_from_grid``: the box whose static faces ``voxelise_static`` samples."""
    return _box_around(
        world_from_grid.rotation,
        world_from_grid.translation_m,
        np.asarray(grid.range_min_m, np.float64),
        np.asarray(grid.range_max_m, np.float64),
    )


def voxelise_static(
    lattice: SurfaceLattice, grid_from_world: Pose, grid: GridSpec, out: np.ndarray, scratch: VoteScratch
) -> None:
    """Vote the lattice samples of the static faces into ``out`` (X, Y, Z) uint8 (pre-filled free,
    C-contiguous): each voxel holding samples takes their majority class. Only the faces whose
    bounding box meets the grid's and only the lattice points inside the grid are generated.
    ``scratch`` is the grid shape's ``VoteScratch`` (its counts are left zeroed)."""
    lo, hi = grid_world_box(grid_from_world.inverse(), grid)
    faces = lattice.buckets.faces_in_box(lo, hi)
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
        _OCC3D.free_index,
        scratch.slot,
        scratch.counts,
        out,
    )


@nb.njit(cache=True, nogil=True)
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
