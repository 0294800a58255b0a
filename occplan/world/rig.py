"""The simulated sensor rig: LIDAR_TOP and the six cameras, mounted and calibrated like nuScenes.

Frames: ``ego`` is the nuScenes ego_pose frame (rear axle, x forward, y left, z up). The LiDAR
sensor frame is nuScenes' LIDAR_TOP frame (x right, y forward, z up, i.e. yawed -90 deg from the
ego). Camera frames are OpenCV (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from occplan.errors import ValidationError
from occplan.types import Pose, VehicleParams


@dataclass(frozen=True)
class LidarSpec:
    """A spinning multi-beam LiDAR.

    ``num_beams`` beams with elevations evenly spaced in [``elevation_min_rad``,
    ``elevation_max_rad``]; ``azimuth_steps`` firings per revolution; one sweep = one revolution at
    ``sweep_rate_hz``. Ring index 0 is the lowest beam. ``translation_m`` / ``yaw_rad`` mount the sensor
    in the ego frame.
    """

    channel: str = "LIDAR_TOP"
    translation_m: tuple[float, float, float] = (0.943, 0.0, 1.84)
    yaw_rad: float = -np.pi / 2
    num_beams: int = 32
    elevation_min_rad: float = float(np.deg2rad(-30.67))
    elevation_max_rad: float = float(np.deg2rad(10.67))
    azimuth_steps: int = 1085
    max_range_m: float = 100.0
    sweep_rate_hz: float = 20.0

    def __post_init__(self) -> None:
        if self.num_beams < 1 or self.azimuth_steps < 1:
            raise ValidationError(f"LidarSpec: num_beams and azimuth_steps must be >= 1, got {self}")
        if not self.elevation_min_rad <= self.elevation_max_rad or self.max_range_m <= 0:
            raise ValidationError(f"LidarSpec: need elevation_min <= elevation_max and max_range_m > 0, got {self}")

    def ego_from_sensor(self) -> Pose:
        return Pose.from_xy_yaw(self.translation_m[0], self.translation_m[1], self.yaw_rad, self.translation_m[2])

    @property
    def elevations_rad(self) -> np.ndarray:
        """(num_beams,) float64, ascending (index = ring)."""
        return np.linspace(self.elevation_min_rad, self.elevation_max_rad, self.num_beams)

    def ray_directions(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit directions of one sweep in the sensor frame, (B*A, 3) float64, azimuth-major
        (azimuth 0 along sensor +x, counter-clockwise), and the ring (B*A,) float32 of each ray."""
        az = np.arange(self.azimuth_steps) * (2 * np.pi / self.azimuth_steps)
        el = self.elevations_rad
        az_g, el_g = np.meshgrid(az, el, indexing="ij")
        dirs = np.stack([np.cos(el_g) * np.cos(az_g), np.cos(el_g) * np.sin(az_g), np.sin(el_g)], axis=-1)
        ring = np.broadcast_to(np.arange(self.num_beams, dtype=np.float32), az_g.shape)
        return dirs.reshape(-1, 3), ring.reshape(-1).copy()


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera mounted in the ego frame, looking along ``yaw_rad`` (0 = forward, + = left).

    The intrinsics are given for a ``ref_width_px`` x ``ref_height_px`` image and scale with the
    rendered resolution (``intrinsics``).
    """

    channel: str
    translation_m: tuple[float, float, float]
    yaw_rad: float
    focal_px: float
    principal_px: tuple[float, float]
    ref_width_px: int = 1600
    ref_height_px: int = 900

    def ego_from_cam(self) -> Pose:
        """Camera (OpenCV) -> ego: columns are the camera x (right), y (down), z (forward) axes in ego."""
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        rot = np.array([[s, 0.0, c], [-c, 0.0, s], [0.0, -1.0, 0.0]])
        return Pose(rot, np.asarray(self.translation_m, dtype=np.float64))

    def intrinsics(self, width_px: int, height_px: int) -> np.ndarray:
        """(3, 3) float64 pinhole matrix for an image of ``width_px`` x ``height_px``."""
        if width_px < 1 or height_px < 1:
            raise ValidationError(
                f"CameraSpec[{self.channel}]: resolution must be positive, got {width_px}x{height_px}"
            )
        sx, sy = width_px / self.ref_width_px, height_px / self.ref_height_px
        fx, fy = self.focal_px * sx, self.focal_px * sy
        cx, cy = self.principal_px[0] * sx, self.principal_px[1] * sy
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _nuscenes_cameras() -> tuple[CameraSpec, ...]:
    """Mounting and intrinsics close to the nuScenes calibration (scene-0061, 1600x900 images)."""
    front = (1266.4, (816.3, 491.5))
    return (
        CameraSpec("CAM_FRONT", (1.70, 0.016, 1.51), 0.0, *front),
        CameraSpec("CAM_FRONT_RIGHT", (1.55, -0.49, 1.50), np.deg2rad(-55.0), *front),
        CameraSpec("CAM_FRONT_LEFT", (1.52, 0.49, 1.51), np.deg2rad(55.0), *front),
        CameraSpec("CAM_BACK", (0.03, 0.0, 1.56), np.pi, 809.2, (829.2, 481.8)),
        CameraSpec("CAM_BACK_LEFT", (1.04, 0.48, 1.57), np.deg2rad(110.0), *front),
        CameraSpec("CAM_BACK_RIGHT", (1.04, -0.48, 1.56), np.deg2rad(-110.0), *front),
    )


@dataclass(frozen=True)
class SensorRig:
    """LiDAR + cameras + the ego body (whose own returns are removed) + default camera resolution."""

    lidar: LidarSpec = field(default_factory=LidarSpec)
    cameras: tuple[CameraSpec, ...] = field(default_factory=_nuscenes_cameras)
    vehicle: VehicleParams = field(default_factory=VehicleParams)
    camera_width_px: int = 800
    camera_height_px: int = 450

    @classmethod
    def nuscenes(cls, camera_width_px: int = 800, camera_height_px: int = 450) -> SensorRig:
        """The nuScenes-like rig (LIDAR_TOP HDL-32E-like + 6 cameras) rendering at the given resolution."""
        return cls(camera_width_px=camera_width_px, camera_height_px=camera_height_px)

    @property
    def camera_channels(self) -> tuple[str, ...]:
        return tuple(c.channel for c in self.cameras)

    def camera(self, channel: str) -> CameraSpec:
        for cam in self.cameras:
            if cam.channel == channel:
                return cam
        raise ValidationError(f"SensorRig: unknown camera {channel!r}; known: {', '.join(self.camera_channels)}")

    def ego_from_lidar(self) -> Pose:
        return self.lidar.ego_from_sensor()

    def ego_from_cam(self, channel: str) -> Pose:
        return self.camera(channel).ego_from_cam()

    def intrinsics(self, channel: str, width_px: int | None = None, height_px: int | None = None) -> np.ndarray:
        """(3, 3) intrinsics of ``channel`` at the given (default: the rig's) resolution."""
        return self.camera(channel).intrinsics(width_px or self.camera_width_px, height_px or self.camera_height_px)

    def ego_box(self, margin_m: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) (3,) corners of the ego body in the ego frame (z from 0 to the height), grown by ``margin_m``."""
        v = self.vehicle
        half = np.array([v.length_m / 2 + margin_m, v.width_m / 2 + margin_m])
        lo = np.array([v.rear_axle_to_center_m - half[0], -half[1], -margin_m])
        hi = np.array([v.rear_axle_to_center_m + half[0], half[1], v.height_m + margin_m])
        return lo, hi

    def ego_box_contains(self, points_ego_m: np.ndarray, margin_m: float = 0.05) -> np.ndarray:
        """(N, 3) ego-frame points -> (N,) bool, inside the ego body (``ego_box``)."""
        lo, hi = self.ego_box(margin_m)
        p = np.asarray(points_ego_m, dtype=np.float64)[:, :3]
        return np.all((p >= lo) & (p <= hi), axis=1)
