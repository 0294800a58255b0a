"""World-frame polylines the simulator measures along: the planner's map route and the expert path.

``RoutePolyline`` is a densified polyline extended straight beyond its end, with projection and the
samples ahead of a pose. ``ExpertPath`` is the logged ego path (privileged: it serves the progress
metrics and the env reward, never a non-privileged planner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from occplan.errors import ValidationError
from occplan.types import Pose


@nb.njit(cache=True)
def _project(points, xy, arc):  # pragma: no cover - compiled
    """``RoutePolyline.project`` of points (N, 2) onto the polyline ``xy`` (K, 2) with arc lengths (K,)."""
    n = points.shape[0]
    s_out, d_out = np.empty(n), np.empty(n)
    for i in range(n):
        best, best_u, best_k = np.inf, 0.0, 0
        for k in range(xy.shape[0] - 1):
            dx, dy = xy[k + 1, 0] - xy[k, 0], xy[k + 1, 1] - xy[k, 1]
            seg2 = max(dx * dx + dy * dy, 1e-12)
            rx, ry = points[i, 0] - xy[k, 0], points[i, 1] - xy[k, 1]
            u = min(max((rx * dx + ry * dy) / seg2, 0.0), 1.0)
            ex, ey = rx - u * dx, ry - u * dy
            dist2 = ex * ex + ey * ey
            if dist2 < best:
                best, best_u, best_k = dist2, u, k
        dx, dy = xy[best_k + 1, 0] - xy[best_k, 0], xy[best_k + 1, 1] - xy[best_k, 1]
        s_out[i] = arc[best_k] + best_u * np.sqrt(max(dx * dx + dy * dy, 1e-12))
        d_out[i] = np.sqrt(best)
    return s_out, d_out


@nb.njit(cache=True)
def _ahead(xy_m, num_points, spacing_m, xy, arc):  # pragma: no cover - compiled
    """World points (num_points, 2) every ``spacing_m`` along the polyline from the projection of
    ``xy_m`` (2,), held at the polyline's end."""
    s0, _ = _project(xy_m.reshape(1, 2), xy, arc)
    s = np.minimum(s0[0] + np.arange(num_points) * spacing_m, arc[-1])
    out = np.empty((num_points, 2))
    out[:, 0] = np.interp(s, arc, xy[:, 0])
    out[:, 1] = np.interp(s, arc, xy[:, 1])
    return out


@dataclass(frozen=True)
class RoutePolyline:
    """World-frame polyline ``xy_m`` (K, 2) with cumulative ``arc_m`` (K,); ``length_m`` is the length
    of the given points (the rest is the straight extension)."""

    xy_m: np.ndarray
    arc_m: np.ndarray
    length_m: float

    @classmethod
    def from_points(cls, xy_m: np.ndarray, spacing_m: float = 1.0, extension_m: float = 80.0, what: str = "route"):
        """Densify positions (N >= 2, 2) every ``spacing_m`` and extend the last heading by ``extension_m``."""
        xy = np.asarray(xy_m, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) < 2:
            raise ValidationError(f"{cls.__name__} ({what}): expected (N >= 2, 2) positions, got {xy.shape}")
        step = np.hypot(*np.diff(xy, axis=0).T)
        xy = xy[np.concatenate([[True], step > 1e-3])]
        if len(xy) < 2:  # standing still: a short stub along nothing in particular
            xy = np.vstack([xy[:1], xy[:1] + np.array([1e-3, 0.0])])
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        length = float(arc[-1])
        direction = (xy[-1] - xy[-2]) / max(arc[-1] - arc[-2], 1e-9)
        arc_ext = np.concatenate([arc, [length + extension_m]])
        xy_ext = np.vstack([xy, xy[-1] + direction * extension_m])
        samples = np.arange(0.0, arc_ext[-1] + 1e-9, spacing_m)
        dense = np.column_stack([np.interp(samples, arc_ext, xy_ext[:, 0]), np.interp(samples, arc_ext, xy_ext[:, 1])])
        return cls(dense, samples, length)

    def project(self, xy_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) world points -> (arc length along the polyline (N,), unsigned distance to it (N,)):
        the nearest point over every segment (the first segment on ties)."""
        p = np.ascontiguousarray(np.asarray(xy_m, dtype=np.float64).reshape(-1, 2))
        return _project(p, self.xy_m, self.arc_m)

    def ahead(self, world_from_ego: Pose, num_points: int, spacing_m: float) -> np.ndarray:
        """``num_points`` samples every ``spacing_m`` from the ego's projection, ego frame (K, 2)."""
        pts = _ahead(world_from_ego.translation_m[:2], num_points, float(spacing_m), self.xy_m, self.arc_m)
        rot = world_from_ego.rotation[:2, :2]
        return (pts - world_from_ego.translation_m[:2]) @ rot


@dataclass(frozen=True)
class ExpertPath(RoutePolyline):
    """The expert's logged path (privileged): the progress metrics and the env reward measure along it."""

    @classmethod
    def from_log(cls, log_xy_m: np.ndarray, spacing_m: float = 1.0, extension_m: float = 80.0) -> ExpertPath:
        """Densify the logged positions (N, 2) every ``spacing_m`` and extend the last heading."""
        return cls.from_points(log_xy_m, spacing_m, extension_m, what="logged ego path")

    @property
    def expert_length_m(self) -> float:
        """Length of the logged part."""
        return self.length_m
