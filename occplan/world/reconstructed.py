"""``ReconstructedWorld``: a World rebuilt from a real nuScenes log, so that LiDAR can be re-cast and
ground-truth occupancy computed at poses the log never visited.

Reconstruction (documented once here):

- Static geometry: the LiDAR points of the log's keyframes (with their sweeps when the dataroot has
  them) are moved to the world frame; returns from the ego body and points inside any annotated box
  (grown by ``box_margin_m``, and along its length by speed x ``motion_margin_s``: a LiDAR sweep
  smears a moving object over its 50 ms) are dropped, and so are points inside the volume the ego
  swept along the log (its box between ``ego_clearance_m`` and ``ego_top_m`` above the ground at the
  logged poses every ``ego_path_step_s``, grown by ``ego_path_margin_m`` = half a voxel: the ego
  drove through it, so whatever was there was transient); the rest is voxelised at ``voxel_size_m``
  into a column bit-mask (64 voxels per (x, y) column, from ``z_min_m`` above the log's mean ego
  height) with a per-voxel label (majority) and mean intensity.
- Labels: nuScenes-lidarseg general classes when the dataroot has lidarseg; otherwise a geometric
  fallback, computed per LiDAR frame in its own ego frame (nuScenes ego poses carry no height, so a
  sloped road seen from afar lands metres above or below its later near view in the world frame and
  a world-frame ground estimate would call it a wall): points within ``ground_height_m`` of the local
  ground (the lowest point per ``ground_cell_m`` cell, median-filtered) are ``flat.driveable_surface``
  inside the map's drivable area and ``flat.sidewalk`` outside, everything else ``static.manmade``;
  points under the ego's logged path (below ``ego_clearance_m``) are ``flat.driveable_surface``.
- Agents: every annotated instance becomes a moving oriented box, interpolated between keyframes
  (``occplan.world.tracks.AgentTracks``).
- LiDAR: the nuScenes LIDAR_TOP beam pattern (``occplan.world.rig.LidarSpec``) at the log's LiDAR
  calibration; static hits come from a voxel traversal of the columns (numba; blocks of 8 x 8
  columns whose bits miss the ray's layers are skipped whole), the range is the middle of the ray's
  run through the first occupied voxel; agent hits are exact box hits.
- Occupancy: the occupied voxel centres and the agent boxes are voxelised into the query grid with
  the generated world's box kernel and class ranking (``occplan.world.occupancy_gt``). No visibility masks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numba as nb
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation, Slerp

from occplan.errors import DataError
from occplan.types import AgentBox, GridSpec, LabelSet, OccupancyFrame, Pose, Scenario, VehicleParams
from occplan.world.base import LidarScan, RayHits
from occplan.world.lidar import REFLECTIVITY, ego_body, head_on_intensity, on_ego_body, return_intensity
from occplan.world.occupancy_gt import CLASS_RANK, GENERAL_TO_OCC3D, voxelise_boxes
from occplan.world.raycast import BoxSet, SectorIndex, cast_boxes
from occplan.world.rig import LidarSpec, SensorRig
from occplan.world.spec import AgentTrack
from occplan.world.tracks import AgentTracks, TrackedWorld

_LAYERS = 64  # voxels per column (bits of a uint64)
_BLOCK = 8  # columns per side of a block of the LiDAR caster's coarse level
_GENERAL = LabelSet.lidarseg_general()
_DRIVEABLE, _SIDEWALK, _MANMADE = (
    _GENERAL.index(n) for n in ("flat.driveable_surface", "flat.sidewalk", "static.manmade")
)


@dataclass(frozen=True)
class ReconstructionConfig:
    """Static reconstruction and LiDAR settings (see the module docstring)."""

    voxel_size_m: float = 0.2
    z_min_m: float = -3.0
    crop_m: float = 70.0
    box_margin_m: float = 0.2
    motion_margin_s: float = 0.05
    ego_clearance_m: float = 0.2
    ego_top_m: float = 2.0
    ego_path_margin_m: float = 0.1
    ego_path_step_s: float = 0.05
    ground_cell_m: float = 2.0
    ground_height_m: float = 0.3
    min_range_m: float = 1.0
    tile_m: float = 8.0
    lidar: LidarSpec = field(default_factory=LidarSpec)


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


@nb.njit(parallel=True, cache=True)
def _inside_any_box(points, centers, half, yaw):  # pragma: no cover - compiled
    n = points.shape[0]
    out = np.zeros(n, np.bool_)
    c = np.cos(yaw)
    s = np.sin(yaw)
    for i in nb.prange(n):
        for b in range(centers.shape[0]):
            dx = points[i, 0] - centers[b, 0]
            dy = points[i, 1] - centers[b, 1]
            if abs(points[i, 2] - centers[b, 2]) > half[b, 2]:
                continue
            if abs(c[b] * dx + s[b] * dy) <= half[b, 0] and abs(-s[b] * dx + c[b] * dy) <= half[b, 1]:
                out[i] = True
                break
    return out


def points_in_boxes(
    points_m: np.ndarray, boxes: Sequence[AgentBox], margin_m: float = 0.0, motion_margin_s: float = 0.0
) -> np.ndarray:
    """(N, 3) points and boxes in the same frame -> (N,) bool, inside any box grown by ``margin_m``
    and, along its length, by its speed times ``motion_margin_s``."""
    if not boxes or len(points_m) == 0:
        return np.zeros(len(points_m), bool)
    centers = np.array([b.center_m for b in boxes])
    half = np.array([[b.size_m[1], b.size_m[0], b.size_m[2]] for b in boxes]) / 2 + margin_m
    half[:, 0] += motion_margin_s * np.array([np.hypot(*b.velocity_mps) for b in boxes])
    yaw = np.array([b.yaw_rad for b in boxes])
    return _inside_any_box(np.ascontiguousarray(points_m[:, :3], np.float64), centers, half, yaw)


@nb.njit(parallel=True, cache=True)
def _ego_path_zone(points, rot, trans, center_x, half_l, half_w, clearance, top):  # pragma: no cover - compiled
    n = points.shape[0]
    out = np.zeros(n, np.int8)
    reach2 = (abs(center_x) + half_l) ** 2 + half_w**2
    for i in nb.prange(n):
        for p in range(rot.shape[0]):
            dx, dy, dz = points[i, 0] - trans[p, 0], points[i, 1] - trans[p, 1], points[i, 2] - trans[p, 2]
            if dx * dx + dy * dy > reach2:
                continue
            x = rot[p, 0, 0] * dx + rot[p, 1, 0] * dy + rot[p, 2, 0] * dz
            y = rot[p, 0, 1] * dx + rot[p, 1, 1] * dy + rot[p, 2, 1] * dz
            z = rot[p, 0, 2] * dx + rot[p, 1, 2] * dy + rot[p, 2, 2] * dz
            if abs(x - center_x) > half_l or abs(y) > half_w or z > top:
                continue
            if z >= clearance:
                out[i] = 2
                break
            out[i] = 1
    return out


def ego_path_zone(
    points_m: np.ndarray,
    scenario: Scenario,
    vehicle: VehicleParams,
    clearance_m: float,
    top_m: float,
    step_s: float,
    margin_m: float = 0.0,
) -> np.ndarray:
    """(N, 3) world points -> (N,) int8: 2 inside the volume the ego swept along the log (its box from
    ``clearance_m`` to ``top_m`` above the ground, in the logged ego frames, rotations included, every
    ``step_s``, footprint grown by ``margin_m``), 1 under it (the driven surface), 0 elsewhere."""
    t = np.array([f.time_us for f in scenario.frames], np.float64) * 1e-6
    ts = np.arange(t[0], t[-1] + 1e-9, step_s)
    rot = Slerp(t, Rotation.from_matrix([f.world_from_ego.rotation for f in scenario.frames]))(ts).as_matrix()
    xyz = np.array([f.world_from_ego.translation_m for f in scenario.frames])
    trans = np.column_stack([np.interp(ts, t, xyz[:, d]) for d in range(3)])
    return _ego_path_zone(
        np.ascontiguousarray(points_m[:, :3], np.float64), np.ascontiguousarray(rot), trans,
        vehicle.rear_axle_to_center_m, vehicle.length_m / 2 + margin_m, vehicle.width_m / 2 + margin_m, clearance_m,
        top_m,
    )  # fmt: skip


def ground_fallback_labels(points_m: np.ndarray, cell_m: float, height_m: float) -> np.ndarray:
    """Geometric labels for (P, 3) points of one LiDAR frame (its ego frame) without lidarseg:
    ``flat.driveable_surface`` within ``height_m`` of the local ground (the lowest point per
    ``cell_m`` cell, median-filtered), else ``static.manmade`` (see the module docstring)."""
    lo = points_m[:, :2].min(axis=0)
    cell = np.floor((points_m[:, :2] - lo) / cell_m).astype(np.int64)
    shape = cell.max(axis=0) + 1
    ground = np.full(shape, np.inf)
    np.minimum.at(ground, (cell[:, 0], cell[:, 1]), points_m[:, 2])
    empty = ~np.isfinite(ground)
    if empty.all():
        raise DataError("ground_fallback_labels: no points")
    nearest = ndimage.distance_transform_edt(empty, return_distances=False, return_indices=True)
    ground = ndimage.median_filter(ground[tuple(nearest)], size=3)
    flat = points_m[:, 2] - ground[cell[:, 0], cell[:, 1]] < height_m
    return np.where(flat, _DRIVEABLE, _MANMADE).astype(np.uint8)


def _drivable_test(scenario: Scenario, crop_m: float):
    """``(N, 2) world xy -> (N,) bool`` inside the scene's drivable area, or None without a map."""
    if scenario.map.drivable_wkb is None:
        return None
    from occplan.rules.offroad import DrivableRaster

    ego_xy = np.array([f.world_from_ego.translation_m[:2] for f in scenario.frames])
    raster = DrivableRaster.from_wkb(scenario.map.drivable_wkb, ego_xy, crop_m)
    return lambda xy: raster.distance_outside(xy) == 0


