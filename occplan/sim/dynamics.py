"""Kinematic bicycle model of the ego, referenced at the rear axle (nuScenes ego_pose frame)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from occplan.types import EgoState, VehicleParams


@dataclass(frozen=True)
class Control:
    """Ego inputs held over one substep: longitudinal acceleration and front-wheel steering rate."""

    accel_mps2: float
    steer_rate_radps: float


def bicycle_step(ego: EgoState, control: Control, dt_s: float, vehicle: VehicleParams, max_steer_rate_radps: float):
    """Advance ``ego`` (world frame, rear axle) by ``dt_s`` under ``control`` -> EgoState at t + dt.

    Inputs are clipped to the vehicle limits (acceleration, steering angle and rate); the speed never
    goes negative (no reversing). Position moves along the chord of the arc driven at the mean speed
    (exact for constant curvature and constant speed).
    """
    accel = min(max(control.accel_mps2, -vehicle.max_decel_mps2), vehicle.max_accel_mps2)
    rate = min(max(control.steer_rate_radps, -max_steer_rate_radps), max_steer_rate_radps)
    steer = min(max(ego.steer_rad + rate * dt_s, -vehicle.max_steer_rad), vehicle.max_steer_rad)
    speed = max(ego.speed_mps + accel * dt_s, 0.0)
    accel = (speed - ego.speed_mps) / dt_s
    mean_speed = 0.5 * (ego.speed_mps + speed)
    yaw_rate = mean_speed * math.tan(steer) / vehicle.wheelbase_m
    half_turn = 0.5 * yaw_rate * dt_s
    mid_yaw = ego.yaw_rad + half_turn
    chord = mean_speed * dt_s * (math.sin(half_turn) / half_turn if abs(half_turn) > 1e-9 else 1.0)
    yaw = math.remainder(ego.yaw_rad + yaw_rate * dt_s, 2 * math.pi)
    return EgoState(
        time_us=ego.time_us + round(dt_s * 1e6),
        x_m=ego.x_m + chord * math.cos(mid_yaw),
        y_m=ego.y_m + chord * math.sin(mid_yaw),
        yaw_rad=yaw,
        speed_mps=speed,
        accel_mps2=accel,
        yaw_rate_radps=yaw_rate,
        steer_rad=steer,
    )
