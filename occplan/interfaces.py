"""Plugin interfaces. Public methods are owned by the framework: they validate inputs and outputs
and time the call; plugins implement the protected ``_`` methods."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from occplan.errors import ValidationError
from occplan.types import (
    Command,
    EgoState,
    GridSpec,
    LabelSet,
    MapInfo,
    OccupancyPrediction,
    Scenario,
    SensorFrame,
    Trajectory,
    TrajectorySampling,
    VehicleParams,
)
from occplan.types._check import check_array
from occplan.types.route import ROUTE_SOURCES, LaneRoute


class CallTimer:
    """Records the wall time of each call in milliseconds."""

    def __init__(self) -> None:
        self.calls_ms: list[float] = []

    def median_ms(self) -> float:
        return float(np.median(self.calls_ms)) if self.calls_ms else float("nan")


@dataclass(frozen=True)
class SensorRequest:
    """Which sensors a model needs: camera channels, the image size it reads them at, and the number of
    LiDAR sweeps (0 = no LiDAR).

    ``camera_wh_px`` (width, height) is the size a simulator renders cameras at for this request (closed
    loop on a world that renders), with the intrinsics scaled to it; None renders at the logged cameras'
    size. Logged images (open loop, real logs) keep their size: the model resizes them itself.
    """

    cameras: tuple[str, ...] = ()
    lidar_sweeps: int = 0
    camera_wh_px: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.camera_wh_px is not None and (len(self.camera_wh_px) != 2 or min(self.camera_wh_px) < 1):
            raise ValidationError(f"SensorRequest.camera_wh_px: (width, height) >= 1 pixel, got {self.camera_wh_px}")


class PerceptionModel(ABC):
    """Predicts occupancy (+ flow, + point labels) from a SensorFrame.

    Subclasses set ``grid`` and ``labels`` (what they output) and implement ``_predict``.
    ``privileged = True`` marks a model that reads ground truth (the oracle).
    """

    name: str = "model"
    privileged: bool = False
    grid: GridSpec = GridSpec.occ3d_nuscenes()
    labels: LabelSet = LabelSet.occ3d()
    trainable: ClassVar[bool] = False
    """True for a model that ``python -m models.train`` trains (the torch models)."""
    temporal: ClassVar[bool] = False
    """True for a model that keeps state across the frames of a scene: it must see them in time order,
    after ``reset(scene_name)``."""
    inputs: ClassVar[frozenset[str]] = frozenset()
    """The sensor kinds the model reads, a subset of {"cameras", "lidar"} (ground truth: ``privileged``)."""
    option_names: ClassVar[tuple[str, ...]] = ()
    """The keyword options ``from_options`` takes (checked before a model is built)."""

    def __init__(self) -> None:
        self.timer = CallTimer()

    @classmethod
    def from_options(cls, **options: Any) -> PerceptionModel:
        """The registry factory: build the model from its ``option_names`` keywords."""
        return cls(**options)

    def sensor_request(self) -> SensorRequest:
        return SensorRequest()

    def reset(self, scene_name: str | None) -> None:
        """Clear temporal memory at the start of scene ``scene_name`` (None: no scene). A model gets
        the scene's name only; everything it sees of the scene comes through ``SensorFrame``."""

    def predict(self, frame: SensorFrame) -> OccupancyPrediction:
        frame.validate()
        req = self.sensor_request()
        if req.lidar_sweeps and frame.lidar is None:
            raise ValidationError(f"{self.name}: needs LiDAR but SensorFrame.lidar is None")
        have = {c.channel for c in frame.cameras}
        missing = [c for c in req.cameras if c not in have]
        if missing:
            raise ValidationError(f"{self.name}: SensorFrame.cameras lacks {missing}")
        t0 = time.perf_counter()
        out = self._predict(frame)
        self.timer.calls_ms.append((time.perf_counter() - t0) * 1e3)
        if not isinstance(out, OccupancyPrediction):
            raise ValidationError(f"{self.name}._predict: returned {type(out).__name__}, not OccupancyPrediction")
        out.validate()
        self.grid.require(out.grid, f"{self.name} output grid")
        self.labels.require(out.labels, f"{self.name} output labels")
        if out.point_labels is not None and frame.lidar is not None:
            n_key = int(np.count_nonzero(frame.lidar.sweep_index == 0))
            if len(out.point_labels) != n_key:
                raise ValidationError(
                    f"{self.name}: point_labels has {len(out.point_labels)} entries for {n_key} keyframe points"
                )
        return out

    @abstractmethod
    def _predict(self, frame: SensorFrame) -> OccupancyPrediction: ...


@dataclass(frozen=True)
class PlannerInit:
    """What a planner is initialised with at the start of a scenario (never the Scenario itself).

    ``route``: the map route (``occplan.data.routes``), source "map_lanes" or "none" (with its
    reason); ``map``: the location's map handle (drivable area); ``vehicle``: the ego's parameters;
    ``mission_goal`` (3,) world x, y, yaw of the log's final pose (nuPlan's mission goal).
    """

    scenario_name: str
    route: LaneRoute
    map: MapInfo
    vehicle: VehicleParams
    mission_goal: np.ndarray

    @property
    def route_source(self) -> str:
        return self.route.source

    def validate(self) -> None:
        if not isinstance(self.route, LaneRoute):
            raise ValidationError(f"PlannerInit.route: expected LaneRoute, got {type(self.route).__name__}")
        self.route.validate()
        if not isinstance(self.map, MapInfo) or not isinstance(self.vehicle, VehicleParams):
            raise ValidationError("PlannerInit: map must be a MapInfo and vehicle a VehicleParams")
        check_array(self.mission_goal, "PlannerInit.mission_goal", (3,), np.float64, finite=True)


