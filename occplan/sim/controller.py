"""Trajectory tracking: pure pursuit for steering, PID on speed (with feed-forward and an
along-track position term) for acceleration.

The reference is the planned trajectory in the world frame, timed from the decision instant
(index 0 = the ego pose at the decision, ``times_s[0] = 0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from occplan.sim.config import TrackerConfig
from occplan.sim.dynamics import Control
from occplan.types import EgoState, Trajectory, VehicleParams

_MIN_PATH_M = 0.1


@dataclass(frozen=True)
class Reference:
    """A timed world-frame path: ``xy_m`` (M, 2), ``times_s`` (M,) from the decision instant,
    ``arc_m`` (M,) cumulative arc length (starts at 0)."""

    xy_m: np.ndarray
    times_s: np.ndarray
    arc_m: np.ndarray

    @classmethod
    def from_plan(cls, plan: Trajectory, ego: EgoState) -> Reference:
        """World-frame reference from a plan in the ego frame of ``ego`` (prepends the ego position)."""
        c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
        local = np.vstack([np.zeros((1, 2)), plan.xy_m])
        xy = local @ np.array([[c, s], [-s, c]]) + np.array([ego.x_m, ego.y_m])
        times = np.concatenate([[0.0], plan.sampling.times_s])
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        return cls(xy, times, arc)

    @property
    def length_m(self) -> float:
        return float(self.arc_m[-1])

    def project(self, x_m: float, y_m: float) -> float:
        """Arc length of the point of the path nearest to (x, y) (clamped to the path's ends)."""
        a, d = self.xy_m[:-1], np.diff(self.xy_m, axis=0)
        seg_len2 = np.maximum(np.einsum("ij,ij->i", d, d), 1e-12)
        u = np.clip(((x_m - a[:, 0]) * d[:, 0] + (y_m - a[:, 1]) * d[:, 1]) / seg_len2, 0.0, 1.0)
        px, py = a[:, 0] + u * d[:, 0], a[:, 1] + u * d[:, 1]
        i = int(np.argmin((px - x_m) ** 2 + (py - y_m) ** 2))
        return float(self.arc_m[i] + u[i] * math.sqrt(seg_len2[i]))

    def point_at(self, arc_m: float) -> tuple[float, float]:
        """Point at arc length ``arc_m``; beyond the end the last segment is extended."""
        if arc_m <= self.arc_m[-1]:
            return float(np.interp(arc_m, self.arc_m, self.xy_m[:, 0])), float(
                np.interp(arc_m, self.arc_m, self.xy_m[:, 1])
            )
        nz = np.flatnonzero(np.diff(self.arc_m) > 1e-6)
        j = int(nz[-1])
        d = (self.xy_m[j + 1] - self.xy_m[j]) / (self.arc_m[j + 1] - self.arc_m[j])
        extra = arc_m - self.arc_m[-1]
        return float(self.xy_m[-1, 0] + d[0] * extra), float(self.xy_m[-1, 1] + d[1] * extra)

    def arc_at_time(self, t_s: float) -> float:
        return float(np.interp(t_s, self.times_s, self.arc_m))

    def speed_at_time(self, t_s: float) -> float:
        """Reference speed (m/s) of the segment containing ``t_s``."""
        i = int(np.clip(np.searchsorted(self.times_s, t_s, side="right") - 1, 0, len(self.times_s) - 2))
        return float((self.arc_m[i + 1] - self.arc_m[i]) / (self.times_s[i + 1] - self.times_s[i]))


@dataclass(frozen=True)
class TrackerState:
    """Memory of the speed PID: integral (m) and last error (m/s) of the speed error."""

    integral_m: float = 0.0
    last_error_mps: float = 0.0


def track(
    ego: EgoState,
    ref: Reference,
    elapsed_s: float,
    memory: TrackerState,
    cfg: TrackerConfig,
    vehicle: VehicleParams,
    dt_s: float,
) -> tuple[Control, TrackerState]:
    """Control for the next ``dt_s`` at ``elapsed_s`` after the decision, and the updated PID memory."""
    if ref.length_m < _MIN_PATH_M:  # a plan that stands still: brake to a stop, hold the wheel
        return Control(-min(ego.speed_mps / dt_s, vehicle.max_decel_mps2), 0.0), TrackerState()
    s_ego = ref.project(ego.x_m, ego.y_m)
    # Longitudinal: feed-forward of the reference acceleration, PID on the speed error, where the
    # target speed also closes the along-track position error (k_position, 1/s).
    v_ref = ref.speed_at_time(elapsed_s)
    a_ff = (ref.speed_at_time(elapsed_s + dt_s) - v_ref) / dt_s
    pos_err = ref.arc_at_time(elapsed_s) - s_ego
    v_err = v_ref + cfg.k_position * pos_err - ego.speed_mps
    integral = memory.integral_m + v_err * dt_s
    derivative = (v_err - memory.last_error_mps) / dt_s
    accel = a_ff + cfg.kp_speed * v_err + cfg.ki_speed * integral + cfg.kd_speed * derivative
    # Lateral: pure pursuit towards the lookahead point.
    lookahead = max(cfg.min_lookahead_m, cfg.lookahead_time_s * ego.speed_mps)
    gx, gy = ref.point_at(s_ego + lookahead)
    dx, dy = gx - ego.x_m, gy - ego.y_m
    c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
    lx, ly = c * dx + s * dy, -s * dx + c * dy
    dist2 = max(lx * lx + ly * ly, 1e-6)
    steer_des = math.atan(vehicle.wheelbase_m * 2.0 * ly / dist2)
    steer_des = min(max(steer_des, -vehicle.max_steer_rad), vehicle.max_steer_rad)
    return Control(accel, (steer_des - ego.steer_rad) / dt_s), TrackerState(integral, v_err)