def _tracks_from_scenario(scenario: Scenario) -> list[AgentTrack]:
    """One AgentTrack per annotated instance (world frame), sampled at the keyframes it appears in."""
    rows: dict[str, list[tuple[int, AgentBox]]] = {}
    for f in scenario.frames:
        rot, yaw0 = f.world_from_ego.rotation, f.world_from_ego.yaw_rad
        for b in f.agents:
            world = AgentBox(
                f.world_from_ego.transform_points(b.center_m[None])[0], b.size_m, float(b.yaw_rad + yaw0),
                (rot[:2, :2] @ b.velocity_mps), b.category, b.instance, b.attributes,
            )  # fmt: skip
            rows.setdefault(b.instance, []).append((f.time_us, world))
    tracks = []
    for inst, seq in rows.items():
        names = tuple(sorted({a for _, b in seq for a in b.attributes}))
        cat = seq[0][1].category
        label = _GENERAL.class_names.index(cat) if cat in _GENERAL.class_names else 0
        tracks.append(
            AgentTrack(
                instance=inst,
                category=cat,
                label=label,
                size_m=np.asarray(seq[0][1].size_m, np.float64),
                times_us=np.array([t for t, _ in seq], np.int64),
                center_m=np.array([b.center_m for _, b in seq]),
                yaw_rad=np.unwrap([b.yaw_rad for _, b in seq]),
                velocity_mps=np.array([b.velocity_mps for _, b in seq]),
                attribute=np.array([names.index(b.attributes[0]) if b.attributes else -1 for _, b in seq], np.int16),
                attribute_names=names,
            )
        )
    return tracks


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


