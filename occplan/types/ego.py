"""Ego vehicle parameters and state."""

from __future__ import annotations

from dataclasses import dataclass, fields

from occplan.types._check import check_finite_scalar


@dataclass(frozen=True)
class VehicleParams:
    """Ego geometry (nuScenes Renault Zoe as used by ST-P3/UniAD: 4.084 m x 1.85 m).

    ``rear_axle_to_center_m``: distance from the rear axle (bicycle-model reference point) to the
    box centre along x. The nuScenes ego_pose frame is at the rear axle.
    """

    length_m: float = 4.084
    width_m: float = 1.85
    height_m: float = 1.56
    wheelbase_m: float = 2.588
    rear_axle_to_center_m: float = 1.3
    max_steer_rad: float = 0.6
    max_accel_mps2: float = 3.0
    max_decel_mps2: float = 8.0


@dataclass(frozen=True)
class EgoState:
    """Ego state in the world frame (rear-axle reference point), at ``time_us``."""

    time_us: int
    x_m: float
    y_m: float
    yaw_rad: float
    speed_mps: float = 0.0
    accel_mps2: float = 0.0
    yaw_rate_radps: float = 0.0
    steer_rad: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for f in fields(self):
            if f.name != "time_us":
                check_finite_scalar(float(getattr(self, f.name)), f"EgoState.{f.name}")
