"""Simulation state: an immutable snapshot. ``Simulator.step`` returns a new one; nothing mutates.

The hot loop keeps the ego as vectors (``dynamics.EGO_FIELDS``) and the agents as rows of the
scenario's ``AgentTable``; ``StepRecord`` and ``AgentBox`` objects are built only when asked for
(``SimState.records``, ``SimState.agents``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from occplan.rules.offroad import DrivableRaster
from occplan.sim.agent_table import AgentTable
from occplan.sim.agents import AgentArrays, IDMState, IDMTracks, idm_arrays, idm_boxes
from occplan.sim.config import SimConfig
from occplan.sim.dynamics import ego_state
from occplan.sim.log import LogTrack
from occplan.sim.route import ExpertPath, RoutePolyline
from occplan.types import AgentBox, Command, EgoState, Pose, Scenario, StepRecord, Trajectory
from occplan.types.route import LaneRoute
from occplan.world import World


@dataclass(frozen=True)
class SceneArrays:
    """Per-scenario arrays on the simulation's substep rows (row k = ``log.start_us + k * dt``),
    shared by every episode of the scenario: ``table`` the logged agents, ``log_ego`` (K, 7) logged
    ego vectors, the ``expert_path`` (the logged path: privileged, for progress and reward), the
    ``drivable`` raster (None without a map), the planners' map route ``lane_route`` and its
    centreline as a polyline ``route_line`` (None when the route's source is "none")."""

    log: LogTrack
    expert_path: ExpertPath
    drivable: DrivableRaster | None
    table: AgentTable
    log_ego: np.ndarray
    lane_route: LaneRoute
    route_line: RoutePolyline | None


@dataclass(frozen=True)
class SimContext:
    """Everything fixed for one episode (shared by all its states).

    ``source`` is the data source (``occplan.data.NuScenesSource``) serving the logged sensors in open
    loop, or None when the world re-simulates them too. ``idm`` is None under log replay.
    """

    config: SimConfig
    scenario: Scenario
    world: World
    scene: SceneArrays
    idm: IDMTracks | None
    seed: int
    source: Any = None

    @property
    def log(self) -> LogTrack:
        return self.scene.log

    @property
    def expert_path(self) -> ExpertPath:
        """The logged ego path (privileged)."""
        return self.scene.expert_path

    @property
    def lane_route(self) -> LaneRoute:
        """The planners' map route (source "map_lanes" or "none")."""
        return self.scene.lane_route

    @property
    def drivable(self) -> DrivableRaster | None:
        return self.scene.drivable

    @property
    def num_decisions(self) -> int:
        """Decisions that fit in the log (the episode truncates after the last one)."""
        return int((self.log.end_us - self.log.start_us) // round(self.config.decision_dt_s * 1e6))

    def agent_arrays(self, row: int, idm: IDMState | None) -> AgentArrays:
        """The agents at substep ``row`` as arrays (replayed rows plus the IDM vehicles)."""
        table = self.scene.table
        if self.idm is None:
            return AgentArrays.replayed(table, row)
        return AgentArrays.replayed(table, row, self.idm.replayed) + idm_arrays(self.idm, table, idm, row)

    def agent_boxes(self, row: int, idm: IDMState | None) -> tuple[AgentBox, ...]:
        """World-frame AgentBoxes at substep ``row``."""
        table = self.scene.table
        if self.idm is None:
            return table.boxes(row)
        return table.boxes(row, self.idm.replayed) + idm_boxes(self.idm, table, idm, row)


@dataclass(frozen=True)
class Trace:
    """The substeps of one decision, linked to the previous decision's trace.

    ``ego`` (S, 7) ego vectors at rows ``first_row .. first_row + S - 1``; ``plan`` the trajectory
    issued at the row before ``first_row`` (None for control actions and the initial trace);
    ``idm`` one IDMState per row (None under log replay); ``occ_contacts`` the substeps whose ego box
    touched a static obstacle voxel: (index into ``ego``, (M, 2) world xy of the hit voxel columns).
    """

    parent: Trace | None
    first_row: int
    ego: np.ndarray
    command: Command
    plan: Trajectory | None = None
    idm: tuple[IDMState, ...] | None = None
    occ_contacts: tuple[tuple[int, np.ndarray], ...] = ()

    def chain(self) -> list[Trace]:
        """Every trace from the initial one to this one."""
        out, t = [], self
        while t is not None:
            out.append(t)
            t = t.parent
        return out[::-1]


@dataclass(frozen=True)
class SimState:
    """The episode after ``decision`` decisions.

    ``ego`` world frame (rear axle) at substep ``row``; ``tracker`` (2,) PID memory (integral m, last
    speed error m/s); ``idm`` the IDM vehicles (None under replay); ``trace`` the substeps so far;
    ``history`` (H, 3) world (x, y, yaw) of the last H decision poses, oldest first; ``collided`` /
    ``offroad`` latch once any substep collided or left the drivable area. ``memo`` caches values
    derived from the state (e.g. its GT occupancy); it never changes what the state means.
    """

    context: SimContext
    decision: int
    row: int
    ego: EgoState
    tracker: np.ndarray
    idm: IDMState | None
    trace: Trace
    history: np.ndarray
    collided: bool
    offroad: bool
    route_progress_m: float
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def time_us(self) -> int:
        return self.ego.time_us

    @cached_property
    def world_from_ego(self) -> Pose:
        """The ego pose (z from the log), computed once per state."""
        return Pose.from_xy_yaw(self.ego.x_m, self.ego.y_m, self.ego.yaw_rad, self.context.log.z_at(self.ego.time_us))

    @cached_property
    def agent_arrays(self) -> AgentArrays:
        return self.context.agent_arrays(self.row, self.idm)

    @cached_property
    def agents(self) -> tuple[AgentBox, ...]:
        """World-frame agent boxes at this time."""
        return self.context.agent_boxes(self.row, self.idm)

    @property
    def last_record(self) -> StepRecord:
        """The StepRecord of this state's substep."""
        if "records" in self.__dict__:
            return self.records[-1]
        return _records(self.context, [self.trace], last_agents=self.agents)[0]

    @cached_property
    def records(self) -> tuple[StepRecord, ...]:
        """One StepRecord per substep since reset (record 0 = the initial state)."""
        return tuple(_records(self.context, self.trace.chain()))


def _records(ctx: SimContext, traces: list[Trace], last_agents: tuple[AgentBox, ...] | None = None) -> list[StepRecord]:
    """StepRecords of every substep of ``traces``, or with ``last_agents`` (the agent boxes of the
    last substep) of the last substep only."""
    scene, dt_us = ctx.scene, ctx.config.dt_us
    last_only = last_agents is not None
    out: list[StepRecord] = []
    for tr in traces:
        if out and tr.plan is not None:
            out[-1] = replace(out[-1], plan=tr.plan)
        rows = range(len(tr.ego))
        for i in rows[-1:] if last_only else rows:
            row = tr.first_row + i
            t = ctx.log.start_us + row * dt_us
            log_ego = ego_state(t, scene.log_ego[row]) if t <= ctx.log.end_us else None
            idm = tr.idm[i] if tr.idm is not None else None
            occ = next((xy for k, xy in tr.occ_contacts if k == i), None)
            agents = last_agents if last_only else ctx.agent_boxes(row, idm)
            out.append(StepRecord(t, ego_state(t, tr.ego[i]), agents, log_ego, None, tr.command, occ))
    return out
