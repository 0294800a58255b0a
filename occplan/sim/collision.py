"""Ego collision checks: ego box vs agent boxes (separating axes, vectorised over agents), ego box vs
occupied non-ground voxels, and off-road (a corner of the ego box outside the drivable area)."""

from __future__ import annotations

import math

import numpy as np

from occplan.sim.drivable import DrivableRaster
from occplan.types import EgoState, LabelSet, OccupancyFrame, VehicleParams

GROUND_CLASSES = ("driveable_surface", "other_flat", "sidewalk", "terrain")


def ego_corners(ego: EgoState, vehicle: VehicleParams) -> np.ndarray:
    """(4, 2) world-frame BEV corners of the ego box (rear axle state -> box centre shifted forward)."""
    c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
    cx = ego.x_m + vehicle.rear_axle_to_center_m * c
    cy = ego.y_m + vehicle.rear_axle_to_center_m * s
    return box_corners(np.array([[cx, cy]]), np.array([[vehicle.width_m, vehicle.length_m]]), np.array([ego.yaw_rad]))[
        0
    ]


def box_corners(center_xy_m: np.ndarray, size_wl_m: np.ndarray, yaw_rad: np.ndarray) -> np.ndarray:
    """(A, 2) centres, (A, 2) (width, length), (A,) yaw -> (A, 4, 2) corners, counter-clockwise from front-left."""
    half_l, half_w = size_wl_m[:, 1:2] / 2, size_wl_m[:, 0:1] / 2
    lx = np.concatenate([half_l, -half_l, -half_l, half_l], axis=1)
    ly = np.concatenate([half_w, half_w, -half_w, -half_w], axis=1)
    c, s = np.cos(yaw_rad)[:, None], np.sin(yaw_rad)[:, None]
    return np.stack([center_xy_m[:, :1] + c * lx - s * ly, center_xy_m[:, 1:2] + s * lx + c * ly], axis=-1)


def boxes_overlap(corners_a: np.ndarray, corners_b: np.ndarray) -> np.ndarray:
    """Separating-axis test of one box (4, 2) against A boxes (A, 4, 2) -> (A,) bool overlap."""
    if len(corners_b) == 0:
        return np.zeros(0, dtype=bool)
    a = np.broadcast_to(corners_a, corners_b.shape)
    edges = np.concatenate([a[:, [1, 0]] - a[:, [0, 3]], corners_b[:, [1, 0]] - corners_b[:, [0, 3]]], axis=1)
    axes = np.stack([-edges[..., 1], edges[..., 0]], axis=-1)  # (A, 4, 2) normals
    pa = np.einsum("akd,acd->akc", axes, a)
    pb = np.einsum("akd,acd->akc", axes, corners_b)
    separated = (pa.max(-1) < pb.min(-1)) | (pb.max(-1) < pa.min(-1))
    return ~np.any(separated, axis=1)


def offroad_distance_m(ego: EgoState, vehicle: VehicleParams, drivable: DrivableRaster) -> float:
    """Largest distance (m) of an ego-box corner outside the drivable area (0 when all inside)."""
    return float(np.max(drivable.distance_outside(ego_corners(ego, vehicle))))


def nonground_table(labels: LabelSet) -> np.ndarray:
    """(num_classes,) bool: True for occupied non-ground classes (not free, not a ground class)."""
    ground = {labels.index(n) for n in GROUND_CLASSES if n in labels.class_names}
    return np.array([i != labels.free_index and i not in ground for i in range(labels.num_classes)])


def occupancy_collision(occ: OccupancyFrame, vehicle: VehicleParams, z_min_m: float, z_max_m: float) -> bool:
    """True when an occupied non-ground voxel of ``occ`` (ego-frame grid at the ego pose) overlaps
    the ego box between ``z_min_m`` and ``z_max_m`` above the ground (ego frame z = 0)."""
    g = occ.grid
    lo = np.array([vehicle.rear_axle_to_center_m - vehicle.length_m / 2, -vehicle.width_m / 2, z_min_m])
    hi = np.array([vehicle.rear_axle_to_center_m + vehicle.length_m / 2, vehicle.width_m / 2, z_max_m])
    i0 = np.clip(np.floor((lo - g.range_min_m) / g.voxel_size_m).astype(int), 0, g.shape)
    i1 = np.clip(np.ceil((hi - g.range_min_m) / g.voxel_size_m).astype(int), 0, g.shape)
    block = occ.semantics[i0[0] : i1[0], i0[1] : i1[1], i0[2] : i1[2]]
    return bool(np.any(nonground_table(occ.labels)[block]))
