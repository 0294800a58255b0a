"""Sensor data a perception model may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from occplan.errors import ValidationError
from occplan.types._check import check_array
from occplan.types.ego import EgoState
from occplan.types.geometry import Pose
from occplan.types.occupancy import OccupancyFrame

CAMERA_CHANNELS = (
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_FRONT_LEFT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_BACK_RIGHT",
)


class Command(IntEnum):
    """Driving command (ST-P3 / UniAD order): lateral offset of the logged 3 s waypoint."""

    RIGHT = 0
    LEFT = 1
    STRAIGHT = 2


@dataclass(frozen=True)
class LidarSweep:
    """LiDAR points in the ego frame of the keyframe.

    ``points`` (N, 5) float32 = x, y, z (m), intensity, ring; ``time_lag_s`` (N,) float32 = keyframe
    time minus the time of the sweep each point came from (0 for the keyframe sweep).
    ``origins_m`` (S, 3) float64 = sensor origin of each aggregated sweep in the same frame, and
    ``sweep_index`` (N,) int16 = which origin each point belongs to; sweep 0 is the keyframe sweep
    (where fewer sweeps exist than were asked for, the earliest is repeated: a repeated keyframe's
    points also have a zero time lag, so keyframe points are told by ``sweep_index == 0``).
    """

    points: np.ndarray
    time_lag_s: np.ndarray
    origins_m: np.ndarray
    sweep_index: np.ndarray

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_array(self.points, "LidarSweep.points", (None, 5), np.float32, finite=True)
        n = len(self.points)
        check_array(self.time_lag_s, "LidarSweep.time_lag_s", (n,), np.float32, finite=True)
        check_array(self.origins_m, "LidarSweep.origins_m", (None, 3), np.float64, finite=True)
        check_array(self.sweep_index, "LidarSweep.sweep_index", (n,), np.int16)
        if n and (self.sweep_index.min() < 0 or self.sweep_index.max() >= len(self.origins_m)):
            raise ValidationError("LidarSweep.sweep_index: refers to a missing origin")

    @property
    def num_points(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class CameraFrame:
    """One camera image. ``ego_from_cam`` maps camera (OpenCV: x right, y down, z forward) to the
    keyframe's ego frame. The image is (H, W, 3) uint8 RGB, held in ``image`` or loaded lazily from
    ``image_path`` by ``load()``."""

    channel: str
    intrinsics: np.ndarray  # (3, 3) float64
    ego_from_cam: Pose
    width_px: int
    height_px: int
    image_path: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_array(self.intrinsics, f"CameraFrame[{self.channel}].intrinsics", (3, 3), np.float64, finite=True)
        if self.image is None and self.image_path is None:
            raise ValidationError(f"CameraFrame[{self.channel}]: needs image or image_path")
        if self.image is not None:
            check_array(self.image, f"CameraFrame[{self.channel}].image", (self.height_px, self.width_px, 3), np.uint8)

    def load(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        if self.image is not None:
            return self.image
        from occplan.io import read_image

        img = read_image(self.image_path)  # type: ignore[arg-type]
        if img.shape != (self.height_px, self.width_px, 3):
            raise ValidationError(
                f"{self.image_path}: image shape {img.shape}, calibration says ({self.height_px}, {self.width_px}, 3)"
            )
        return img


@dataclass(frozen=True)
class SensorFrame:
    """Everything a perception model may see at one keyframe (no ground truth).

    Frames: ``lidar`` points and camera extrinsics are in the ego frame at ``time_us``;
    ``world_from_ego`` places that frame in the world; ``ego_state`` is in the world frame.
    ``history_world_from_ego`` holds the poses of earlier keyframes (oldest first) for temporal models.
    """

    scene_name: str
    sample_token: str
    time_us: int
    world_from_ego: Pose
    ego_state: EgoState
    lidar: LidarSweep | None = None
    cameras: tuple[CameraFrame, ...] = ()
    history_world_from_ego: tuple[Pose, ...] = ()
    ground_truth: OccupancyFrame | None = None  # filled only for privileged models (the oracle)

    def validate(self) -> None:
        self.world_from_ego.validate()
        self.ego_state.validate()
        if self.lidar is not None:
            self.lidar.validate()
        for cam in self.cameras:
            cam.validate()
