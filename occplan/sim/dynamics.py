"""Kinematic bicycle model of the ego, referenced at the rear axle (nuScenes ego_pose frame).

The hot loop works on ego vectors (``EGO_FIELDS`` order, world frame) inside numba; ``bicycle_step``
is the EgoState-level entry point of the same kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from occplan.types import EgoState, VehicleParams

EGO_FIELDS = ("x_m", "y_m", "yaw_rad", "speed_mps", "accel_mps2", "yaw_rate_radps", "steer_rad")
"""Layout of an ego vector (7,) float64; the time travels separately."""


@dataclass(frozen=True)
class Control:
    """Ego inputs held over one substep: longitudinal acceleration and front-wheel steering rate."""

    accel_mps2: float
    steer_rate_radps: float


def ego_vector(ego: EgoState) -> np.ndarray:
    """EgoState -> (7,) float64 in ``EGO_FIELDS`` order."""
    return np.array([getattr(ego, f) for f in EGO_FIELDS], np.float64)


def ego_state(time_us: int, vector: np.ndarray) -> EgoState:
    """(7,) ego vector at ``time_us`` -> EgoState."""
    return EgoState(int(time_us), *(float(v) for v in vector))


def vehicle_limits(vehicle: VehicleParams, max_steer_rate_radps: float) -> np.ndarray:
    """(5,) wheelbase, max accel, max decel, max steer, max steer rate: the bicycle kernel's limits."""
    v = vehicle
    return np.array([v.wheelbase_m, v.max_accel_mps2, v.max_decel_mps2, v.max_steer_rad, max_steer_rate_radps])


@nb.njit(cache=True)
def bicycle(ego: np.ndarray, accel: float, steer_rate: float, dt_s: float, limits: np.ndarray) -> np.ndarray:
    """Advance an ego vector (7,) by ``dt_s`` under (accel m/s^2, steering rate rad/s) -> new ego vector.

    Inputs are clipped to ``limits`` (``vehicle_limits``); the speed never goes negative (no
    reversing). Position moves along the chord of the arc driven at the mean speed (exact for
    constant curvature and constant speed); yaw is wrapped to [-pi, pi].
    """
    wheelbase, max_accel, max_decel, max_steer, max_rate = limits[0], limits[1], limits[2], limits[3], limits[4]
    a = min(max(accel, -max_decel), max_accel)
    rate = min(max(steer_rate, -max_rate), max_rate)
    steer = min(max(ego[6] + rate * dt_s, -max_steer), max_steer)
    speed = max(ego[3] + a * dt_s, 0.0)
    mean_speed = 0.5 * (ego[3] + speed)
    yaw_rate = mean_speed * math.tan(steer) / wheelbase
    half_turn = 0.5 * yaw_rate * dt_s
    mid_yaw = ego[2] + half_turn
    chord = mean_speed * dt_s * (math.sin(half_turn) / half_turn if abs(half_turn) > 1e-9 else 1.0)
    yaw = ego[2] + yaw_rate * dt_s
    out = np.empty(7)
    out[0] = ego[0] + chord * math.cos(mid_yaw)
    out[1] = ego[1] + chord * math.sin(mid_yaw)
    out[2] = yaw - 2.0 * math.pi * np.rint(yaw / (2.0 * math.pi))
    out[3] = speed
    out[4] = (speed - ego[3]) / dt_s
    out[5] = yaw_rate
    out[6] = steer
    return out


def bicycle_step(
    ego: EgoState, control: Control, dt_s: float, vehicle: VehicleParams, max_steer_rate_radps: float
) -> EgoState:
    """Advance ``ego`` (world frame, rear axle) by ``dt_s`` under ``control`` -> EgoState at t + dt."""
    out = bicycle(
        ego_vector(ego),
        float(control.accel_mps2),
        float(control.steer_rate_radps),
        float(dt_s),
        vehicle_limits(vehicle, max_steer_rate_radps),
    )
    return ego_state(ego.time_us + round(dt_s * 1e6), out)
