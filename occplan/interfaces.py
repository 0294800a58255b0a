"""Plugin interfaces. Public methods are owned by the framework: they validate inputs and outputs
and time the call; plugins implement the protected ``_`` methods."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from occplan.errors import ValidationError
from occplan.types import (
    Command,
    EgoState,
    GridSpec,
    LabelSet,
    OccupancyPrediction,
    Scenario,
    SensorFrame,
    Trajectory,
    TrajectorySampling,
)
from occplan.types._check import check_array


class CallTimer:
    """Records the wall time of each call in milliseconds."""

    def __init__(self) -> None:
        self.calls_ms: list[float] = []

    def median_ms(self) -> float:
        return float(np.median(self.calls_ms)) if self.calls_ms else float("nan")


@dataclass(frozen=True)
class SensorRequest:
    """Which sensors a model needs: camera channels and the number of LiDAR sweeps (0 = no LiDAR)."""

    cameras: tuple[str, ...] = ()
    lidar_sweeps: int = 0


class PerceptionModel(ABC):
    """Predicts occupancy (+ flow, + point labels) from a SensorFrame.

    Subclasses set ``grid`` and ``labels`` (what they output) and implement ``_predict``.
    ``privileged = True`` marks a model that reads ground truth (the oracle).
    """

    name: str = "model"
    privileged: bool = False
    grid: GridSpec = GridSpec.occ3d_nuscenes()
    labels: LabelSet = LabelSet.occ3d()

    def __init__(self) -> None:
        self.timer = CallTimer()

    def sensor_request(self) -> SensorRequest:
        return SensorRequest()

    def reset(self, scenario: Scenario | None) -> None:
        """Clear temporal memory at the start of a scene."""

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
class PlannerInput:
    """What a planner sees at a decision (all in the ego frame at ``time_us`` unless stated).

    ``occupancy``: predicted (or oracle) semantics + flow in its grid; ``ego_state`` world frame
    (speed, acceleration and yaw rate are frame-free); ``ego_history`` (H, 3) past (x, y, yaw);
    ``route_xy_m`` (K, 2) route polyline ahead; ``command``; ``drivable_bev`` optional (X, Y) bool
    map-derived drivable raster on the occupancy grid's xy cells (None without a map).
    ``log_future`` is the logged trajectory, present only for privileged planners.
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

    def validate(self) -> None:
        self.occupancy.validate()
        self.ego_state.validate()
        check_array(self.ego_history, "PlannerInput.ego_history", (None, 3), np.float64, finite=True)
        check_array(self.route_xy_m, "PlannerInput.route_xy_m", (None, 2), np.float64, finite=True)
        if self.drivable_bev is not None:
            check_array(self.drivable_bev, "PlannerInput.drivable_bev", self.occupancy.grid.shape[:2], np.bool_)


class Planner(ABC):
    """Turns a PlannerInput into a Trajectory. ``requires_privileged`` marks planners reading GT."""

    name: str = "planner"
    requires_privileged: bool = False

    def __init__(self) -> None:
        self.timer = CallTimer()

    def reset(self, scenario: Scenario | None) -> None:
        """Clear state at the start of a scene."""

    def plan(self, inp: PlannerInput) -> Trajectory:
        inp.validate()
        if self.requires_privileged and inp.log_future is None:
            raise ValidationError(f"{self.name}: privileged planner needs PlannerInput.log_future")
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
