"""Annotated or simulated agents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.types._check import check_array, check_finite_scalar


@dataclass(frozen=True)
class AgentBox:
    """A 3D box. The frame (ego or world) is stated by the container holding the box.

    ``size_m`` is nuScenes order (width, length, height); ``velocity_mps`` is (vx, vy) in the same
    frame as the centre (NaN-free; 0 when unknown). ``category`` is the nuScenes category name.
    """

    center_m: np.ndarray  # (3,) float64
    size_m: np.ndarray  # (3,) float64 (w, l, h)
    yaw_rad: float
    velocity_mps: np.ndarray  # (2,) float64
    category: str
    instance: str
    attributes: tuple[str, ...] = ()
    num_lidar_pts: int = -1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_array(self.center_m, "AgentBox.center_m", (3,), np.float64, finite=True)
        check_array(self.size_m, "AgentBox.size_m", (3,), np.float64, finite=True)
        check_array(self.velocity_mps, "AgentBox.velocity_mps", (2,), np.float64, finite=True)
        check_finite_scalar(self.yaw_rad, "AgentBox.yaw_rad")

    def corners_xy(self) -> np.ndarray:
        """(4, 2) BEV corners, counter-clockwise starting front-left."""
        w, length = self.size_m[0], self.size_m[1]
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        local = np.array([[length / 2, w / 2], [-length / 2, w / 2], [-length / 2, -w / 2], [length / 2, -w / 2]])
        return local @ np.array([[c, s], [-s, c]]) + self.center_m[:2]

    def contains(self, points_m: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
        """(N, 3) points in the box frame's parent -> (N,) bool, inside the box grown by margin."""
        p = np.asarray(points_m, dtype=np.float64)[:, :3] - self.center_m
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        lx = p[:, 0] * c + p[:, 1] * s
        ly = -p[:, 0] * s + p[:, 1] * c
        w, length, h = self.size_m + 2 * margin_m
        return (np.abs(lx) <= length / 2) & (np.abs(ly) <= w / 2) & (np.abs(p[:, 2]) <= h / 2)
