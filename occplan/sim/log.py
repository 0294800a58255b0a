"""The logged ego motion of a scenario, interpolated at any time (world frame, rear axle)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError
from occplan.types import EgoState, Pose, Scenario, Trajectory, TrajectorySampling, wrap_angle


@dataclass(frozen=True)
class LogTrack:
    """Logged ego poses: ``times_us`` (K,) int64 increasing, ``xy_m`` (K, 2), ``z_m`` (K,), ``yaw_rad``
    (K,) unwrapped, ``speed_mps`` (K,) from finite differences of the positions."""

    times_us: np.ndarray
    xy_m: np.ndarray
    z_m: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> LogTrack:
        if len(scenario.frames) < 2:
            raise ValidationError(f"scenario {scenario.name}: needs at least 2 keyframes, has {len(scenario.frames)}")
        t = np.array([f.time_us for f in scenario.frames], dtype=np.int64)
        if np.any(np.diff(t) <= 0):
            raise ValidationError(f"scenario {scenario.name}: Frame.time_us not strictly increasing")
        xyz = np.array([f.world_from_ego.translation_m for f in scenario.frames])
        xy = xyz[:, :2]
        yaw = np.unwrap(np.array([f.world_from_ego.yaw_rad for f in scenario.frames]))
        ts = t * 1e-6
        speed = np.hypot(*np.gradient(xy, ts, axis=0).T)
        return cls(t, xy, xyz[:, 2].copy(), yaw, speed)

    @property
    def start_us(self) -> int:
        return int(self.times_us[0])

    @property
    def end_us(self) -> int:
        return int(self.times_us[-1])

    def z_at(self, time_us: int) -> float:
        return float(np.interp(time_us, self.times_us, self.z_m))

    def poses_at(self, times_us: np.ndarray) -> np.ndarray:
        """(N,) times -> (N, 3) (x, y, yaw) interpolated linearly (clamped to the log's ends)."""
        t = np.asarray(times_us, dtype=np.float64)
        x = np.interp(t, self.times_us, self.xy_m[:, 0])
        y = np.interp(t, self.times_us, self.xy_m[:, 1])
        yaw = wrap_angle(np.interp(t, self.times_us, self.yaw_rad))
        return np.column_stack([x, y, yaw])

    def vectors_at(self, times_us: np.ndarray) -> np.ndarray:
        """(N,) times -> (N, 7) logged ego vectors (``dynamics.EGO_FIELDS``): pose and speed interpolated,
        acceleration and yaw rate from central differences over 0.1 s, steering 0."""
        t = np.asarray(times_us, dtype=np.float64)
        ahead, behind, knots = t + 50_000, t - 50_000, self.times_us  # central differences over 0.1 s
        out = np.zeros((len(t), 7))
        out[:, :3] = self.poses_at(t)
        out[:, 3] = np.interp(t, knots, self.speed_mps)
        out[:, 4] = (np.interp(ahead, knots, self.speed_mps) - np.interp(behind, knots, self.speed_mps)) / 0.1
        out[:, 5] = (np.interp(ahead, knots, self.yaw_rad) - np.interp(behind, knots, self.yaw_rad)) / 0.1
        return out

    def state_at(self, time_us: int) -> EgoState:
        """Logged ego state at ``time_us`` (see ``vectors_at``)."""
        return EgoState(int(time_us), *(float(v) for v in self.vectors_at(np.array([time_us]))[0]))

    def future(self, world_from_ego: Pose, time_us: int, sampling: TrajectorySampling) -> Trajectory:
        """The logged waypoints after ``time_us`` in the ego frame ``world_from_ego``. Past the log's end
        the last pose moves on at the last logged speed along the last heading (the log does not say
        that the driver stopped there, so the waypoints do not either)."""
        times = time_us + np.round(sampling.times_s * 1e6)
        world = self.poses_at(times)
        beyond_s = np.maximum(times - self.end_us, 0) * 1e-6
        heading = np.array([np.cos(world[:, 2]), np.sin(world[:, 2])]).T
        world[:, :2] += (self.speed_mps[-1] * beyond_s)[:, None] * heading
        rot = world_from_ego.rotation[:2, :2]
        xy = (world[:, :2] - world_from_ego.translation_m[:2]) @ rot
        yaw = wrap_angle(world[:, 2] - world_from_ego.yaw_rad)
        return Trajectory(np.column_stack([xy, yaw]), sampling)
