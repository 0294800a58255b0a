"""RayIoU (SparseOcc protocol), flow mAVE (CVPR2024 OpenOcc, TP rays at 2 m) and the Occ score.

Exactly as SparseOcc ``loaders/ray_metrics.py`` + ``lib/dvr/dvr.cu`` (reference §3):

* origins: LiDAR positions of the scene's keyframes (past and future, the sample itself included)
  in the sample's LiDAR frame rounded to float32 (``loaders/ego_pose_dataset.py``), then in its ego
  frame, kept if ``|x|, |y| < 39`` m, at most 8 by ``round(linspace)``;
* 39 pitches x 360 azimuths = 14,040 float32 unit directions per origin;
* origin and end point (origin + direction) in voxel units
  ``float32((p - range_min) / float64(float32(voxel)))`` (SparseOcc divides a float64 origin by a
  float32 tensor);
* Amanatides-Woo traversal in double from the float32 voxel coordinates, start voxel by ``int()``
  truncation, ties to Z over X and Y and to Y over X, at most 1000 steps; the depth is the **exit**
  distance of the first occupied voxel (``label < free`` or ``label > free``), else of the last
  in-grid voxel; a ray that never enters the grid gets depth -1 and voxel (0, 0, 0);
* metres ``float32(depth) * float32(voxel)``; label (and flow) read at the hit voxel;
* rays whose GT label is free are dropped; TP at threshold t = same class and
  ``|d_pred - d_gt| < t`` (float32); counts are global; IoU over classes without free;
  RayIoU@t = nanmean over classes; RayIoU = nanmean over the (3, C) array.

The fast kernel runs numba-parallel over rays and stops at the first hit; ``trace_reference`` is
the reference-style single-thread traversal that records the whole path like the CUDA kernel and
then searches it (also callable as plain Python through ``.py_func``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cache

import numba
import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import Metric
from occplan.types import GridSpec, LabelSet, Pose, Scenario
from occplan.types._check import check_array

THRESHOLDS_M = (1.0, 2.0, 4.0)
MAX_ORIGINS = 8
ORIGIN_RANGE_XY_M = 39.0
MAX_STEP = 1000
FLOW_CLASSES = ("car", "truck", "trailer", "bus", "construction_vehicle", "bicycle", "motorcycle", "pedestrian")
_DBL_MAX = np.finfo(np.float64).max


# --- rays -----------------------------------------------------------------------------------
@cache
def _directions() -> np.ndarray:
    pitch = [-(math.pi / 2 - math.atan(k + 1)) for k in range(10)]
    while pitch[-1] < 0.21:
        pitch.append(pitch[-1] + (pitch[-1] - pitch[-2]))
    p = np.asarray(pitch, dtype=np.float64)[:, None]
    a = np.deg2rad(np.arange(0, 360, 1))[None, :]
    dirs = np.stack([np.cos(p) * np.cos(a), np.cos(p) * np.sin(a), np.broadcast_to(np.sin(p), (len(pitch), 360))], -1)
    out = dirs.reshape(-1, 3).astype(np.float32)
    out.flags.writeable = False
    return out


def lidar_ray_directions() -> np.ndarray:
    """(14040, 3) float32 unit directions (39 pitches x 360 azimuths, pitch-major), SparseOcc §3.3."""
    return _directions()


def rayiou_origins(
    world_from_ego_ref: Pose,
    ego_from_lidar_ref: Pose,
    lidar_world_positions_m: np.ndarray,
    ref_index: int | None = None,
    max_origins: int = MAX_ORIGINS,
    range_xy_m: float = ORIGIN_RANGE_XY_M,
) -> np.ndarray:
    """Ray origins (T, 3) float64 in the reference sample's ego frame (SparseOcc ``EgoPoseDataset``).

    ``lidar_world_positions_m`` (K, 3): world positions of the LiDAR at every keyframe of the
    scene, in time order; ``ref_index`` marks the reference keyframe, whose origin is exactly the
    LiDAR mounting point (0 in its own LiDAR frame), as in the reference. As the reference does, each
    keyframe's position in the reference LiDAR frame (translation of ``inv(world_from_ego @
    ego_from_lidar) . world_from_lidar_k``) is rounded to float32, then padded with 1 and mapped to
    the ego frame by the (3, 4) float64 ``ego_from_lidar`` matrix, one keyframe at a time.
    """
    pos = check_array(np.asarray(lidar_world_positions_m, dtype=np.float64), "lidar_world_positions_m", (None, 3))
    lidar_from_world = np.linalg.inv(world_from_ego_ref.matrix @ ego_from_lidar_ref.matrix)
    homogeneous = np.column_stack([pos, np.ones(len(pos))])
    in_lidar = (homogeneous @ lidar_from_world[:3].T).astype(np.float32)
    if ref_index is not None:
        in_lidar[ref_index] = 0.0
    ego_from_lidar = ego_from_lidar_ref.matrix[:3]
    padded = np.ones(4)
    origins = np.empty((len(pos), 3))
    for k, p in enumerate(in_lidar):
        padded[:3] = p
        origins[k] = np.dot(ego_from_lidar, padded)
    keep = (np.abs(origins[:, 0]) < range_xy_m) & (np.abs(origins[:, 1]) < range_xy_m)
    origins = origins[keep]
    if len(origins) > max_origins:
        origins = origins[np.round(np.linspace(0, len(origins) - 1, max_origins)).astype(np.int64)]
    return origins


def scenario_rayiou_origins(scenario: Scenario, index: int) -> np.ndarray:
    """``rayiou_origins`` for keyframe ``index`` of ``scenario`` (frames carry the poses)."""
    frames = scenario.frames
    pos = np.stack([(f.world_from_ego @ f.ego_from_lidar).translation_m for f in frames])
    ref = frames[index]
    return rayiou_origins(ref.world_from_ego, ref.ego_from_lidar, pos, ref_index=index)


def _scale(grid: GridSpec) -> np.float64:
    return np.float64(np.float32(grid.voxel_size_m))


def to_voxel_units(points_m: np.ndarray, grid: GridSpec) -> np.ndarray:
    """(..., 3) metric points (float64) -> float32 voxel coordinates, rounded as the reference
    (float64 points minus a float32 offset, divided by the float32 voxel size, then float32)."""
    offset = np.asarray(grid.range_min_m, dtype=np.float32).astype(np.float64)
    return ((np.asarray(points_m, dtype=np.float64) - offset) / _scale(grid)).astype(np.float32)


# --- traversal ------------------------------------------------------------------------------
@numba.njit(cache=True)
def _axis_setup(o: float, d: float):
    """Start voxel, step, tMax and tDelta along one axis (dvr.cu): DBL_MAX when d == 0."""
    v = int(o)
    s = 1 if d >= 0 else -1
    if d == 0:
        return v, s, _DBL_MAX, _DBL_MAX
    bound = v + 1 if s > 0 else v
    return v, s, (bound - o) / d, s / d


@numba.njit(cache=True)
def _setup(o0, o1, o2, e0, e1, e2):
    """Ray from a float32 voxel-unit origin through a float32 end point, in double (dvr.cu)."""
    ox, oy, oz = float(o0), float(o1), float(o2)
    rx, ry, rz = float(e0) - ox, float(e1) - oy, float(e2) - oz
    norm = math.sqrt(rx * rx + ry * ry + rz * rz)
    x, sx, tx, dx = _axis_setup(ox, rx / norm)
    y, sy, ty, dy = _axis_setup(oy, ry / norm)
    z, sz, tz, dz = _axis_setup(oz, rz / norm)
    return x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz


@numba.njit(cache=True)
def _choose(tx: float, ty: float, tz: float) -> int:
    """Axis of the next step with the dvr.cu tie rules: Z over X and Y, Y over X."""
    if tx < ty and tx < tz:
        return 0
    if tx < ty:
        return 2
    if ty < tz:
        return 1
    return 2


@numba.njit(cache=True)
def _voxel_units(p, offset, scale):
    return np.float32((p - offset) / scale)


@numba.njit(cache=True, nogil=True)
def _walk(occ_bits, all_bits, nx, ny, nz, x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz):
    """Walk one ray (the ``_setup`` values) through one or two grids at once; see ``_trace_fast``.
    Returns (depth, flat index) of grid 0 and of grid 1."""
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
    todo = all_bits
    idx = (x * ny + y) * nz + z
    step_x, step_y = sx * ny * nz, sy * nz
    # voxels left along each axis before the walk leaves the grid
    left_x = nx - x if sx > 0 else x + 1
    left_y = ny - y if sy > 0 else y + 1
    left_z = nz - z if sz > 0 else z + 1
    while steps < MAX_STEP:
        hit = occ_bits[idx] & todo
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


@numba.njit(cache=True, parallel=True, nogil=True)
def _trace_fast(occ_bits, n_grids, shape, origins_m, dirs, offset, scale, dist_out, index_out) -> None:
    """Cast every (origin, direction) ray through one or two grids at once (prediction and GT).

    occ_bits (X*Y*Z,) uint8, bit g set where grid g is occupied; origins_m (T, 3) float64 metres;
    dirs (R, 3) float32; offset (3,) and scale: voxel-unit conversion (``to_voxel_units``). Writes
    dist_out (G, T, R) float32 exit depths in voxel units and index_out (G, T, R) int32 flat voxel
    indices ``(x * Y + y) * Z + z``. One walk serves both grids and stops once both have been hit;
    it visits exactly the voxels of the reference walk (``trace_reference``) with the same tie
    rules (written out inline), counting the voxels left per axis instead of testing bounds. A ray
    that never enters the grid keeps depth -1 and index 0.
    """
    nx, ny, nz = shape[0], shape[1], shape[2]
    n_t, n_r = origins_m.shape[0], dirs.shape[0]
    all_bits = (1 << n_grids) - 1
    for i in numba.prange(n_t * n_r):
        t = i // n_r
        r = i - t * n_r
        x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz = _setup(
            _voxel_units(origins_m[t, 0], offset[0], scale),
            _voxel_units(origins_m[t, 1], offset[1], scale),
            _voxel_units(origins_m[t, 2], offset[2], scale),
            _voxel_units(origins_m[t, 0] + np.float64(dirs[r, 0]), offset[0], scale),
            _voxel_units(origins_m[t, 1] + np.float64(dirs[r, 1]), offset[1], scale),
            _voxel_units(origins_m[t, 2] + np.float64(dirs[r, 2]), offset[2], scale),
        )
        d0, i0, d1, i1 = _walk(occ_bits, all_bits, nx, ny, nz, x, y, z, sx, sy, sz, tx, ty, tz, dx, dy, dz)
        dist_out[0, t, r] = d0
        index_out[0, t, r] = i0
        if n_grids > 1:
            dist_out[1, t, r] = d1
            index_out[1, t, r] = i1


@numba.njit(cache=True)
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


@numba.njit(cache=True)
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
    """Per-ray results of one grid for T origins x R rays, flattened origin-major to N = T*R.

    ``label`` (N,) uint8 label at the hit voxel; ``dist_m`` (N,) float32 exit distance of the hit
    voxel in metres (-0.4 for a ray that never enters the grid); ``voxel_index`` (N,) int32 flat
    index ``(x * Y + y) * Z + z`` of the hit voxel (0 for a ray that never enters); ``flow`` (N, 2)
    float32 flow at the hit voxel or None; ``shape`` the grid shape.
    """

    label: np.ndarray
    dist_m: np.ndarray
    voxel_index: np.ndarray
    shape: tuple[int, int, int]
    flow: np.ndarray | None = None

    @property
    def voxel(self) -> np.ndarray:
        """(N, 3) int64 hit voxel [x, y, z]."""
        return np.stack(np.unravel_index(self.voxel_index, self.shape), axis=1)


def cast_rays(
    semantics: list[np.ndarray],
    origins_m: np.ndarray,
    grid: GridSpec,
    labels: LabelSet,
    flows: list[np.ndarray | None] | None = None,
    directions: np.ndarray | None = None,
) -> list[RayRecords]:
    """Cast rays from each origin (T, 3) (grid frame, metres) through one or two (X, Y, Z) uint8
    semantics grids (GT and prediction: same rays, one parallel walk) -> one RayRecords per grid.

    ``flows`` optionally gives each grid's (X, Y, Z, 2) float32 flow; ``directions`` (R, 3) float32
    unit vectors default to the 14,040 ``lidar_ray_directions``."""
    origins = check_array(np.asarray(origins_m, dtype=np.float64), "ray origins_m", (None, 3), finite=True)
    if len(origins) == 0:
        raise ValidationError("ray origins_m: no origin (need at least one)")
    if not 1 <= len(semantics) <= 2:
        raise ValidationError(f"cast_rays: 1 or 2 grids per call, got {len(semantics)}")
    flows = flows if flows is not None else [None] * len(semantics)
    occ_bits = np.zeros(grid.num_voxels, dtype=np.uint8)
    for g, (sem, flow) in enumerate(zip(semantics, flows, strict=True)):
        check_array(sem, f"semantics[{g}]", grid.shape, np.uint8)
        labels.validate(sem, f"semantics[{g}]")
        if flow is not None:
            check_array(flow, f"flow[{g}]", (*grid.shape, 2), np.float32, finite=True)
        occ_bits |= (sem.reshape(-1) != labels.free_index).view(np.uint8) << np.uint8(g)
    dirs = (
        lidar_ray_directions() if directions is None else check_array(directions, "directions", (None, 3), np.float32)
    )
    n = len(origins) * len(dirs)
    dist_v = np.empty((len(semantics), len(origins), len(dirs)), dtype=np.float32)
    index = np.empty(dist_v.shape, dtype=np.int32)
    offset = np.asarray(grid.range_min_m, dtype=np.float32).astype(np.float64)
    shape = np.asarray(grid.shape, dtype=np.int64)
    _trace_fast(occ_bits, len(semantics), shape, origins, dirs, offset, _scale(grid), dist_v, index)
    scale = np.float32(grid.voxel_size_m)
    out = []
    for g, (sem, flow) in enumerate(zip(semantics, flows, strict=True)):
        idx = index[g].reshape(n)
        rec_flow = None if flow is None else flow.reshape(-1, 2)[idx]
        out.append(RayRecords(sem.reshape(-1)[idx], dist_v[g].reshape(n) * scale, idx, grid.shape, rec_flow))
    return out


@numba.njit(cache=True, nogil=True)
def _count_rays(gt_label, pred_label, gt_dist, pred_dist, thresholds, free, gt_count, pred_count, tp_count) -> None:
    """SparseOcc ``calc_rayiou`` counts of one sample, added in place: rays with GT label free are
    dropped; TP at threshold t = same label and float32 ``|d_pred - d_gt| < t``."""
    for i in range(gt_label.size):
        g = gt_label[i]
        if g == free:
            continue
        p = pred_label[i]
        gt_count[g] += 1
        pred_count[p] += 1
        if g == p:
            err = abs(pred_dist[i] - gt_dist[i])
            for j in range(thresholds.size):
                if err < thresholds[j]:
                    tp_count[j, g] += 1


# --- metric ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RayIoUConfig:
    """Grid, label set and thresholds; ``flow_classes`` by name (OpenOcc CVPR2024 list)."""

    grid: GridSpec = field(default_factory=GridSpec.occ3d_nuscenes)
    labels: LabelSet = field(default_factory=LabelSet.occ3d)
    thresholds_m: tuple[float, ...] = THRESHOLDS_M
    flow_classes: tuple[str, ...] = FLOW_CLASSES
    flow_threshold_m: float = 2.0

    def __post_init__(self) -> None:
        if self.labels.free_index is None:
            raise ValidationError(f"RayIoUConfig.labels: label set {self.labels.name} has no free class")
        if self.flow_threshold_m not in self.thresholds_m:
            raise ValidationError("RayIoUConfig.flow_threshold_m: must be one of thresholds_m")
        for name in self.flow_classes:
            self.labels.index(name)


class RayIoUMetric(Metric):
    """Streaming ``occ/rayiou``, ``occ/rayiou@{1,2,4}m``, ``occ/rayiou/<class>`` (mean over thresholds),
    and, once flow was given, ``flow/mave``, ``flow/ave/<class>`` and ``occ/score``.

    ``update((gt_semantics, pred_semantics, origins_m[, gt_flow, pred_flow]))``.
    """

    def __init__(self, config: RayIoUConfig | None = None) -> None:
        self.config = config or RayIoUConfig()
        self.reset()

    def reset(self) -> None:
        c, n_t = self.config.labels.num_classes, len(self.config.thresholds_m)
        self.gt_count = np.zeros(c, dtype=np.int64)
        self.pred_count = np.zeros(c, dtype=np.int64)
        self.tp_count = np.zeros((n_t, c), dtype=np.int64)
        self.flow_error_sum = np.zeros(c, dtype=np.float64)
        self.flow_count = np.zeros(c, dtype=np.int64)
        self.n_samples = 0
        self.has_flow = False

    def update(self, record: tuple) -> None:
        gt, pred, origins_m, *flows = record
        gt_flow, pred_flow = [*flows, None, None][:2]
        self.update_arrays(gt, pred, origins_m, gt_flow, pred_flow)

    def update_arrays(
        self,
        gt_semantics: np.ndarray,
        pred_semantics: np.ndarray,
        origins_m: np.ndarray,
        gt_flow: np.ndarray | None = None,
        pred_flow: np.ndarray | None = None,
    ) -> tuple[RayRecords, RayRecords]:
        """Cast, accumulate one sample, and return its (GT, prediction) per-ray records."""
        if (gt_flow is None) != (pred_flow is None):
            raise ValidationError("RayIoUMetric: give both gt_flow and pred_flow, or neither")
        cfg = self.config
        gt_rec, pred_rec = cast_rays(
            [gt_semantics, pred_semantics], origins_m, cfg.grid, cfg.labels, [gt_flow, pred_flow]
        )
        self.add_records(gt_rec, pred_rec)
        return gt_rec, pred_rec

    def add_records(self, gt: RayRecords, pred: RayRecords) -> None:
        """Accumulate precomputed per-ray records of one sample (same origins and rays)."""
        cfg = self.config
        for name, rec in (("GT", gt), ("prediction", pred)):
            check_array(rec.label, f"{name} ray labels", (len(gt.label),), np.uint8)
            check_array(rec.dist_m, f"{name} ray depths", (len(gt.label),), np.float32)
            cfg.labels.validate(rec.label, f"{name} ray labels")
        thresholds = np.asarray(cfg.thresholds_m, dtype=np.float32)
        _count_rays(
            gt.label, pred.label, gt.dist_m, pred.dist_m, thresholds, cfg.labels.free_index,
            self.gt_count, self.pred_count, self.tp_count,
        )  # fmt: skip
        if gt.flow is not None and pred.flow is not None:
            self.has_flow = True
            c = cfg.labels.num_classes
            j = cfg.thresholds_m.index(cfg.flow_threshold_m)
            tp = (gt.label != cfg.labels.free_index) & (gt.label == pred.label)
            tp &= np.abs(pred.dist_m - gt.dist_m) < thresholds[j]
            err = np.linalg.norm(gt.flow[tp] - pred.flow[tp], axis=1)
            self.flow_error_sum += np.bincount(gt.label[tp], weights=err, minlength=c)[:c]
            self.flow_count += np.bincount(gt.label[tp], minlength=c)[:c]
        self.n_samples += 1

    def iou(self) -> np.ndarray:
        """(n_thresholds, C - 1) IoU fractions, classes without free (NaN where no GT and no pred ray)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = self.tp_count / (self.gt_count + self.pred_count - self.tp_count)
        return np.delete(iou, self.config.labels.free_index, axis=1)

    def compute(self) -> dict[str, float]:
        cfg = self.config
        iou = self.iou()
        finite = np.isfinite(iou).any()
        out = {"occ/rayiou": float(np.nanmean(iou) * 100) if finite else float("nan")}
        for j, thr in enumerate(cfg.thresholds_m):
            out[f"occ/rayiou@{thr:g}m"] = float(np.nanmean(iou[j]) * 100) if finite else float("nan")
        names = [n for i, n in enumerate(cfg.labels.class_names) if i != cfg.labels.free_index]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: class never seen
            per_class = np.nanmean(iou, axis=0)
        for name, v in zip(names, per_class, strict=True):
            out[f"occ/rayiou/{name}"] = float(v * 100)
        if self.has_flow:
            idx = [cfg.labels.index(n) for n in cfg.flow_classes]
            with np.errstate(divide="ignore", invalid="ignore"):
                ave = self.flow_error_sum[idx] / self.flow_count[idx]
            mave = float(np.nanmean(ave)) if np.isfinite(ave).any() else float("nan")
            out["flow/mave"] = mave
            for name, v in zip(cfg.flow_classes, ave, strict=True):
                out[f"flow/ave/{name}"] = float(v)
            out["occ/score"] = occ_score(out["occ/rayiou"] / 100, mave) * 100
        out["occ/rayiou_n_samples"] = float(self.n_samples)
        return out

    def state(self) -> dict:
        """JSON-able accumulator state; ``merge_state`` of another instance adds it (scale-out, resume)."""
        return {
            "gt_count": self.gt_count.tolist(),
            "pred_count": self.pred_count.tolist(),
            "tp_count": self.tp_count.tolist(),
            "flow_error_sum": self.flow_error_sum.tolist(),
            "flow_count": self.flow_count.tolist(),
            "n_samples": self.n_samples,
            "has_flow": self.has_flow,
        }

    def merge_state(self, state: dict) -> None:
        """Add a ``state()`` of an instance with the same label set and thresholds."""
        tp = np.asarray(state["tp_count"], dtype=np.int64)
        if tp.shape != self.tp_count.shape:
            raise ValidationError(f"RayIoUMetric.merge_state: tp_count shape {tp.shape} != {self.tp_count.shape}")
        self.gt_count += np.asarray(state["gt_count"], dtype=np.int64)
        self.pred_count += np.asarray(state["pred_count"], dtype=np.int64)
        self.tp_count += tp
        self.flow_error_sum += np.asarray(state["flow_error_sum"], dtype=np.float64)
        self.flow_count += np.asarray(state["flow_count"], dtype=np.int64)
        self.n_samples += int(state["n_samples"])
        self.has_flow = self.has_flow or bool(state["has_flow"])


def occ_score(rayiou: float, mave: float) -> float:
    """CVPR2024 OccScore = 0.9 RayIoU + 0.1 max(1 - mAVE, 0) (RayIoU as a fraction)."""
    return 0.9 * rayiou + 0.1 * max(1.0 - mave, 0.0)
