"""Core types of OccPlan (frozen dataclasses with ``validate()``)."""

from occplan.types.agents import AgentBox
from occplan.types.ego import EgoState, VehicleParams
from occplan.types.geometry import Pose, se2_transform, wrap_angle
from occplan.types.grid import GridSpec
from occplan.types.history import EpisodeHistory
from occplan.types.labels import UNMAPPED, LabelSet
from occplan.types.occupancy import OccupancyFrame, OccupancyPrediction
from occplan.types.records import StepRecord
from occplan.types.scenario import Frame, MapInfo, Scenario
from occplan.types.sensors import CAMERA_CHANNELS, CameraFrame, Command, LidarSweep, SensorFrame
from occplan.types.trajectory import Trajectory, TrajectorySampling

__all__ = [
    "CAMERA_CHANNELS",
    "UNMAPPED",
    "AgentBox",
    "CameraFrame",
    "Command",
    "EgoState",
    "EpisodeHistory",
    "Frame",
    "GridSpec",
    "LabelSet",
    "LidarSweep",
    "MapInfo",
    "OccupancyFrame",
    "OccupancyPrediction",
    "Pose",
    "Scenario",
    "SensorFrame",
    "StepRecord",
    "Trajectory",
    "TrajectorySampling",
    "VehicleParams",
    "se2_transform",
    "wrap_angle",
]  # fmt: skip
