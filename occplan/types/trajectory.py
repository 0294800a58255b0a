"""Planned or logged trajectories."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occplan.errors import ValidationError
from occplan.types._check import check_array


@dataclass(frozen=True)
class TrajectorySampling:
    """``num_poses`` waypoints every ``interval_s`` seconds, starting one interval after now."""

    num_poses: int = 6
    interval_s: float = 0.5

    @property
    def horizon_s(self) -> float:
        return self.num_poses * self.interval_s

    @property
    def times_s(self) -> np.ndarray:
        return (np.arange(self.num_poses) + 1) * self.interval_s


@dataclass(frozen=True)
class Trajectory:
    """Waypoints (T, 3) float64 = (x_m, y_m, yaw_rad) in the ego frame of the planning time."""

    poses: np.ndarray
    sampling: TrajectorySampling = field(default_factory=TrajectorySampling)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_array(self.poses, "Trajectory.poses", (self.sampling.num_poses, 3), np.float64, finite=True)
        if self.sampling.interval_s <= 0:
            raise ValidationError("Trajectory.sampling.interval_s: must be > 0")

    @property
    def xy_m(self) -> np.ndarray:
        return self.poses[:, :2]

    @classmethod
    def from_xy(cls, xy_m: np.ndarray, sampling: TrajectorySampling | None = None) -> Trajectory:
        """Waypoints from (T, 2) positions; yaw from the direction of travel (0 for the first if still)."""
        xy = np.asarray(xy_m, dtype=np.float64)
        prev = np.vstack([np.zeros((1, 2)), xy[:-1]])
        d = xy - prev
        yaw = np.arctan2(d[:, 1], d[:, 0])
        still = np.hypot(d[:, 0], d[:, 1]) < 1e-3
        for i in np.flatnonzero(still):
            yaw[i] = yaw[i - 1] if i > 0 else 0.0
        return cls(np.column_stack([xy, yaw]), sampling or TrajectorySampling(num_poses=len(xy)))
