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
        xy, times, profile = _reference_arrays(
            plan.sampling.times_s,
            np.ascontiguousarray(plan.poses),
            float(ego.x_m),
            float(ego.y_m),
            float(ego.yaw_rad),
            float(ego.speed_mps),
            float(ego.yaw_rate_radps),
        )
        return cls(xy, times, profile)

    @classmethod
    def still(cls) -> Reference:
        """A placeholder reference at the origin (for the kernel's drivers that ignore it)."""
        return cls(np.zeros((2, 2)), np.array([0.0, 1.0]), np.zeros((2, 4)))


@nb.njit(cache=True)
def _clamped_natural_spline(
    knots: np.ndarray, values: np.ndarray, slopes0: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cubic splines through ``values`` (K, C) at strictly increasing ``knots`` (K >= 2), one per
    column, with first derivative ``slopes0`` (C,) at the first knot and zero second derivative at the
    last (scipy's ``CubicSpline`` with ``bc_type=((1, slopes0), (2, 0))``). Returns the values, first
    and second derivatives at ``times`` (N,) sorted ascending (each (N, C); times beyond the knots
    extrapolate the end pieces)."""
    n, cols = values.shape
    dx = np.diff(knots)
    # Tridiagonal system for the knot slopes (same matrix for every column): row 0 clamps the slope,
    # interior rows are C2 continuity, the last row the natural end.
    lower, diag, upper = np.zeros(n), np.ones(n), np.zeros(n)
    rhs = np.empty((n, cols))
    rhs[0] = slopes0
    for i in range(1, n - 1):
        lower[i], diag[i], upper[i] = dx[i], 2.0 * (dx[i - 1] + dx[i]), dx[i - 1]
        for j in range(cols):
            slope_prev = (values[i, j] - values[i - 1, j]) / dx[i - 1]
            slope_next = (values[i + 1, j] - values[i, j]) / dx[i]
            rhs[i, j] = 3.0 * (dx[i] * slope_prev + dx[i - 1] * slope_next)
    lower[n - 1], diag[n - 1] = dx[n - 2], 2.0 * dx[n - 2]
    for j in range(cols):
        rhs[n - 1, j] = 3.0 * (values[n - 1, j] - values[n - 2, j])
    # Thomas algorithm (the matrix is strictly diagonally dominant).
    for i in range(1, n):
        w = lower[i] / diag[i - 1]
        diag[i] -= w * upper[i - 1]
        for j in range(cols):
            rhs[i, j] -= w * rhs[i - 1, j]
    slopes = np.empty((n, cols))
    for j in range(cols):
        slopes[n - 1, j] = rhs[n - 1, j] / diag[n - 1]
    for i in range(n - 2, -1, -1):
        for j in range(cols):
            slopes[i, j] = (rhs[i, j] - upper[i] * slopes[i + 1, j]) / diag[i]
    # Piecewise polynomials c3 d^3 + c2 d^2 + c1 d + c0 in d = t - knots[i] (cubic Hermite form).
    c3, c2 = np.empty((n - 1, cols)), np.empty((n - 1, cols))
    for i in range(n - 1):
        for j in range(cols):
            slope = (values[i + 1, j] - values[i, j]) / dx[i]
            t = (slopes[i, j] + slopes[i + 1, j] - 2.0 * slope) / dx[i]
            c3[i, j] = t / dx[i]
            c2[i, j] = (slope - slopes[i, j]) / dx[i] - t
    m = len(times)
    value, d1, d2 = np.empty((m, cols)), np.empty((m, cols)), np.empty((m, cols))
    piece = 0
    for k in range(m):
        while piece < n - 2 and times[k] >= knots[piece + 1]:
            piece += 1
        d = times[k] - knots[piece]
        for j in range(cols):
            a3, a2, a1 = c3[piece, j], c2[piece, j], slopes[piece, j]
            value[k, j] = ((a3 * d + a2) * d + a1) * d + values[piece, j]
            d1[k, j] = (3.0 * a3 * d + 2.0 * a2) * d + a1
            d2[k, j] = 6.0 * a3 * d + 2.0 * a2
    return value, d1, d2


@nb.njit(cache=True)
def _reference_arrays(
    plan_times: np.ndarray,
    poses: np.ndarray,
    x_m: float,
    y_m: float,
    yaw_rad: float,
    speed_mps: float,
    yaw_rate_radps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Reference`` arrays (xy, times, profile) of a plan: ``plan_times`` (T,) waypoint times after
    the decision, ``poses`` (T, 3) waypoints in the ego frame of the ego pose (x, y, yaw)."""
    n = len(plan_times) + 1
    knots = np.empty(n)
    knots[0] = 0.0
    knots[1:] = plan_times
    times = np.arange(0.0, knots[n - 1] + 1e-9, _REFERENCE_DT_S)
    m = len(times)
    length = 0.0
    prev_x, prev_y = 0.0, 0.0
    for i in range(n - 1):
        length += math.hypot(poses[i, 0] - prev_x, poses[i, 1] - prev_y)
        prev_x, prev_y = poses[i, 0], poses[i, 1]
    if length < _MIN_PATH_M:
        xy = np.empty((m, 2))
        xy[:, 0], xy[:, 1] = x_m, y_m
        profile = np.zeros((m, 4))
        profile[:, 0] = yaw_rad
        return xy, times, profile
    # Knots in the world frame: x, y and the unwrapped heading (as np.unwrap) as three columns.
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    knot_values = np.empty((n, 3))
    knot_values[0, 0], knot_values[0, 1], knot_values[0, 2] = x_m, y_m, yaw_rad
    raw_prev, correction = 0.0, 0.0
    for i in range(1, n):
        lx, ly, raw = poses[i - 1, 0], poses[i - 1, 1], poses[i - 1, 2]
        knot_values[i, 0] = lx * c - ly * s + x_m
        knot_values[i, 1] = lx * s + ly * c + y_m
        step = raw - raw_prev
        if abs(step) >= math.pi:
            wrapped = (step + math.pi) % (2.0 * math.pi) - math.pi
            if wrapped == -math.pi and step > 0:
                wrapped = math.pi
            correction += wrapped - step
        knot_values[i, 2] = raw + correction + yaw_rad
        raw_prev = raw
    slopes0 = np.array([speed_mps * c, speed_mps * s, yaw_rate_radps])
    value, d1, d2 = _clamped_natural_spline(knots, knot_values, slopes0, times)
    xy = np.ascontiguousarray(value[:, :2])
    profile = np.empty((m, 4))
    for k in range(m):
        heading = value[k, 2]
        ux, uy = math.cos(heading), math.sin(heading)
        speed = d1[k, 0] * ux + d1[k, 1] * uy
        profile[k, 0] = heading
        profile[k, 1] = speed
        profile[k, 2] = d2[k, 0] * ux + d2[k, 1] * uy
        profile[k, 3] = d1[k, 2] / max(abs(speed), _MIN_CURVATURE_SPEED_MPS)
    return xy, times, profile


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
