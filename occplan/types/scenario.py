"""Scenarios as read from a nuScenes-format dataroot: scenes made of keyframes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.types._check import check_array
from occplan.types.agents import AgentBox
from occplan.types.ego import EgoState
from occplan.types.geometry import Pose
from occplan.types.sensors import CameraFrame, Command
from occplan.types.trajectory import Trajectory


@dataclass(frozen=True)
class MapInfo:
    """The map of a scene's location.

    ``kind``: "expansion" (nuScenes map expansion through NuScenesMap), "polygons"
    (``maps/drivable_area/<location>.json``) or "none" (no map: every drivable-area query raises
    or is skipped explicitly by its caller). ``drivable_wkb`` is the drivable area in the world
    frame as shapely WKB (None for "none"); ``lanes_wkb`` a GeometryCollection of the lane and lane
    connector polygons, one per lane (expansion maps only, else None).
    """

    location: str
    kind: str
    drivable_wkb: bytes | None = None
    source: str = ""
    lanes_wkb: bytes | None = None

    @property
    def has_map(self) -> bool:
        return self.kind != "none"

    def drivable_area(self):  # -> shapely geometry
        from shapely import wkb

        if self.drivable_wkb is None:
            raise ValueError(f"map of {self.location}: no map ({self.source or 'none found'})")
        return wkb.loads(self.drivable_wkb)


@dataclass(frozen=True)
class Frame:
    """One keyframe (nuScenes sample) of a scene.

    Frames: ``world_from_ego`` is the ego pose at the LIDAR_TOP timestamp; ``agents`` are in that
    ego frame; ``ego_state`` is in the world frame; ``ego_history`` (H, 3) holds earlier keyframe ego
    poses (x, y, yaw) in the current ego frame, oldest first; ``future`` holds the logged 6 waypoints
    at 0.5 s in the current ego frame with ``future_valid`` (6,) bool (False beyond the log's end);
    ``command`` derives from the logged future (METRICS.md).
    """

    scene_name: str
    sample_token: str
    index: int
    time_us: int
    world_from_ego: Pose
    ego_from_lidar: Pose
    lidar_token: str
    lidar_path: str
    cameras: tuple[CameraFrame, ...]
    agents: tuple[AgentBox, ...]
    ego_state: EgoState
    ego_history: np.ndarray
    future: Trajectory
    future_valid: np.ndarray
    command: Command

    def __post_init__(self) -> None:
        check_array(self.ego_history, f"Frame[{self.sample_token}].ego_history", (None, 3), np.float64, finite=True)
        check_array(self.future_valid, f"Frame[{self.sample_token}].future_valid", (6,), np.bool_)


@dataclass(frozen=True)
class Scenario:
    """A scene: ordered keyframes plus its map. ``dataroot``/``version`` say where it came from."""

    name: str
    token: str
    location: str
    frames: tuple[Frame, ...]
    map: MapInfo
    dataroot: str
    version: str

    @property
    def duration_s(self) -> float:
        return (self.frames[-1].time_us - self.frames[0].time_us) * 1e-6 if self.frames else 0.0
