"""Vectorised motion primitives and the motion profile of planned waypoints.

All functions work on N candidates at once; times are seconds from the planning time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.rules.comfort import ComfortBounds
from occplan.types import TrajectorySampling


def fine_times(sampling: TrajectorySampling, per_interval: int) -> np.ndarray:
    """Times (T * per_interval + 1,) from 0 to the horizon, ``per_interval`` steps per waypoint
    interval; waypoint k (0-based) sits at index ``(k + 1) * per_interval``."""
    return np.arange(sampling.num_poses * per_interval + 1) * (sampling.interval_s / per_interval)


def speed_profiles(
    v0_mps: float, a0_mps2: float, accel_mps2: np.ndarray, v_max_mps: float, t_s: np.ndarray, ramp_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Speed profiles whose acceleration moves linearly from the current ``a0_mps2`` to ``accel_mps2``
    (N,) over ``ramp_s`` (jerk |accel - a0| / ramp_s) then holds, speed clipped to [0, max(v_max, v0)].

    ``t_s`` (M,) increasing from 0 -> travelled distance (N, M) and speed (N, M), integrated with the
    trapezoid rule on ``t_s`` (exact for the speed, second order for the travel).
    """
    a = np.asarray(accel_mps2, dtype=np.float64)[:, None]
    t = np.asarray(t_s, dtype=np.float64)[None, :]
    r = np.minimum(t, ramp_s)
    dv = a * t + (a0_mps2 - a) * (r - r**2 / (2 * ramp_s))  # integral of the ramped acceleration
    v = np.clip(v0_mps + dv, 0.0, max(v_max_mps, v0_mps))
    dt = np.diff(t_s)
    travel = np.concatenate([np.zeros((len(a), 1)), np.cumsum(0.5 * (v[:, 1:] + v[:, :-1]) * dt, axis=1)], axis=1)
    return travel, v


def integrate_curvature(
    speed_mps: np.ndarray, kappa0_1pm: float, kappa_1pm: np.ndarray, t_s: np.ndarray, ramp_s: float
) -> np.ndarray:
    """Rear-axle poses (N, M, 3) from speed profiles (N, M) on ``t_s`` (M,) and curvature moving linearly
    from ``kappa0_1pm`` to ``kappa_1pm`` (N,) over ``ramp_s`` then held (trapezoidal integration)."""
    w = np.clip(t_s / ramp_s, 0.0, 1.0)[None, :]
    kappa = kappa0_1pm + (np.asarray(kappa_1pm)[:, None] - kappa0_1pm) * w
    dt = np.diff(t_s)[None, :]
    yaw_rate = speed_mps * kappa
    yaw = np.concatenate([np.zeros((len(kappa), 1)), np.cumsum(0.5 * (yaw_rate[:, 1:] + yaw_rate[:, :-1]) * dt, 1)], 1)
    vx, vy = speed_mps * np.cos(yaw), speed_mps * np.sin(yaw)
    x = np.concatenate([np.zeros((len(kappa), 1)), np.cumsum(0.5 * (vx[:, 1:] + vx[:, :-1]) * dt, 1)], 1)
    y = np.concatenate([np.zeros((len(kappa), 1)), np.cumsum(0.5 * (vy[:, 1:] + vy[:, :-1]) * dt, 1)], 1)
    return np.stack([x, y, yaw], axis=-1)


@dataclass(frozen=True)
class MotionProfile:
    """Per candidate and waypoint (N, T): longitudinal speed, acceleration and jerk, yaw rate, yaw
    acceleration and lateral acceleration, by finite differences over the current state + waypoints."""

    speed_mps: np.ndarray
    lon_accel_mps2: np.ndarray
    lon_jerk_mps3: np.ndarray
    yaw_rate_radps: np.ndarray
    yaw_accel_radps2: np.ndarray
    lat_accel_mps2: np.ndarray


def motion_profile(
    poses: np.ndarray, dt_s: float, speed0_mps: float, accel0_mps2: float, yaw_rate0_radps: float
) -> MotionProfile:
    """``poses`` (N, T, 3) rear-axle waypoints every ``dt_s`` after the current pose (0, 0, 0)."""
    n = poses.shape[0]
    full = np.concatenate([np.zeros((n, 1, 3)), poses], axis=1)
    yaw = np.unwrap(full[..., 2], axis=1)
    d = np.diff(full[..., :2], axis=1)
    mid_yaw = 0.5 * (yaw[:, 1:] + yaw[:, :-1])
    v_seg = (d[..., 0] * np.cos(mid_yaw) + d[..., 1] * np.sin(mid_yaw)) / dt_s  # (N, T) signed
    speed = np.concatenate([np.full((n, 1), speed0_mps), 0.5 * (v_seg[:, 1:] + v_seg[:, :-1]), v_seg[:, -1:]], 1)
    accel = np.gradient(speed, dt_s, axis=1)
    accel[:, 0] = accel0_mps2
    jerk = np.gradient(accel, dt_s, axis=1)
    yaw_rate = np.gradient(yaw, dt_s, axis=1)
    yaw_rate[:, 0] = yaw_rate0_radps
    yaw_accel = np.gradient(yaw_rate, dt_s, axis=1)
    return MotionProfile(
        speed_mps=speed[:, 1:],
        lon_accel_mps2=accel[:, 1:],
        lon_jerk_mps3=jerk[:, 1:],
        yaw_rate_radps=yaw_rate[:, 1:],
        yaw_accel_radps2=yaw_accel[:, 1:],
        lat_accel_mps2=speed[:, 1:] * yaw_rate[:, 1:],
    )


def comfort_violation(bounds: ComfortBounds, m: MotionProfile) -> np.ndarray:
    """(N,) sum over waypoints of each quantity's excess beyond its nuPlan comfort bound
    (``occplan.rules.comfort``), each normalised by the bound (0 = within every bound)."""
    excess = (
        np.maximum(bounds.min_lon_accel_mps2 - m.lon_accel_mps2, 0) / -bounds.min_lon_accel_mps2
        + np.maximum(m.lon_accel_mps2 - bounds.max_lon_accel_mps2, 0) / bounds.max_lon_accel_mps2
        + np.maximum(np.abs(m.lat_accel_mps2) - bounds.max_abs_lat_accel_mps2, 0) / bounds.max_abs_lat_accel_mps2
        + np.maximum(np.abs(m.yaw_accel_radps2) - bounds.max_abs_yaw_accel_radps2, 0) / bounds.max_abs_yaw_accel_radps2
        + np.maximum(np.abs(m.yaw_rate_radps) - bounds.max_abs_yaw_rate_radps, 0) / bounds.max_abs_yaw_rate_radps
        + np.maximum(np.abs(m.lon_jerk_mps3) - bounds.max_abs_lon_jerk_mps3, 0) / bounds.max_abs_lon_jerk_mps3
    )
    return excess.sum(axis=1)