@nb.njit(cache=True)
def _sweep(  # pragma: no cover - compiled
    dist, index, vox_label, vox_intensity, d_box, box, box_label, box_inst, dirs_sensor, ring,
    ego_from_sensor, lo, hi, table,
):  # fmt: skip
    """The sweep's points (K, 5) float32, labels (K,) and instances (K,) from the static hits (``dist``,
    voxel ``index``) and box hits (``d_box``, ``box``) of its N rays: the nearer hit wins (a box's
    intensity is its class reflectivity head-on), returns on the ego body (box ``lo``..``hi``, ego frame)
    are dropped."""
    n = dist.shape[0]
    points = np.empty((n, 5), np.float32)
    label = np.empty(n, np.uint8)
    instance = np.empty(n, np.int32)
    body = ego_body(ego_from_sensor, lo, hi)
    k = 0
    for i in range(n):
        d, lab, inst, inten = dist[i], np.uint8(0), np.int32(-1), np.float32(0.0)
        if index[i] >= 0:
            lab, inten = vox_label[index[i]], vox_intensity[index[i]]
        b = box[i]
        if b >= 0 and d_box[i] < d:
            d, lab, inst = d_box[i], box_label[b], box_inst[b]
            inten = return_intensity(table[lab], 1.0)  # head-on
        if not np.isfinite(d):
            continue
        p0, p1, p2 = dirs_sensor[i, 0] * d, dirs_sensor[i, 1] * d, dirs_sensor[i, 2] * d
        if on_ego_body(p0, p1, p2, body):
            continue
        points[k, 0], points[k, 1], points[k, 2], points[k, 3], points[k, 4] = p0, p1, p2, inten, ring[i]
        label[k], instance[k] = lab, inst
        k += 1
    return points[:k], label[:k], instance[:k]


