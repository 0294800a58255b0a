"""``col_occ``, OccPlan's voxel check of the open-loop planning metrics: the ego box (``VehicleParams``
length, width and rear-axle-to-centre offset) rotated to the planned heading is placed in the GT
occupancy frame of the future keyframe (through the world poses); it collides when the centre of a
voxel column holding an obstacle lies inside the box footprint: an occupied non-ground voxel in the
band above the column's own ground (``occplan.rules.obstacles``, the simulator's rule; ego-frame
grids only). The logged trajectory's own check (``log_occ_collisions``) is the human reference's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from occplan.errors import ValidationError
from occplan.metrics.planning.config import PlanningMetricConfig
from occplan.metrics.planning.samples import PlanningSample
from occplan.rules.obstacles import contact_inset_m, obstacle_columns
from occplan.types import OccupancyFrame, Pose


def occ_box_collision(
    box_center_xy_m: np.ndarray, box_yaw_rad: float, occ: OccupancyFrame, grid_from_ego: Pose, cfg: PlanningMetricConfig
) -> bool:
    """True when the ego box touches a voxel column holding an obstacle (``occplan.rules.obstacles``:
    occupied, not ground, in the band above the column's ground; the contact rule of the simulator).

    ``box_center_xy_m`` / ``box_yaw_rad``: ego box centre and heading in the planning-time ego frame;
    ``grid_from_ego`` maps that frame into ``occ``'s grid frame.
    """
    grid = occ.grid
    length, width = cfg.vehicle.length_m, cfg.vehicle.width_m
    c = grid_from_ego.transform_points(np.array([[box_center_xy_m[0], box_center_xy_m[1], 0.0]]))[0]
    yaw = box_yaw_rad + grid_from_ego.yaw_rad
    half = np.hypot(length, width) / 2
    lo = np.floor((c[:2] - half - np.asarray(grid.range_min_m[:2])) / grid.voxel_size_m).astype(int)
    hi = np.floor((c[:2] + half - np.asarray(grid.range_min_m[:2])) / grid.voxel_size_m).astype(int)
    lo, hi = np.maximum(lo, 0), np.minimum(hi, np.asarray(grid.shape[:2]) - 1)
    if np.any(hi < lo):
        return False
    solid = obstacle_columns(occ.semantics[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1], occ.labels, grid.voxel_size_m)
    if not solid.any():
        return False
    ii, jj = np.nonzero(solid)
    x = grid.range_min_m[0] + (ii + lo[0] + 0.5) * grid.voxel_size_m - c[0]
    y = grid.range_min_m[1] + (jj + lo[1] + 0.5) * grid.voxel_size_m - c[1]
    cos, sin = np.cos(yaw), np.sin(yaw)
    lx, ly = x * cos + y * sin, -x * sin + y * cos
    inset = contact_inset_m(grid.voxel_size_m)
    return bool(np.any((np.abs(lx) <= length / 2 - inset) & (np.abs(ly) <= width / 2 - inset)))


def occ_collisions(sample: PlanningSample, cfg: PlanningMetricConfig) -> np.ndarray:
    """(T,) float: 1/0 voxel-level collision of the planned ego box per step, NaN without GT occupancy."""
    out = np.full(len(sample.log_valid), np.nan)
    if sample.occupancy is None:
        return out
    ahead = cfg.vehicle.rear_axle_to_center_m
    for t, occ in enumerate(sample.occupancy):
        if occ is None:
            continue
        if occ.world_from_grid is None:
            raise ValidationError(f"PlanningSample[{sample.token}].occupancy[{t}]: world_from_grid is None")
        if occ.grid.frame != "ego":  # heights above ground are read as ego-frame z
            raise ValidationError(
                f"PlanningSample[{sample.token}].occupancy[{t}]: grid {occ.grid.name} is not ego-frame"
            )
        x, y, yaw = sample.plan[t]
        centre = np.array([x + ahead * np.cos(yaw), y + ahead * np.sin(yaw)])
        grid_from_ego = occ.world_from_grid.inverse() @ sample.world_from_ego
        out[t] = float(occ_box_collision(centre, yaw, occ, grid_from_ego, cfg))
    return out


def log_occ_collisions(sample: PlanningSample, cfg: PlanningMetricConfig) -> np.ndarray:
    """(T,) float: the voxel check of the logged poses (``occ_collisions`` with the log as the plan),
    NaN where the log is invalid or without GT occupancy or logged headings."""
    valid = sample.log_valid
    if sample.occupancy is None or sample.log_yaw_rad is None:
        return np.full(len(valid), np.nan)
    poses = np.where(valid[:, None], np.column_stack([sample.log_xy_m, sample.log_yaw_rad]), 0.0)
    occupancy = tuple(o if ok else None for o, ok in zip(sample.occupancy, valid, strict=True))
    return occ_collisions(replace(sample, plan=poses, occupancy=occupancy), cfg)
