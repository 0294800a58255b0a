"""The ego footprint and box overlap: the ego box from ``VehicleParams`` (centred
``rear_axle_to_center_m`` ahead of the rear axle), box corners and the separating-axis overlap test
(numba). Every collision check of the simulator, the metrics and the planners' box tests uses these."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from occplan.types import EgoState, VehicleParams


def ego_geometry(vehicle: VehicleParams) -> np.ndarray:
    """(3,) width, length, rear-axle-to-centre distance (m): the ego box for the kernels."""
    return np.array([vehicle.width_m, vehicle.length_m, vehicle.rear_axle_to_center_m])


@nb.njit(cache=True)
def box_corners(center_xy_m: np.ndarray, size_wl_m: np.ndarray, yaw_rad: np.ndarray) -> np.ndarray:
    """(A, 2) centres, (A, 2) (width, length), (A,) yaw -> (A, 4, 2) corners, counter-clockwise from front-left."""
    out = np.empty((len(yaw_rad), 4, 2))
    for a in range(len(yaw_rad)):
        c, s = math.cos(yaw_rad[a]), math.sin(yaw_rad[a])
        hl, hw = size_wl_m[a, 1] / 2, size_wl_m[a, 0] / 2
        for k, (lx, ly) in enumerate(((hl, hw), (-hl, hw), (-hl, -hw), (hl, -hw))):
            out[a, k, 0] = center_xy_m[a, 0] + c * lx - s * ly
            out[a, k, 1] = center_xy_m[a, 1] + s * lx + c * ly
    return out


@nb.njit(cache=True)
def ego_corners_vec(ego: np.ndarray, geometry: np.ndarray) -> np.ndarray:
    """(4, 2) world-frame BEV corners of the ego box from an ego vector (rear axle -> box centre)."""
    c, s = math.cos(ego[2]), math.sin(ego[2])
    center = np.array([[ego[0] + geometry[2] * c, ego[1] + geometry[2] * s]])
    return box_corners(center, np.array([[geometry[0], geometry[1]]]), np.array([ego[2]]))[0]


def points_in_ego_box(
    points_xy_m: np.ndarray, ego: np.ndarray, geometry: np.ndarray, inset_m: float = 0.0
) -> np.ndarray:
    """(N, 2) world points -> (N,) bool: inside the ego box of the ego vector ``ego`` (rear axle x, y,
    yaw, ...) with ``ego_geometry``, shrunk by ``inset_m`` on every side (boundary included)."""
    c, s = math.cos(ego[2]), math.sin(ego[2])
    rel = points_xy_m - np.array([ego[0] + geometry[2] * c, ego[1] + geometry[2] * s])
    lon, lat = rel[:, 0] * c + rel[:, 1] * s, -rel[:, 0] * s + rel[:, 1] * c
    return (np.abs(lon) <= geometry[1] / 2 - inset_m) & (np.abs(lat) <= geometry[0] / 2 - inset_m)


def ego_corners(ego: EgoState, vehicle: VehicleParams) -> np.ndarray:
    """(4, 2) world-frame BEV corners of the ego box (rear axle state -> box centre shifted forward)."""
    return ego_corners_vec(np.array([ego.x_m, ego.y_m, ego.yaw_rad]), ego_geometry(vehicle))


@nb.njit(cache=True)
def _separated(a: np.ndarray, b: np.ndarray) -> bool:
    """True when the edge normals of convex quads ``a`` or ``b`` (4, 2) separate them."""
    for poly in (a, b):
        for k in range(2):  # two edge directions per rectangle
            nx = -(poly[k + 1, 1] - poly[k, 1])
            ny = poly[k + 1, 0] - poly[k, 0]
            a_lo, a_hi, b_lo, b_hi = np.inf, -np.inf, np.inf, -np.inf
            for c in range(4):
                pa = nx * a[c, 0] + ny * a[c, 1]
                pb = nx * b[c, 0] + ny * b[c, 1]
                a_lo, a_hi = min(a_lo, pa), max(a_hi, pa)
                b_lo, b_hi = min(b_lo, pb), max(b_hi, pb)
            if a_hi < b_lo or b_hi < a_lo:
                return True
    return False


@nb.njit(cache=True)
def boxes_overlap(corners_a: np.ndarray, corners_b: np.ndarray) -> np.ndarray:
    """Separating-axis test of one box (4, 2) against A boxes (A, 4, 2) -> (A,) bool overlap."""
    out = np.zeros(len(corners_b), np.bool_)
    for i in range(len(corners_b)):
        out[i] = not _separated(corners_a, corners_b[i])
    return out


@nb.njit(cache=True)
def ego_hits_boxes(ego: np.ndarray, geometry: np.ndarray, center_xy: np.ndarray, size_wl: np.ndarray, yaw: np.ndarray):
    """True when the ego box (ego vector, ``ego_geometry``) overlaps any of A boxes ((A, 2) centres,
    (A, 2) width/length, (A,) yaw); boxes whose bounding circle misses the ego's are skipped."""
    corners = ego_corners_vec(ego, geometry)
    cx, cy = 0.25 * corners[:, 0].sum(), 0.25 * corners[:, 1].sum()
    r_ego = 0.5 * math.hypot(geometry[0], geometry[1])
    for a in range(len(yaw)):
        reach = r_ego + 0.5 * math.hypot(size_wl[a, 0], size_wl[a, 1])
        if (center_xy[a, 0] - cx) ** 2 + (center_xy[a, 1] - cy) ** 2 > reach * reach:
            continue
        other = box_corners(center_xy[a : a + 1], size_wl[a : a + 1], yaw[a : a + 1])[0]
        if not _separated(corners, other):
            return True
    return False
