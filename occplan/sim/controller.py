"""Trajectory tracking on a smooth time-parametrised reference, as a numba kernel over ego vectors
(``dynamics.EGO_FIELDS``).

The planned waypoints (every 0.5 s, ego frame) are turned into a C1 reference in time: cubic splines
of x(t), y(t) and of the unwrapped heading, clamped at t = 0 to the ego's velocity and yaw rate so the
reference (hence the commands) does not jump at decision boundaries. The kernel tracks the reference
point of the current time (not a projection on the path, which is ill-defined near a stop or beyond
the end of a short path):

* lateral: curvature = kappa_ref - e_y / L^2 - 2 zeta e_yaw / L (``TrackerConfig``), the kinematic
  path-following law whose errors decay as a damped oscillator in distance travelled;
* longitudinal: feed-forward of the reference acceleration, PID on the speed error where the target
  speed also closes the along-track error, then a jerk limit on the acceleration command (the
  reference's own jerk plus ``max_jerk_mps3``).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

import numba as nb
import numpy as np
from scipy.interpolate import CubicSpline

from occplan.sim.config import TrackerConfig
from occplan.types import EgoState, Trajectory

_MIN_PATH_M = 0.1
_REFERENCE_DT_S = 0.05
_MIN_CURVATURE_SPEED_MPS = 1.0
PROFILE_FIELDS = ("yaw_rad", "speed_mps", "accel_mps2", "curvature_1pm")
"""Columns of ``Reference.profile``."""


@dataclass(frozen=True)
class Reference:
    """A timed world-frame reference sampled every ``_REFERENCE_DT_S``: ``xy_m`` (K, 2) rear-axle
    positions, ``times_s`` (K,) from the decision instant (starts at 0), ``profile`` (K, 4) heading
    (rad, unwrapped), signed speed along the heading (m/s), acceleration along the heading (m/s^2) and
    curvature (1/m, left positive) (``PROFILE_FIELDS``)."""

    xy_m: np.ndarray
    times_s: np.ndarray
    profile: np.ndarray

    @classmethod
    def from_plan(cls, plan: Trajectory, ego: EgoState) -> Reference:
        """World-frame reference from a plan in the ego frame of ``ego``.

        The splines pass through the ego pose at t = 0 and the plan's waypoints, with the ego's velocity
        and yaw rate as the initial derivatives (natural end). A plan that moves less than 0.1 m holds
        the ego pose at zero speed (the tracker brakes to a stop).
        """
        c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
        knots_t = np.concatenate([[0.0], plan.sampling.times_s])
        times = np.arange(0.0, knots_t[-1] + 1e-9, _REFERENCE_DT_S)
        local = np.vstack([np.zeros((1, 2)), plan.xy_m])
        if np.hypot(*np.diff(local, axis=0).T).sum() < _MIN_PATH_M:
            xy = np.tile([ego.x_m, ego.y_m], (len(times), 1))
            profile = np.zeros((len(times), 4))
            profile[:, 0] = ego.yaw_rad
            return cls(xy, times, profile)
        knots_xy = local @ np.array([[c, s], [-s, c]]) + np.array([ego.x_m, ego.y_m])
        knots_yaw = np.unwrap(np.concatenate([[0.0], plan.poses[:, 2]])) + ego.yaw_rad
        velocity0 = ego.speed_mps * np.array([c, s])
        pos = CubicSpline(knots_t, knots_xy, bc_type=((1, velocity0), (2, np.zeros(2))))
        yaw = CubicSpline(knots_t, knots_yaw, bc_type=((1, ego.yaw_rate_radps), (2, 0.0)))
        heading = yaw(times)
        unit = np.column_stack([np.cos(heading), np.sin(heading)])
        speed = np.einsum("ij,ij->i", pos(times, 1), unit)
        accel = np.einsum("ij,ij->i", pos(times, 2), unit)
        curvature = yaw(times, 1) / np.maximum(np.abs(speed), _MIN_CURVATURE_SPEED_MPS)
        return cls(pos(times), times, np.column_stack([heading, speed, accel, curvature]))

    @classmethod
    def still(cls) -> Reference:
        """A placeholder reference at the origin (for the kernel's drivers that ignore it)."""
        return cls(np.zeros((2, 2)), np.array([0.0, 1.0]), np.zeros((2, 4)))


def tracker_gains(cfg: TrackerConfig) -> np.ndarray:
    """``TrackerConfig`` fields in declaration order (the ``track`` kernel's gains)."""
    return np.array(astuple(cfg), np.float64)


@nb.njit(cache=True)
def _sample(times: np.ndarray, values: np.ndarray, t: float) -> float:
    return np.interp(t, times, values)


@nb.njit(cache=True)
def track(
    ego: np.ndarray,
    ref_xy: np.ndarray,
    ref_times: np.ndarray,
    ref_profile: np.ndarray,
    elapsed_s: float,
    memory: np.ndarray,
    gains: np.ndarray,
    wheelbase_m: float,
    max_steer_rad: float,
    dt_s: float,
) -> tuple[float, float, float, float]:
    """Control for the next ``dt_s`` at ``elapsed_s`` after the decision.

    ``ego`` (7,) ego vector; reference arrays from ``Reference``; ``memory`` (2,) PID integral (m)
    and last speed error (m/s); ``gains`` from ``tracker_gains``. Returns (accel m/s^2, steering
    rate rad/s, new integral, new last error).
    """
    min_lookahead, lookahead_time, damping = gains[0], gains[1], gains[2]
    kp, ki, kd, k_position, max_jerk = gains[3], gains[4], gains[5], gains[6], gains[7]
    jerk_per_error, jerk_error_deadband = gains[9], gains[10]
    t = elapsed_s
    x_ref, y_ref = _sample(ref_times, ref_xy[:, 0], t), _sample(ref_times, ref_xy[:, 1], t)
    yaw_ref = _sample(ref_times, ref_profile[:, 0], t)
    v_ref = _sample(ref_times, ref_profile[:, 1], t)
    a_ref = _sample(ref_times, ref_profile[:, 2], t + 0.5 * dt_s)
    kappa_ref = _sample(ref_times, ref_profile[:, 3], t + 0.5 * dt_s)
    # Errors of the ego in the frame of the reference point (x along its heading, y to its left).
    c, s = math.cos(yaw_ref), math.sin(yaw_ref)
    dx, dy = ego[0] - x_ref, ego[1] - y_ref
    e_x, e_y = c * dx + s * dy, -s * dx + c * dy
    e_yaw = ego[2] - yaw_ref
    e_yaw -= 2.0 * math.pi * np.rint(e_yaw / (2.0 * math.pi))
    # Longitudinal.
    v_err = v_ref - k_position * e_x - ego[3]
    integral = memory[0] + v_err * dt_s
    accel = a_ref + kp * v_err + ki * integral + kd * (v_err - memory[1]) / dt_s
    # The jerk limit adds the plan's own jerk: the tracker follows a harsh plan but adds no jerk of its own.
    jerk = (
        max_jerk
        + jerk_per_error * max(abs(e_x) - jerk_error_deadband, 0.0)
        + abs(_sample(ref_times, ref_profile[:, 2], t + dt_s) - _sample(ref_times, ref_profile[:, 2], t)) / dt_s
    )
    accel = min(max(accel, ego[4] - jerk * dt_s), ego[4] + jerk * dt_s)
    # Lateral.
    length = max(min_lookahead, lookahead_time * ego[3])
    kappa = kappa_ref - e_y / (length * length) - 2.0 * damping * e_yaw / length
    steer_des = min(max(math.atan(wheelbase_m * kappa), -max_steer_rad), max_steer_rad)
    return accel, (steer_des - ego[6]) / dt_s, integral, v_err