@dataclass(frozen=True)
class PrivilegedPlannerInit(PlannerInit):
    """The init record of a privileged planner (``requires_privileged``): adds the Scenario (logs,
    annotations) and ``expert_path_xy_m`` (K, 2) the logged ego path, world frame."""

    scenario: Scenario
    expert_path_xy_m: np.ndarray

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.scenario, Scenario):
            raise ValidationError("PrivilegedPlannerInit.scenario: expected a Scenario")
        check_array(self.expert_path_xy_m, "PrivilegedPlannerInit.expert_path_xy_m", (None, 2), np.float64, finite=True)


@dataclass(frozen=True)
class PlannerInput:
    """What a planner sees at a decision (all in the ego frame at ``time_us`` unless stated).

    ``occupancy``: predicted (or oracle) semantics + flow in its grid; ``ego_state`` world frame
    (speed, acceleration and yaw rate are frame-free); ``ego_history`` (H, 3) past (x, y, yaw);
    ``route_xy_m`` (K, 2) the map route's centreline ahead, (0, 2) when ``route_source`` is "none";
    ``command``; ``drivable_bev`` optional (X, Y) bool map-derived drivable raster on the occupancy
    grid's xy cells (None without a map); ``goal_xy_m`` (2,) the mission goal (the log's final
    position) or None. ``log_future`` is the logged trajectory, present only for privileged planners.
    """

    time_us: int
    occupancy: OccupancyPrediction
    ego_state: EgoState
    ego_history: np.ndarray
    route_xy_m: np.ndarray
    command: Command
    drivable_bev: np.ndarray | None = None
    log_future: Trajectory | None = None
    sampling: TrajectorySampling = field(default_factory=TrajectorySampling)
    route_source: str = "none"
    goal_xy_m: np.ndarray | None = None

    def validate(self) -> None:
        self.occupancy.validate()
        self.ego_state.validate()
        check_array(self.ego_history, "PlannerInput.ego_history", (None, 3), np.float64, finite=True)
        check_array(self.route_xy_m, "PlannerInput.route_xy_m", (None, 2), np.float64, finite=True)
        if self.route_source not in ROUTE_SOURCES:
            raise ValidationError(
                f"PlannerInput.route_source: expected one of {ROUTE_SOURCES}, got {self.route_source!r}"
            )
        if self.route_source == "none" and len(self.route_xy_m):
            raise ValidationError("PlannerInput.route_xy_m: must be empty (0, 2) when route_source is 'none'")
        if self.goal_xy_m is not None:
            check_array(self.goal_xy_m, "PlannerInput.goal_xy_m", (2,), np.float64, finite=True)
        if self.drivable_bev is not None:
            check_array(self.drivable_bev, "PlannerInput.drivable_bev", self.occupancy.grid.shape[:2], np.bool_)


class Planner(ABC):
    """Turns a PlannerInput into a Trajectory.

    ``requires_privileged`` marks planners reading ground truth: only they are reset with a
    ``PrivilegedPlannerInit`` and given ``PlannerInput.log_future``; the framework refuses either for
    any other planner. Plugins implement ``_plan`` and, when they keep state, ``_reset``.
    """

    name: str = "planner"
    requires_privileged: bool = False

    def __init__(self) -> None:
        self.timer = CallTimer()

    def reset(self, init: PlannerInit) -> None:
        """Start a scenario: check ``init`` against the planner's privilege, then ``_reset``."""
        if not isinstance(init, PlannerInit):
            raise ValidationError(f"{self.name}.reset: expected a PlannerInit, got {type(init).__name__}")
        privileged = isinstance(init, PrivilegedPlannerInit)
        if privileged != self.requires_privileged:
            want = "PrivilegedPlannerInit" if self.requires_privileged else "PlannerInit without privileged data"
            raise ValidationError(f"{self.name}.reset: requires_privileged={self.requires_privileged} needs a {want}")
        init.validate()
        self._reset(init)

    def _reset(self, init: PlannerInit) -> None:
        """Clear per-scenario state (default: none)."""

    def plan(self, inp: PlannerInput) -> Trajectory:
        inp.validate()
        if self.requires_privileged and inp.log_future is None:
            raise ValidationError(f"{self.name}: privileged planner needs PlannerInput.log_future")
        if not self.requires_privileged and inp.log_future is not None:
            raise ValidationError(f"{self.name}: PlannerInput.log_future is for privileged planners only")
        t0 = time.perf_counter()
        out = self._plan(inp)
        self.timer.calls_ms.append((time.perf_counter() - t0) * 1e3)
        if not isinstance(out, Trajectory):
            raise ValidationError(f"{self.name}._plan: returned {type(out).__name__}, not Trajectory")
        out.validate()
        if out.sampling != inp.sampling:
            raise ValidationError(f"{self.name}: trajectory sampling {out.sampling} != requested {inp.sampling}")
        return out

    @abstractmethod
    def _plan(self, inp: PlannerInput) -> Trajectory: ...


class Metric(ABC):
    """Streaming metric: ``reset()``, ``update(record)`` per sample, ``compute()`` -> flat dict of
    METRICS.md keys."""

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def update(self, record: Any) -> None: ...

    @abstractmethod
    def compute(self) -> dict[str, float]: ...
