"""Trajectory tracking: pure pursuit for steering, PID on speed (with feed-forward and an
along-track position term) for acceleration, as numba kernels over ego vectors (``dynamics.EGO_FIELDS``).

The reference is the planned trajectory in the world frame, timed from the decision instant
(index 0 = the ego pose at the decision, ``times_s[0] = 0``).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

import numba as nb
import numpy as np

from occplan.sim.config import TrackerConfig
from occplan.types import EgoState, Trajectory

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


def tracker_gains(cfg: TrackerConfig) -> np.ndarray:
    """(7,) ``TrackerConfig`` fields in declaration order (the ``track`` kernel's gains)."""
    return np.array(astuple(cfg), np.float64)


@nb.njit(cache=True)
def project(xy: np.ndarray, arc: np.ndarray, x: float, y: float) -> float:
    """Arc length of the point of the path (M, 2) nearest to (x, y) (clamped to the path's ends)."""
    best_d2, best_s = np.inf, 0.0
    for i in range(xy.shape[0] - 1):
        dx, dy = xy[i + 1, 0] - xy[i, 0], xy[i + 1, 1] - xy[i, 1]
        seg2 = max(dx * dx + dy * dy, 1e-12)
        u = min(max(((x - xy[i, 0]) * dx + (y - xy[i, 1]) * dy) / seg2, 0.0), 1.0)
        px, py = xy[i, 0] + u * dx - x, xy[i, 1] + u * dy - y
        d2 = px * px + py * py
        if d2 < best_d2:
            best_d2, best_s = d2, arc[i] + u * math.sqrt(seg2)
    return best_s


@nb.njit(cache=True)
def point_at(xy: np.ndarray, arc: np.ndarray, s: float) -> tuple[float, float]:
    """Point at arc length ``s``; beyond the end the last non-degenerate segment is extended."""
    if s <= arc[-1]:
        return np.interp(s, arc, xy[:, 0]), np.interp(s, arc, xy[:, 1])
    j = xy.shape[0] - 2
    while j > 0 and arc[j + 1] - arc[j] <= 1e-6:
        j -= 1
    seg = max(arc[j + 1] - arc[j], 1e-12)
    extra = s - arc[-1]
    return xy[-1, 0] + (xy[j + 1, 0] - xy[j, 0]) / seg * extra, xy[-1, 1] + (xy[j + 1, 1] - xy[j, 1]) / seg * extra


@nb.njit(cache=True)
def _speed_at(times: np.ndarray, arc: np.ndarray, t: float) -> float:
    """Reference speed (m/s) of the segment containing ``t``."""
    i = min(max(np.searchsorted(times, t, side="right") - 1, 0), len(times) - 2)
    return (arc[i + 1] - arc[i]) / (times[i + 1] - times[i])


@nb.njit(cache=True)
def track(
    ego: np.ndarray,
    ref_xy: np.ndarray,
    ref_times: np.ndarray,
    ref_arc: np.ndarray,
    elapsed_s: float,
    memory: np.ndarray,
    gains: np.ndarray,
    wheelbase_m: float,
    max_steer_rad: float,
    dt_s: float,
) -> tuple[float, float, float, float]:
    """Control for the next ``dt_s`` at ``elapsed_s`` after the decision.

    ``ego`` (7,) ego vector; ``memory`` (2,) PID integral (m) and last speed error (m/s); ``gains``
    from ``tracker_gains``. Returns (accel m/s^2, steering rate rad/s, new integral, new last error).
    """
    if ref_arc[-1] < _MIN_PATH_M:  # a plan that stands still: brake to a stop, hold the wheel
        return -ego[3] / dt_s, 0.0, 0.0, 0.0
    min_lookahead, lookahead_time, kp, ki, kd, k_position = gains[0], gains[1], gains[2], gains[3], gains[4], gains[5]
    s_ego = project(ref_xy, ref_arc, ego[0], ego[1])
    # Longitudinal: feed-forward of the reference acceleration, PID on the speed error, where the
    # target speed also closes the along-track position error (k_position, 1/s).
    v_ref = _speed_at(ref_times, ref_arc, elapsed_s)
    a_ff = (_speed_at(ref_times, ref_arc, elapsed_s + dt_s) - v_ref) / dt_s
    pos_err = np.interp(elapsed_s, ref_times, ref_arc) - s_ego
    v_err = v_ref + k_position * pos_err - ego[3]
    integral = memory[0] + v_err * dt_s
    derivative = (v_err - memory[1]) / dt_s
    accel = a_ff + kp * v_err + ki * integral + kd * derivative
    # Lateral: pure pursuit towards the lookahead point.
    gx, gy = point_at(ref_xy, ref_arc, s_ego + max(min_lookahead, lookahead_time * ego[3]))
    dx, dy = gx - ego[0], gy - ego[1]
    c, s = math.cos(ego[2]), math.sin(ego[2])
    lx, ly = c * dx + s * dy, -s * dx + c * dy
    steer_des = math.atan(wheelbase_m * 2.0 * ly / max(lx * lx + ly * ly, 1e-6))
    steer_des = min(max(steer_des, -max_steer_rad), max_steer_rad)
    return accel, (steer_des - ego[6]) / dt_s, integral, v_err
