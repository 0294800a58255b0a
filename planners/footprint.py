"""The ego box as sample points, corners and a disc cover, in the rear-axle frame.

Planned poses are rear-axle poses (x, y, yaw) in the ego frame of the planning time (nuScenes
ego_pose convention); the box centre lies ``VehicleParams.rear_axle_to_center_m`` ahead of the axle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from occplan.types import VehicleParams


@dataclass(frozen=True)
class Footprint:
    """Ego box geometry in the rear-axle frame (x forward, y left), metres.

    ``points_m`` (P, 2): a lattice covering the box (boundary included) no coarser than the spacing it
    was built with, for exact-at-grid-resolution collision tests; ``corners_m`` (4, 2) the box corners
    (front-left, rear-left, rear-right, front-right); ``disc_centers_m`` (D, 2) centres of equal discs
    of radius ``disc_radius_m`` whose union covers the box, for clearance costs.
    """

    points_m: np.ndarray
    corners_m: np.ndarray
    disc_centers_m: np.ndarray
    disc_radius_m: float

    @classmethod
    def from_vehicle(cls, vehicle: VehicleParams, spacing_m: float = 0.4, n_discs: int = 4) -> Footprint:
        half_l, half_w = vehicle.length_m / 2, vehicle.width_m / 2
        cx = vehicle.rear_axle_to_center_m
        xs = np.linspace(cx - half_l, cx + half_l, int(np.ceil(vehicle.length_m / spacing_m)) + 1)
        ys = np.linspace(-half_w, half_w, int(np.ceil(vehicle.width_m / spacing_m)) + 1)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        corners = np.array(
            [[cx + half_l, half_w], [cx - half_l, half_w], [cx - half_l, -half_w], [cx + half_l, -half_w]]
        )
        seg_m = vehicle.length_m / n_discs
        disc_x = cx - half_l + seg_m * (np.arange(n_discs) + 0.5)
        return cls(
            points_m=np.column_stack([gx.ravel(), gy.ravel()]),
            corners_m=corners,
            disc_centers_m=np.column_stack([disc_x, np.zeros(n_discs)]),
            disc_radius_m=float(np.hypot(seg_m / 2, half_w)),
        )


def place(poses: np.ndarray, local_m: np.ndarray) -> np.ndarray:
    """Place body-frame points at rear-axle poses.

    ``poses`` (..., 3) = (x_m, y_m, yaw_rad); ``local_m`` (P, 2) -> (..., P, 2) points in the poses' frame.
    """
    c = np.cos(poses[..., 2])[..., None]
    s = np.sin(poses[..., 2])[..., None]
    lx, ly = local_m[:, 0], local_m[:, 1]
    x = poses[..., 0, None] + c * lx - s * ly
    y = poses[..., 1, None] + s * lx + c * ly
    return np.stack([x, y], axis=-1)


@njit(cache=True)
def footprint_hits(
    poses: np.ndarray, local_m: np.ndarray, occupied: np.ndarray, steps: np.ndarray, min_xy_m: np.ndarray, cell_m: float
) -> np.ndarray:
    """(N, M) bool: the body points ``local_m`` (P, 2) placed at pose ``poses[n, m]`` (x, y, yaw) fall
    on a True cell of ``occupied[steps[m]]`` ((S+1, X, Y) grid with lower corner ``min_xy_m`` and cells
    of ``cell_m``). Points outside the grid never hit. Same result as ``place`` + a lookup, fused."""
    n, m_count = poses.shape[0], poses.shape[1]
    nx, ny = occupied.shape[1], occupied.shape[2]
    out = np.zeros((n, m_count), np.bool_)
    for i in range(n):
        for m in range(m_count):
            x, y, yaw = poses[i, m, 0], poses[i, m, 1], poses[i, m, 2]
            c, s = np.cos(yaw), np.sin(yaw)
            grid = occupied[steps[m]]
            for p in range(local_m.shape[0]):
                px = x + c * local_m[p, 0] - s * local_m[p, 1]
                py = y + s * local_m[p, 0] + c * local_m[p, 1]
                ix = int(np.floor((px - min_xy_m[0]) / cell_m))
                iy = int(np.floor((py - min_xy_m[1]) / cell_m))
                if 0 <= ix < nx and 0 <= iy < ny and grid[ix, iy]:
                    out[i, m] = True
                    break
    return out
