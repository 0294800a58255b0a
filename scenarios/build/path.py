"""Uniformly resampled polylines: lane centrelines, routes and sidewalk paths (world frame, metres)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True)
class Path:
    """A polyline resampled at uniform arclength.

    ``xy_m`` (L, 2) points; ``s_m`` (L,) arclength from the start; ``heading_rad`` (L,) unwrapped
    tangent direction; ``curvature_1pm`` (L,) signed curvature (left turn positive).
    """

    xy_m: np.ndarray
    s_m: np.ndarray
    heading_rad: np.ndarray
    curvature_1pm: np.ndarray

    @classmethod
    def from_points(cls, points_m: np.ndarray, step_m: float = 0.5) -> Path:
        """Resample the polyline through ``points_m`` (K, 2) at a spacing of at most ``step_m``."""
        p = np.asarray(points_m, dtype=np.float64)
        seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
        keep = np.r_[True, seg > 1e-9]
        p = p[keep]
        cum = np.r_[0.0, np.cumsum(seg[seg > 1e-9])]
        n = max(3, int(np.ceil(cum[-1] / step_m)) + 1)
        s = np.linspace(0.0, cum[-1], n)
        xy = np.column_stack([np.interp(s, cum, p[:, 0]), np.interp(s, cum, p[:, 1])])
        d = np.gradient(xy, s, axis=0, edge_order=2)
        heading = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
        kernel = np.ones(5) / 5.0
        curvature = np.convolve(np.pad(np.gradient(heading, s), 2, mode="edge"), kernel, mode="valid")
        return cls(xy, s, heading, curvature)

    @property
    def length_m(self) -> float:
        return float(self.s_m[-1])

    @property
    def step_m(self) -> float:
        return float(self.s_m[1] - self.s_m[0])

    def normals(self) -> np.ndarray:
        """(L, 2) unit left normals."""
        return np.column_stack([-np.sin(self.heading_rad), np.cos(self.heading_rad)])

    def offset_points(self, lateral_m: float | np.ndarray) -> np.ndarray:
        """(L, 2) points shifted by ``lateral_m`` (scalar or (L,)) along the left normal."""
        return self.xy_m + np.asarray(lateral_m, dtype=np.float64).reshape(-1, 1) * self.normals()

    def offset(self, lateral_m: float | np.ndarray) -> Path:
        return Path.from_points(self.offset_points(lateral_m), self.step_m)

    def reversed(self) -> Path:
        return Path.from_points(self.xy_m[::-1], self.step_m)

    def sample(self, s_m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Positions (N, 2) and headings (N,) at arclengths ``s_m`` (clamped to the path)."""
        s = np.clip(np.atleast_1d(np.asarray(s_m, dtype=np.float64)), 0.0, self.length_m)
        xy = np.column_stack([np.interp(s, self.s_m, self.xy_m[:, 0]), np.interp(s, self.s_m, self.xy_m[:, 1])])
        return xy, np.interp(s, self.s_m, self.heading_rad)

    def project(self, points_m: np.ndarray) -> np.ndarray:
        """Arclength (N,) of the nearest path sample to each point (N, 2)."""
        d2 = ((np.asarray(points_m)[:, None, :] - self.xy_m[None, :, :]) ** 2).sum(-1)
        return self.s_m[np.argmin(d2, axis=1)]

    def linestring(self) -> shapely.LineString:
        return shapely.LineString(self.xy_m)


def concatenate(paths: list[Path], step_m: float = 0.5) -> Path:
    """One path through ``paths`` in order (consecutive paths meet end to start)."""
    return Path.from_points(np.concatenate([p.xy_m for p in paths]), step_m)


def cubic_bezier(p0: np.ndarray, h0_rad: float, p3: np.ndarray, h3_rad: float, step_m: float = 0.5) -> Path:
    """G1 connector from ``p0`` leaving with heading ``h0_rad`` to ``p3`` arriving with ``h3_rad``."""
    arm = 0.4 * float(np.linalg.norm(p3 - p0))
    p1 = p0 + arm * np.array([np.cos(h0_rad), np.sin(h0_rad)])
    p2 = p3 - arm * np.array([np.cos(h3_rad), np.sin(h3_rad)])
    t = np.linspace(0.0, 1.0, 200)[:, None]
    pts = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
    return Path.from_points(pts, step_m)
