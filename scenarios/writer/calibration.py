"""Sensor calibration written to ``calibrated_sensor``: LiDAR and camera extrinsics, camera intrinsics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError
from occplan.types import CAMERA_CHANNELS, Pose
from occplan.types._check import check_array
from occplan.world.rig import SensorRig


@dataclass(frozen=True)
class SensorCalibration:
    """``ego_from_lidar`` (LiDAR sensor frame -> ego); per camera channel ``ego_from_cam`` (OpenCV camera
    frame: x right, y down, z forward -> ego) and ``intrinsics`` (3, 3) float64 at ``width_px`` x ``height_px``;
    ``lidar_rays_per_sweep`` (beams x azimuth steps) counts the rays a sweep casts, hits or not."""

    ego_from_lidar: Pose
    ego_from_cam: dict[str, Pose]
    intrinsics: dict[str, np.ndarray]
    width_px: int
    height_px: int
    lidar_rays_per_sweep: int

    @classmethod
    def from_rig(cls, rig: SensorRig) -> SensorCalibration:
        """The calibration of a simulated rig at its camera resolution."""
        w, h = rig.camera_width_px, rig.camera_height_px
        return cls(
            ego_from_lidar=rig.ego_from_lidar(),
            ego_from_cam={ch: rig.ego_from_cam(ch) for ch in CAMERA_CHANNELS},
            intrinsics={ch: rig.intrinsics(ch, w, h) for ch in CAMERA_CHANNELS},
            width_px=w,
            height_px=h,
            lidar_rays_per_sweep=rig.lidar.num_beams * rig.lidar.azimuth_steps,
        )

    def __post_init__(self) -> None:
        for ch in CAMERA_CHANNELS:
            if ch not in self.ego_from_cam or ch not in self.intrinsics:
                raise ValidationError(f"SensorCalibration: missing camera {ch}")
            check_array(self.intrinsics[ch], f"SensorCalibration.intrinsics[{ch}]", (3, 3), np.float64, finite=True)
        if self.width_px <= 0 or self.height_px <= 0:
            raise ValidationError(f"SensorCalibration: bad resolution {self.width_px}x{self.height_px}")


def calibrated_sensor_row(token: str, sensor_token: str, sensor_from: Pose, intrinsics: np.ndarray | None) -> dict:
    """A ``calibrated_sensor`` row: translation (m) and wxyz rotation of ego_from_sensor, intrinsics or []."""
    return {
        "token": token,
        "sensor_token": sensor_token,
        "translation": [float(v) for v in sensor_from.translation_m],
        "rotation": [float(v) for v in sensor_from.quaternion_wxyz],
        "camera_intrinsic": [] if intrinsics is None else np.asarray(intrinsics, dtype=float).tolist(),
    }
