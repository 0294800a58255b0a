"""A route centreline as an arc-length parametrised path (ego frame), with projection and offsets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from occplan.types import wrap_angle


@dataclass(frozen=True)
class Path:
    """A densely resampled polyline: ``xy_m`` (M, 2), arc length ``s_m`` (M,) increasing from the first
    point, heading ``yaw_rad`` (M,) and signed curvature ``curvature_1pm`` (M,) (1/m, left positive).
    Queries beyond either end extrapolate along the end headings."""

    xy_m: np.ndarray
    s_m: np.ndarray
    yaw_rad: np.ndarray
    curvature_1pm: np.ndarray

    @classmethod
    def from_polyline(
        cls, xy_m: np.ndarray, spacing_m: float = 0.5, extend_back_m: float = 10.0, extend_front_m: float = 60.0
    ) -> Path | None:
        """Resample ``xy_m`` (K, 2) every ``spacing_m`` and extend it straight by the given lengths at each
        end. Returns None when the polyline has less than 0.5 m of length (no usable route)."""
        pts = np.asarray(xy_m, dtype=np.float64).reshape(-1, 2)
        if len(pts) >= 2:
            keep = np.concatenate([[True], np.hypot(*np.diff(pts, axis=0).T) > 1e-6])
            pts = pts[keep]
        if len(pts) < 2:
            return None
        seg = np.hypot(*np.diff(pts, axis=0).T)
        if seg.sum() < 0.5:
            return None
        d0 = (pts[1] - pts[0]) / seg[0]
        d1 = (pts[-1] - pts[-2]) / seg[-1]
        pts = np.vstack([pts[0] - extend_back_m * d0, pts, pts[-1] + extend_front_m * d1])
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
        s_new = np.arange(0.0, s[-1] + 1e-9, spacing_m)
        xy = np.column_stack([np.interp(s_new, s, pts[:, 0]), np.interp(s_new, s, pts[:, 1])])
        d = np.gradient(xy, s_new, axis=0)
        yaw = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
        curv = np.gradient(yaw, s_new)
        return cls(xy, s_new, yaw, curv)

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    def project(self, points_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 2) points -> arc length (...,) and signed lateral offset (...,) (left positive), from the
        nearest resampled point refined along its tangent."""
        p = np.asarray(points_m, dtype=np.float64)
        flat = p.reshape(-1, 2)
        _, i = cKDTree(self.xy_m).query(flat)
        rel = flat - self.xy_m[i]
        c, s = np.cos(self.yaw_rad[i]), np.sin(self.yaw_rad[i])
        along = self.s_m[i] + rel[:, 0] * c + rel[:, 1] * s
        lateral = -rel[:, 0] * s + rel[:, 1] * c
        return along.reshape(p.shape[:-1]), lateral.reshape(p.shape[:-1])

    def curve_speed_cap_mps(self, travel_m: np.ndarray, max_lat_accel_mps2: float) -> np.ndarray:
        """(J,) speed at which the path's curvature at ``travel_m`` (J,) ahead of the origin's projection
        (the ego, in an ego-frame path) gives ``max_lat_accel_mps2`` of lateral acceleration."""
        s0, _ = self.project(np.zeros((1, 2)))
        kappa = np.abs(np.interp(s0[0] + np.asarray(travel_m), self.s_m, self.curvature_1pm))
        return np.sqrt(max_lat_accel_mps2 / np.maximum(kappa, 1e-6))

    def sample(self, s_m: np.ndarray, lateral_m: np.ndarray | float = 0.0) -> np.ndarray:
        """Poses (..., 3) = (x, y, yaw) at arc lengths ``s_m`` (...,), shifted by ``lateral_m`` (broadcast,
        left positive) along the normal. Heading follows the centreline (the lateral shift's own slope is
        added by ``offset_poses``)."""
        s, lat = np.broadcast_arrays(np.asarray(s_m, dtype=np.float64), np.asarray(lateral_m, dtype=np.float64))
        sc = np.clip(s, self.s_m[0], self.s_m[-1])
        x = np.interp(sc, self.s_m, self.xy_m[:, 0])
        y = np.interp(sc, self.s_m, self.xy_m[:, 1])
        yaw = np.interp(sc, self.s_m, self.yaw_rad)
        beyond = s - sc  # linear extrapolation past the ends
        c, sn = np.cos(yaw), np.sin(yaw)
        return np.stack([x + beyond * c - lat * sn, y + beyond * sn + lat * c, wrap_angle(yaw)], axis=-1)

    def offset_poses(self, s_m: np.ndarray, lateral_m: np.ndarray, dlateral_ds: np.ndarray) -> np.ndarray:
        """Like ``sample`` with the heading corrected by the slope ``dlateral_ds`` of the lateral profile."""
        poses = self.sample(s_m, lateral_m)
        poses[..., 2] = wrap_angle(poses[..., 2] + np.arctan(dlateral_ds))
        return poses


def blend_lateral(s_rel_m: np.ndarray, start_m: float, target_m: np.ndarray, length_m: float) -> tuple:
    """Smooth lateral transition from ``start_m`` to ``target_m`` over ``length_m`` of travel (cubic
    smoothstep). ``s_rel_m`` (..., T) travel since now; ``target_m`` broadcastable to it. Returns the
    lateral offset and its slope d(lateral)/ds, both (..., T)."""
    u = np.clip(np.asarray(s_rel_m) / length_m, 0.0, 1.0)
    h = u * u * (3 - 2 * u)
    dh = np.where((u > 0) & (u < 1), 6 * u * (1 - u) / length_m, 0.0)
    delta = np.asarray(target_m) - start_m
    return start_m + delta * h, delta * dh
