"""Simulation state: an immutable snapshot. ``Simulator.step`` returns a new one; nothing mutates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from occplan.sim.agents import AgentArrays, IDMState, IDMTracks
from occplan.sim.config import SimConfig
from occplan.sim.controller import TrackerState
from occplan.sim.drivable import DrivableRaster
from occplan.sim.log import LogTrack
from occplan.sim.route import Route
from occplan.types import AgentBox, EgoState, OccupancyFrame, Pose, Scenario, StepRecord
from occplan.world import World


@dataclass(frozen=True)
class SimContext:
    """Everything fixed for one episode (shared by all its states).

    ``source`` is the data source (``occplan.data.NuScenesSource``) serving the logged sensors in open
    loop, or None when the world re-simulates them too. ``drivable`` is None without a map.
    """

    config: SimConfig
    scenario: Scenario
    world: World
    log: LogTrack
    route: Route
    drivable: DrivableRaster | None
    idm: IDMTracks | None
    seed: int
    source: Any = None

    @property
    def num_decisions(self) -> int:
        """Decisions that fit in the log (the episode truncates after the last one)."""
        return int((self.log.end_us - self.log.start_us) // round(self.config.decision_dt_s * 1e6))


@dataclass(frozen=True)
class SimState:
    """The episode after ``decision`` decisions.

    ``ego`` world frame (rear axle); ``agents`` world-frame boxes at ``ego.time_us`` with ``agent_arrays``
    the same as arrays; ``records`` one StepRecord per substep since reset (record 0 = the initial
    state); ``history`` (H, 3) world (x, y, yaw) of the last H decision poses, oldest first;
    ``ground_truth`` the GT occupancy at this pose (None until computed); ``collided`` / ``offroad``
    latch once any substep collided or left the drivable area.
    """

    context: SimContext
    decision: int
    ego: EgoState
    agents: tuple[AgentBox, ...]
    agent_arrays: AgentArrays
    tracker: TrackerState
    idm: IDMState | None
    records: tuple[StepRecord, ...]
    history: np.ndarray
    ground_truth: OccupancyFrame | None
    collided: bool
    offroad: bool
    route_progress_m: float

    @property
    def time_us(self) -> int:
        return self.ego.time_us

    @property
    def world_from_ego(self) -> Pose:
        return Pose.from_xy_yaw(self.ego.x_m, self.ego.y_m, self.ego.yaw_rad, self.context.log.z_at(self.ego.time_us))