class ReconstructedWorld(TrackedWorld):
    """World of a real log: static voxels + annotated boxes (see the module docstring)."""

    def __init__(
        self,
        static: StaticVoxels,
        tracks: Sequence[AgentTrack],
        ego_from_lidar: Pose,
        config: ReconstructionConfig | None = None,
        name: str = "reconstructed",
    ) -> None:
        self.static = static
        self.config = config or ReconstructionConfig()
        self.name = name
        self.ego_from_lidar = ego_from_lidar
        self._rig = SensorRig(lidar=self.config.lidar)
        self.tracks = tuple(tracks)
        self._tracks = AgentTracks(self.tracks)
        self._dirs_sensor, self._ring = self.config.lidar.ray_directions()
        self._sectors = SectorIndex.of(self._dirs_sensor)
        self._tiles = TiledPoints.build(static.centers_m(), GENERAL_TO_OCC3D[static.label], self.config.tile_m)

    @classmethod
    def from_points(
        cls,
        points_world_m: np.ndarray,
        label: np.ndarray,
        intensity_: np.ndarray,
        scenario: Scenario,
        config: ReconstructionConfig | None = None,
    ) -> ReconstructedWorld:
        """Build from aggregated static world points (P, 3) with lidarseg general labels and intensities;
        the grid covers the log's ego path grown by ``crop_m``; agents and calibration from ``scenario``."""
        cfg = config or ReconstructionConfig()
        ego = np.array([f.world_from_ego.translation_m for f in scenario.frames])
        lo = np.r_[ego[:, :2].min(axis=0) - cfg.crop_m, ego[:, 2].mean() + cfg.z_min_m]
        shape_xy = tuple(int(v) for v in np.ceil((ego[:, :2].max(axis=0) + cfg.crop_m - lo[:2]) / cfg.voxel_size_m))
        static = StaticVoxels.from_points(points_world_m, label, intensity_, lo, shape_xy, cfg.voxel_size_m)
        return cls(static, _tracks_from_scenario(scenario), scenario.frames[0].ego_from_lidar, cfg, scenario.name)

    @classmethod
    def from_source(
        cls, source, scenario: Scenario, exclude_frames: Iterable[int] = (), config: ReconstructionConfig | None = None
    ) -> ReconstructedWorld:
        """Aggregate the log's LiDAR through ``source`` (an ``occplan.data.NuScenesSource``); keyframes
        whose ``index`` is in ``exclude_frames`` contribute no points (their boxes still do)."""
        cfg = config or ReconstructionConfig()
        skip = set(exclude_frames)
        on_road = _drivable_test(scenario, cfg.crop_m)
        pts, lab, inten, need_fallback = [], [], [], []
        for f in scenario.frames:
            if f.index in skip:
                continue
            sweep = source.lidar(f, n_sweeps=1)
            p = sweep.points
            keep = ~SensorRig().ego_box_contains(p[:, :3], margin_m=0.3)
            keep &= ~points_in_boxes(p[:, :3], f.agents, cfg.box_margin_m, cfg.motion_margin_s)
            world = f.world_from_ego.transform_points(p[keep])
            seg = source.lidarseg(f)
            if seg is None:  # labelled in the frame's own ego frame: a sloped road is no step there
                lab.append(ground_fallback_labels(p[keep, :3], cfg.ground_cell_m, cfg.ground_height_m))
            else:
                lab.append(seg[keep])
            need_fallback.append(np.full(int(keep.sum()), seg is None))
            pts.append(world)
            inten.append(p[keep, 3])
        if not pts:
            raise DataError(f"scenario {scenario.name}: no keyframe left to reconstruct the world from")
        points = np.concatenate(pts)
        label = np.concatenate(lab)
        fallback = np.concatenate(need_fallback)
        intensities = np.concatenate(inten).astype(np.float32)
        zone = ego_path_zone(
            points, scenario, VehicleParams(), cfg.ego_clearance_m, cfg.ego_top_m, cfg.ego_path_step_s,
            cfg.ego_path_margin_m,
        )  # fmt: skip
        keep = zone < 2
        points, label, fallback, zone = (a[keep] for a in (points, label, fallback, zone))
        intensities = intensities[keep]
        if on_road is not None:
            flat = np.flatnonzero(fallback & (label == _DRIVEABLE))
            label[flat[~on_road(points[flat, :2])]] = _SIDEWALK
        label[fallback & (zone == 1)] = _DRIVEABLE  # the road surface the ego drove on
        return cls.from_points(points, label, intensities, scenario, cfg)

    # --- rays ----------------------------------------------------------------------------
    def _cast(self, origins_m, directions, boxes: BoxSet, max_range_m: float):
        """(distance (N,), label (N,) uint8, instance (N,) int32, intensity (N,) float32)."""
        origins_m = np.atleast_2d(np.asarray(origins_m, np.float64))
        directions = np.asarray(directions, np.float64)
        dist, index = self.static.cast(origins_m, directions, max_range_m, self.config.min_range_m)
        hit = index >= 0
        label = np.zeros(len(dist), np.uint8)
        label[hit] = self.static.label[index[hit]]
        inten = np.zeros(len(dist), np.float32)
        inten[hit] = self.static.intensity[index[hit]]
        instance = np.full(len(dist), -1, np.int32)
        if len(boxes):
            d_box, box, _ = cast_boxes(boxes, origins_m, directions, max_range_m)
            hb = d_box < dist
            dist = np.where(hb, d_box, dist)
            label[hb] = boxes.label[box[hb]]
            instance[hb] = boxes.instance[box[hb]]
            inten[hb] = head_on_intensity(label[hb])
        return dist, label, instance, inten

    def cast_rays(
        self,
        origins_m: np.ndarray,
        directions: np.ndarray,
        time_us: int,
        max_range_m: float = 100.0,
        agents: Sequence[AgentBox] | None = None,
    ) -> RayHits:
        dist, label, instance, _ = self._cast(origins_m, directions, self._boxes(time_us, agents), max_range_m)
        return RayHits(dist.astype(np.float32), label, instance)

    def lidar_scan(self, world_from_ego: Pose, time_us: int, agents: Sequence[AgentBox] | None = None) -> LidarScan:
        """LIDAR_TOP sweep at the log's calibration: (N, 5) float32 x y z intensity ring, sensor frame."""
        world_from_lidar = world_from_ego @ self.ego_from_lidar
        origin = world_from_lidar.translation_m[None]
        dirs_world = world_from_lidar.transform_vectors(self._dirs_sensor)
        max_range = self.config.lidar.max_range_m
        dist, index = self.static.cast(origin, dirs_world, max_range, self.config.min_range_m)
        boxes = self._boxes(time_us, agents)
        d_box, box, _ = cast_boxes(boxes, origin, dirs_world, max_range, (self._sectors, world_from_lidar))
        lo, hi = self._rig.ego_box()
        points, label, instance = _sweep(
            dist, index, self.static.label, self.static.intensity, d_box, box, boxes.label, boxes.instance,
            self._dirs_sensor, self._ring, self.ego_from_lidar.matrix, lo, hi, REFLECTIVITY,
        )  # fmt: skip
        return LidarScan(points, label, instance)

    # --- ground truth --------------------------------------------------------------------
    def occupancy(
        self,
        world_from_ego: Pose,
        time_us: int,
        grid: GridSpec,
        agents: Sequence[AgentBox] | None = None,
        with_masks: bool = True,
    ) -> OccupancyFrame:
        """Occ3D semantics + flow (grid frame, m/s) at the pose; masks are not reconstructed (None)."""
        labels = LabelSet.occ3d()
        world_from_grid = world_from_ego if grid.frame == "ego" else world_from_ego @ self.ego_from_lidar
        grid_from_world = world_from_grid.inverse()
        semantics = np.full(grid.shape, labels.free_index, np.uint8)
        flow = np.zeros((*grid.shape, 2), np.float32)
        self._tiles.voxelise(grid_from_world, grid, semantics)
        voxelise_boxes(self._boxes(time_us, agents), grid_from_world, grid, semantics, flow)
        return OccupancyFrame(
            semantics, grid, labels, flow, None, None, world_from_grid, int(time_us), f"reconstructed:{self.name}"
        )
