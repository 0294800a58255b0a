"""The stateless simulation core shared by the Gymnasium env and the evaluation harness.

``Simulator`` holds only its configuration (and constants derived from it); every method takes a
frozen ``SimState`` and returns a new one (or an observation). One decision = ``config.substeps``
substeps of ``config.dt_s``, run in one numba call (``occplan.sim.kernel.advance``) under log replay.
Per-scenario arrays (agent table, logged ego, route, drivable raster) are built on a scenario's first
reset and shared by later resets with the same world. The sensors (``observe``) are produced by
``occplan.sim.sensors``, once per state.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import replace
from functools import cache

import numba as nb
import numpy as np

from occplan.interfaces import PlannerInit, PlannerInput, PrivilegedPlannerInit, SensorRequest
from occplan.rules.footprint import ego_corners_vec, ego_geometry, points_in_ego_box
from occplan.rules.obstacles import OBSTACLE_BAND_M, contact_inset_m, ground_table, obstacle_columns
from occplan.rules.offroad import OFFROAD_TOLERANCE_M, DrivableRaster
from occplan.sim import kernel
from occplan.sim.agent_table import AgentTable
from occplan.sim.agents import AgentArrays, IDMState, IDMTracks, idm_step
from occplan.sim.config import SimConfig
from occplan.sim.controller import Reference, tracker_gains
from occplan.sim.dynamics import Control, ego_state, vehicle_limits
from occplan.sim.history import episode_history
from occplan.sim.log import LogTrack
from occplan.sim.route import ExpertPath, RoutePolyline
from occplan.sim.sensors import sensor_frame, world_agents
from occplan.sim.state import SceneArrays, SimContext, SimState, Trace
from occplan.types import (
    Frame,
    GridSpec,
    LabelSet,
    OccupancyFrame,
    OccupancyPrediction,
    Pose,
    Scenario,
    SensorFrame,
    Trajectory,
    TrajectorySampling,
    se2_transform,
    wrap_angle,
)
from occplan.types.history import EpisodeHistory
from occplan.types.route import LaneRoute
from occplan.world import World

_NO_MAP = np.zeros((0, 0), np.float32)  # kernel.advance without a drivable raster
_ORIGIN = np.zeros(2)
_NO_CONTROL = np.zeros(2)  # kernel.advance arguments unused by the driver at hand
_NO_REFERENCE = Reference.still()
_SCENES: weakref.WeakKeyDictionary[World, dict[tuple, SceneArrays]] = weakref.WeakKeyDictionary()
_ROUTES: dict[tuple, LaneRoute] = {}
_OBSTACLE_CLASSES = ~ground_table(LabelSet.occ3d())  # the classes that may block (occplan.rules.obstacles)
_ROUTE_EXTENSION_M = 80.0  # the route polyline continues straight this far past the route's end


@cache
def _source_for(dataroot: str, version: str):
    from occplan.data import NuScenesSource

    return NuScenesSource(dataroot, version)


def swept_grid(grid: GridSpec, lo_xy_m: np.ndarray, hi_xy_m: np.ndarray, z_max_m: float) -> GridSpec:
    """The columns of ``grid``'s voxels (same lattice, same frame) whose centres lie within the box
    ``lo_xy_m`` .. ``hi_xy_m`` (2,), from the grid's bottom to ``z_max_m``: the occupancy-collision
    query of the ego boxes of one decision."""
    v, origin = grid.voxel_size_m, grid.range_min_m
    i0 = [math.ceil((float(lo_xy_m[a]) - origin[a]) / v - 0.5 - 1e-6) for a in range(2)] + [0]
    i1 = [math.floor((float(hi_xy_m[a]) - origin[a]) / v - 0.5 + 1e-6) + 1 for a in range(2)]
    i1.append(min(math.floor((z_max_m - origin[2]) / v - 0.5 + 1e-6) + 1, grid.shape[2]))
    range_min = tuple(origin[a] + i0[a] * v for a in range(3))
    return GridSpec(f"{grid.name}:swept", range_min, v, tuple(max(i1[a] - i0[a], 1) for a in range(3)), grid.frame)


@nb.njit(cache=True)
def _box_corners(egos: np.ndarray, geometry: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """(S * 4, 2) world-frame corners of the ego boxes of S ego vectors (``ego_corners_vec`` of each)."""
    out = np.empty((4 * egos.shape[0], 2))
    for i in range(egos.shape[0]):
        out[4 * i : 4 * i + 4] = ego_corners_vec(egos[i], geometry)
    return out


def scene_arrays(scenario: Scenario, world: World, config: SimConfig) -> SceneArrays:
    """The per-scenario arrays on the substep rows of ``config`` (cached per world and scenario)."""
    key = (scenario.name, scenario.token, config.dt_us, config.substeps)
    cached = _SCENES.setdefault(world, {})
    if key not in cached:
        log = LogTrack.from_scenario(scenario)
        n_decisions = (log.end_us - log.start_us) // round(config.decision_dt_s * 1e6)
        times = log.start_us + config.dt_us * np.arange(n_decisions * config.substeps + 1, dtype=np.int64)
        drivable = None
        if scenario.map.drivable_wkb is not None:
            drivable = DrivableRaster.around_path(scenario.map.drivable_wkb, log.xy_m)
        table = AgentTable.from_world(world, times)
        route = scenario_route(scenario)
        line = None
        if route.has_lanes:
            line = RoutePolyline.from_points(route.centreline_xy_m, route.spacing_m, _ROUTE_EXTENSION_M)
        expert = ExpertPath.from_log(log.xy_m)
        cached[key] = SceneArrays(log, expert, drivable, table, log.vectors_at(times), route, line)
    return cached[key]


def scenario_route(scenario: Scenario) -> LaneRoute:
    """The planners' map route of ``scenario``: from the lane of its first logged ego pose to the lane
    of its last (the mission goal), see ``occplan.data.routes`` (cached per scenario)."""
    from occplan.data.routes import lane_route

    key = (scenario.dataroot, scenario.version, scenario.name, scenario.token)
    if key not in _ROUTES:
        log = LogTrack.from_scenario(scenario)
        _ROUTES[key] = lane_route(scenario.map, scenario.dataroot, _pose_at(log, 0), mission_goal(log))
    return _ROUTES[key]


def mission_goal(log: LogTrack) -> np.ndarray:
    """(3,) world x, y, yaw of the log's final pose (nuPlan's mission goal)."""
    return _pose_at(log, -1)


def _pose_at(log: LogTrack, i: int) -> np.ndarray:
    return np.array([log.xy_m[i, 0], log.xy_m[i, 1], wrap_angle(float(log.yaw_rad[i]))])


class Simulator:
    """Closed- or open-loop simulation of one scenario at a time (see ``SimConfig``)."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = cfg = config or SimConfig()
        self.sampling = TrajectorySampling()
        v = cfg.vehicle
        self._gains = tracker_gains(cfg.tracker)
        self._limits = vehicle_limits(v, cfg.tracker.max_steer_rate_radps)
        self._geometry = ego_geometry(v)

    # --- episode -------------------------------------------------------------------------
    def reset(self, scenario: Scenario, seed: int, world: World | None = None, source=None) -> SimState:
        """Start ``scenario`` at its first keyframe. ``world`` defaults to ``open_world(source, scenario)``
        with ``source`` defaulting to the scenario's dataroot."""
        cfg = self.config
        if world is None:
            from occplan.world import open_world

            source = source or _source_for(scenario.dataroot, scenario.version)
            world = open_world(source, scenario)
        scene = scene_arrays(scenario, world, cfg)
        idm = IDMTracks.from_table(scene.table, cfg.idm, np.random.default_rng(seed)) if cfg.agents == "idm" else None
        ctx = SimContext(cfg, scenario, world, scene, idm, int(seed), source)
        ego_vec = scene.log_ego[0]
        idm_state = None
        if idm is not None:  # start the vehicles present at t0 at their logged position and speed
            idm_state = idm_step(
                idm, scene.table, IDMState.initial(idm), 0, 0.0, AgentArrays.replayed(scene.table, 0, idm.replayed),
                self._ego_box(ego_vec), cfg.idm,
            )  # fmt: skip
        frame0 = scenario.frames[0]
        trace = Trace(None, 0, ego_vec[None].copy(), frame0.command, idm=(idm_state,) if idm is not None else None)
        s0, _ = scene.expert_path.project(ego_vec[None, :2])
        state = SimState(
            ctx, 0, 0, ego_state(scene.log.start_us, ego_vec), np.zeros(2), idm_state, trace,
            self._initial_history(frame0, ego_vec, cfg.history_len), False, False, float(s0[0]),
        )  # fmt: skip
        return self._check_occupancy(state)

    def step(self, state: SimState, trajectory: Trajectory) -> SimState:
        """Advance one decision following ``trajectory`` (ego frame of ``state``)."""
        if trajectory.sampling != self.sampling:
            raise ValueError(f"Simulator.step: trajectory sampling {trajectory.sampling} != {self.sampling}")
        return self._advance(state, kernel.TRACK, Reference.from_plan(trajectory, state.ego), _NO_CONTROL, trajectory)

    def step_control(self, state: SimState, control: Control) -> SimState:
        """Advance one decision holding a direct ``control`` (acceleration, steering rate)."""
        held = np.array([control.accel_mps2, control.steer_rate_radps], np.float64)
        return self._advance(state, kernel.HOLD, _NO_REFERENCE, held, None)

    def done(self, state: SimState) -> bool:
        """True once the log has no room for another decision (truncation at the log's end)."""
        return state.decision >= state.context.num_decisions

    # --- observations --------------------------------------------------------------------
    def ground_truth(self, state: SimState, with_masks: bool = True) -> OccupancyFrame:
        """GT occupancy + flow in ``config.grid`` at the simulated pose and time (cached in the state);
        visibility masks where the world computes them, unless ``with_masks=False`` (faster)."""
        cached = state.memo.get("gt")
        if cached is not None and (cached.mask_lidar is not None or not with_masks or "gt_masked" in state.memo):
            return cached
        gt = state.context.world.occupancy(
            state.world_from_ego, state.time_us, self.config.grid, world_agents(state), with_masks=with_masks
        )
        state.memo["gt"] = gt
        if with_masks:
            state.memo["gt_masked"] = True
        return gt

    def observe(
        self, state: SimState, request: SensorRequest, privileged: bool = False, ground_truth_masks: bool = True
    ) -> SensorFrame:
        """Sensors at the state: logged in open loop (when a data source is known), re-simulated in
        closed loop (``occplan.sim.sensors``), each sensor produced once per state however often it is
        asked for. ``privileged`` adds the GT occupancy (``ground_truth``, with visibility masks unless
        ``ground_truth_masks=False``)."""
        gt = self.ground_truth(state, with_masks=ground_truth_masks) if privileged else None
        return sensor_frame(state, self.keyframe(state), request, gt)

    def planner_input(self, state: SimState, occupancy: OccupancyPrediction, privileged: bool) -> PlannerInput:
        """What a planner sees at this decision (ego frame of the simulated pose): the map route ahead
        ((0, 2) without one), the mission goal, the drivable raster; the logged future only when
        ``privileged`` (a planner with ``requires_privileged``)."""
        ctx = state.context
        goal = se2_transform(mission_goal(ctx.log)[None], state.world_from_ego.inverse())[0, :2]
        return PlannerInput(
            state.time_us, occupancy, state.ego, self.ego_history(state), self.route_ahead(state),
            self.keyframe(state).command, self.drivable_bev(state, occupancy.grid),
            self.log_future(state) if privileged else None, self.sampling, route_source=ctx.lane_route.source,
            goal_xy_m=goal,
        )  # fmt: skip

    def ego_history(self, state: SimState) -> np.ndarray:
        """(H, 3) float64 the last ``config.history_len`` decision poses (x m, y m, yaw rad), oldest first,
        in the ego frame of the state (the current pose last, at the origin)."""
        return se2_transform(state.history, state.world_from_ego.inverse())

    def drivable_bev(self, state: SimState, grid: GridSpec) -> np.ndarray | None:
        """(X, Y) bool: the map's drivable area at the centres of ``grid``'s xy cells around the state's
        pose (None without a map)."""
        drivable = state.context.drivable
        return drivable.bev(state.world_from_ego, grid) if drivable is not None else None

    def route_ahead(self, state: SimState) -> np.ndarray:
        """The map route's centreline ahead of the ego, ``config.route_points`` samples every
        ``config.route_spacing_m``, ego frame (K, 2); (0, 2) when the route's source is "none"."""
        line, cfg = state.context.scene.route_line, self.config
        return line.ahead(state.world_from_ego, cfg.route_points, cfg.route_spacing_m) if line else np.zeros((0, 2))

    def planner_init(self, source: SimState | Scenario, privileged: bool) -> PlannerInit:
        """The init record of a planner for the scenario of ``source`` (a state or the Scenario): the map
        route, the map, the vehicle and the mission goal; with ``privileged`` (a planner with
        ``requires_privileged``) also the Scenario and the logged ego path."""
        if isinstance(source, SimState):
            scenario, route, log = source.context.scenario, source.context.lane_route, source.context.log
        else:
            scenario, route, log = source, scenario_route(source), LogTrack.from_scenario(source)
        base = (scenario.name, route, scenario.map, self.config.vehicle, mission_goal(log))
        if privileged:
            return PrivilegedPlannerInit(*base, scenario=scenario, expert_path_xy_m=log.xy_m.copy())
        return PlannerInit(*base)

    def log_future(self, state: SimState) -> Trajectory:
        """The logged ego waypoints after this decision, in the simulated ego frame."""
        return state.context.log.future(state.world_from_ego, state.time_us, self.sampling)

    def keyframe(self, state: SimState) -> Frame:
        """The scenario keyframe nearest in time to the state."""
        k = state.memo.get("keyframe")
        if k is None:
            k = state.memo["keyframe"] = int(np.argmin(np.abs(state.context.log.times_us - state.time_us)))
        return state.context.scenario.frames[k]

    def pose_deviation_m(self, state: SimState) -> float:
        """Distance (m) between the simulated ego and the logged ego at the same time."""
        log_xy = state.context.scene.log_ego[state.row, :2]
        return float(math.hypot(state.ego.x_m - log_xy[0], state.ego.y_m - log_xy[1]))

    def episode_history(self, state: SimState, route_xy_m: np.ndarray | None = None) -> EpisodeHistory:
        """The recorded episode up to ``state`` (``occplan.sim.history.episode_history``)."""
        return episode_history(state, route_xy_m)

    # --- internals -----------------------------------------------------------------------
    def _advance(
        self, state: SimState, driver: int, ref: Reference, control: np.ndarray, plan: Trajectory | None
    ) -> SimState:
        ctx, cfg = state.context, self.config
        if self.done(state):
            raise ValueError(f"Simulator.step: scenario {ctx.scenario.name} is over (decision {state.decision})")
        if cfg.mode == "open":
            driver = kernel.LOG
        scene, first = ctx.scene, state.row + 1
        rows = slice(first, first + cfg.substeps)
        drivable = ctx.drivable
        raster = (drivable.outside_m, drivable.origin_m, drivable.cell_m) if drivable else (_NO_MAP, _ORIGIN, 1.0)
        args = (ref.xy_m, ref.times_s, ref.profile, control)
        consts = (self._gains, self._limits, self._geometry, cfg.dt_s)
        ego0 = state.trace.ego[-1]
        idm_states = None
        if ctx.idm is None:
            t = scene.table
            egos, memory, hit, outside = kernel.advance(
                ego0, driver, *args, state.tracker, scene.log_ego[rows], *consts,
                t.center_m[rows, :, :2], t.size_m[:, :2], t.yaw_rad[rows], t.present[rows], *raster,
            )  # fmt: skip
        else:
            egos, memory, hit, outside, idm_states = self._advance_idm(state, driver, args, consts, raster)
        ego = ego_state(ctx.log.start_us + (first + cfg.substeps - 1) * cfg.dt_us, egos[-1])
        trace = Trace(state.trace, first, egos, self.keyframe(state).command, plan, idm_states)
        s, _ = ctx.expert_path.project(egos[-1:, :2])
        new = SimState(
            ctx, state.decision + 1, first + cfg.substeps - 1, ego, memory, idm_states[-1] if idm_states else None,
            trace, np.vstack([state.history[1:], egos[-1:, :3]]), state.collided or bool(hit.any()),
            state.offroad or bool(np.any(outside > OFFROAD_TOLERANCE_M)), float(s[0]),
        )  # fmt: skip
        return self._check_occupancy(new)

    def _advance_idm(self, state: SimState, driver: int, args, consts, raster):
        """The substeps one at a time: IDM vehicles move from row r to r + 1 (seeing the ego at r),
        then the ego moves and is checked against every agent at r + 1."""
        ctx, cfg = state.context, self.config
        table, idm = ctx.scene.table, state.idm
        ego, memory = state.trace.ego[-1], state.tracker
        egos, hits, outside, idm_states = [], [], [], []
        for i in range(cfg.substeps):
            row = state.row + i
            idm = idm_step(ctx.idm, table, idm, row, cfg.dt_s, ctx.agent_arrays(row, idm), self._ego_box(ego), cfg.idm)
            agents = ctx.agent_arrays(row + 1, idm)
            ref_xy, ref_times, ref_profile, control = args
            e, memory, hit, out = kernel.advance(
                ego, driver, ref_xy, ref_times - i * cfg.dt_s, ref_profile, control, memory,
                ctx.scene.log_ego[row + 1 : row + 2], *consts, agents.center_m[None, :, :2], agents.size_m[:, :2],
                agents.yaw_rad[None], np.ones((1, len(agents.yaw_rad)), bool), *raster,
            )  # fmt: skip
            ego = e[0]
            egos.append(e[0])
            hits.append(hit[0])
            outside.append(out[0])
            idm_states.append(idm)
        return np.array(egos), memory, np.array(hits), np.array(outside), tuple(idm_states)

    def _ego_box(self, ego: np.ndarray) -> np.ndarray:
        """(7,) ego box centre x, y, yaw, width, length, vx, vy (for the IDM leader search)."""
        c, s = math.cos(ego[2]), math.sin(ego[2])
        w, length, ahead = self._geometry
        return np.array([ego[0] + ahead * c, ego[1] + ahead * s, ego[2], w, length, ego[3] * c, ego[3] * s])

    def _check_occupancy(self, state: SimState) -> SimState:
        """With ``occupancy_collision``: the static GT occupancy (agents are checked exactly by the box
        test) of the Occ3D lattice at the pose of the trace's first substep, over the area swept by the
        ego boxes of all its substeps, gives the obstacle columns (``occplan.rules.obstacles``); each
        substep whose box touches an obstacle column (the rule's ``contact_inset_m``) is a contact. The
        trace keeps the world xy of those columns per substep (so that a metric can tell one object from
        another); ``collided`` latches."""
        if not self.config.occupancy_collision:
            return state
        ctx, trace, cfg = state.context, state.trace, self.config
        t0 = ctx.log.start_us + trace.first_row * cfg.dt_us
        ref = Pose.from_xy_yaw(trace.ego[0, 0], trace.ego[0, 1], trace.ego[0, 2], ctx.log.z_at(t0))
        corners = _box_corners(trace.ego, self._geometry)
        c, s = math.cos(trace.ego[0, 2]), math.sin(trace.ego[0, 2])
        rot = np.array([[c, s], [-s, c]])  # world -> reference frame (row vectors)
        local = (corners - trace.ego[0, :2]) @ rot.T
        grid = swept_grid(cfg.grid, local.min(axis=0), local.max(axis=0), OBSTACLE_BAND_M[1] + 1.0)
        if not (ctx.world.static_classes_within(ref, t0, grid) & _OBSTACLE_CLASSES).any():
            return state  # ground classes alone are never obstacles: no need to voxelise
        block = ctx.world.static_semantics(ref, t0, grid)
        hit = obstacle_columns(block, LabelSet.occ3d(), cfg.grid.voxel_size_m)
        if not hit.any():
            return state
        xy = grid.all_centers()[:, :, 0, :2][hit] @ rot + trace.ego[0, :2]
        contacts = []
        for i, ego in enumerate(trace.ego):
            inside = points_in_ego_box(xy, ego, self._geometry, contact_inset_m(cfg.grid.voxel_size_m))
            if inside.any():
                contacts.append((i, xy[inside]))
        if not contacts:
            return state
        return replace(state, trace=replace(trace, occ_contacts=tuple(contacts)), collided=True, memo={})

    @staticmethod
    def _initial_history(frame0: Frame, ego: np.ndarray, length: int) -> np.ndarray:
        """(length, 3) world (x, y, yaw) of the logged keyframes before the start, padded with the
        oldest, ending with the start pose."""
        past = se2_transform(frame0.ego_history, frame0.world_from_ego) if len(frame0.ego_history) else np.zeros((0, 3))
        poses = np.vstack([past, ego[None, :3]])[-length:]
        return np.vstack([np.repeat(poses[:1], length - len(poses), axis=0), poses])
