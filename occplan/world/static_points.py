"""The static points of a real log, from which ``occplan.world.reconstructed`` builds its voxels: the
keyframes' LiDAR points in the world frame, without returns from the ego, from annotated boxes and from
the volume the ego swept, labelled by lidarseg or by the geometric fallback (the module docstring of
``occplan.world.reconstructed`` states the rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numba as nb
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation, Slerp

from occplan.errors import DataError
from occplan.rules.offroad import DrivableRaster
from occplan.types import AgentBox, Frame, LabelSet, Scenario, VehicleParams
from occplan.world.rig import LidarSpec, SensorRig

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
    ego_xy = np.array([f.world_from_ego.translation_m[:2] for f in scenario.frames])
    raster = DrivableRaster.from_wkb(scenario.map.drivable_wkb, ego_xy, crop_m)
    return lambda xy: raster.distance_outside(xy) == 0


def _keyframe_points(source, frame: Frame, cfg: ReconstructionConfig):
    """One keyframe's kept LiDAR points: world points (K, 3), lidarseg general labels (K,) uint8 (the
    geometric fallback's without lidarseg), intensities (K,) and whether the fallback labelled them (K,)."""
    p = source.lidar(frame, n_sweeps=1).points
    keep = ~SensorRig().ego_box_contains(p[:, :3], margin_m=0.3)
    keep &= ~points_in_boxes(p[:, :3], frame.agents, cfg.box_margin_m, cfg.motion_margin_s)
    world = frame.world_from_ego.transform_points(p[keep])
    seg = source.lidarseg(frame)
    if seg is None:  # labelled in the frame's own ego frame: a sloped road is no step there
        label = ground_fallback_labels(p[keep, :3], cfg.ground_cell_m, cfg.ground_height_m)
    else:
        label = seg[keep]
    return world, label, p[keep, 3], np.full(int(keep.sum()), seg is None)


def static_points(
    source, scenario: Scenario, exclude_frames: Iterable[int], cfg: ReconstructionConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The log's static points through ``source`` (an ``occplan.data.NuScenesSource``), keyframes whose
    ``index`` is in ``exclude_frames`` left out: world points (P, 3), lidarseg general labels (P,) uint8,
    intensities (P,) float32. Points the ego drove through are dropped; fallback-labelled ground outside
    the drivable area becomes sidewalk, and under the ego's path driveable surface."""
    skip = set(exclude_frames)
    on_road = _drivable_test(scenario, cfg.crop_m)
    per_frame = [_keyframe_points(source, f, cfg) for f in scenario.frames if f.index not in skip]
    if not per_frame:
        raise DataError(f"scenario {scenario.name}: no keyframe left to reconstruct the world from")
    points, label, intensities, fallback = (np.concatenate(a) for a in zip(*per_frame))
    intensities = intensities.astype(np.float32)
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
    return points, label, intensities
