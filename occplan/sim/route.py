"""World-frame polylines the simulator measures along: the planner's map route and the expert path.

``RoutePolyline`` is a densified polyline extended straight beyond its end, with projection and the
samples ahead of a pose. ``ExpertPath`` is the logged ego path (privileged: it serves the progress
metrics and the env reward, never a non-privileged planner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError
from occplan.types import Pose


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
        """(N, 2) world points -> (arc length along the polyline (N,), unsigned distance to it (N,))."""
        p = np.asarray(xy_m, dtype=np.float64).reshape(-1, 2)
        a, d = self.xy_m[:-1], np.diff(self.xy_m, axis=0)
        seg2 = np.maximum(np.einsum("ij,ij->i", d, d), 1e-12)
        rel = p[:, None, :] - a[None]
        u = np.clip(np.einsum("nkj,kj->nk", rel, d) / seg2, 0.0, 1.0)
        dist2 = np.sum((rel - u[..., None] * d[None]) ** 2, axis=-1)
        k = np.argmin(dist2, axis=1)
        n = np.arange(len(p))
        return self.arc_m[k] + u[n, k] * np.sqrt(seg2[k]), np.sqrt(dist2[n, k])

    def ahead(self, world_from_ego: Pose, num_points: int, spacing_m: float) -> np.ndarray:
        """``num_points`` samples every ``spacing_m`` from the ego's projection, ego frame (K, 2)."""
        s0, _ = self.project(world_from_ego.translation_m[None, :2])
        s = np.minimum(s0[0] + np.arange(num_points) * spacing_m, self.arc_m[-1])
        pts = np.column_stack([np.interp(s, self.arc_m, self.xy_m[:, 0]), np.interp(s, self.arc_m, self.xy_m[:, 1])])
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
