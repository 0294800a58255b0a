"""The stateless simulation core shared by the Gymnasium env and the evaluation harness.

``Simulator`` holds only its configuration; every method takes a frozen ``SimState`` and returns a
new one (or an observation). One decision = ``config.substeps`` substeps of ``config.dt_s``.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from functools import cache

import numpy as np

from occplan.interfaces import PlannerInput, SensorRequest
from occplan.sim.agents import AgentArrays, IDMTracks, idm_boxes, idm_init, idm_step
from occplan.sim.collision import box_corners, boxes_overlap, ego_corners, occupancy_collision, offroad_distance_m
from occplan.sim.config import SimConfig
from occplan.sim.controller import Reference, TrackerState, track
from occplan.sim.drivable import DrivableRaster
from occplan.sim.dynamics import Control, bicycle_step
from occplan.sim.log import LogTrack
from occplan.sim.route import Route
from occplan.sim.state import SimContext, SimState
from occplan.types import (
    AgentBox,
    CameraFrame,
    EpisodeLog,
    Frame,
    LidarSweep,
    OccupancyFrame,
    OccupancyPrediction,
    Pose,
    Scenario,
    SensorFrame,
    StepRecord,
    Trajectory,
    TrajectorySampling,
    se2_transform,
)
from occplan.world import World

_DRIVABLE_MARGIN_M = 60.0


@cache
def _source_for(dataroot: str, version: str):
    from occplan.data import NuScenesSource

    return NuScenesSource(dataroot, version)


@cache
def _has_fast_occupancy(world_type: type) -> bool:
    """Whether the world's ``occupancy`` takes ``with_masks`` (the per-step path without masks)."""
    return "with_masks" in inspect.signature(world_type.occupancy).parameters


class Simulator:
    """Closed- or open-loop simulation of one scenario at a time (see ``SimConfig``)."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.sampling = TrajectorySampling()

    # --- episode -------------------------------------------------------------------------
    def reset(self, scenario: Scenario, seed: int, world: World | None = None, source=None) -> SimState:
        """Start ``scenario`` at its first keyframe. ``world`` defaults to ``open_world(source, scenario)``
        with ``source`` defaulting to the scenario's dataroot."""
        cfg = self.config
        if world is None:
            from occplan.world import open_world

            source = source or _source_for(scenario.dataroot, scenario.version)
            world = open_world(source, scenario)
        log = LogTrack.from_scenario(scenario)
        route = Route.from_log(log.xy_m)
        drivable = None
        if scenario.map.drivable_wkb is not None:
            drivable = DrivableRaster.from_wkb(scenario.map.drivable_wkb, log.xy_m, _DRIVABLE_MARGIN_M)
        rng = np.random.default_rng(seed)
        decision_us = round(cfg.decision_dt_s * 1e6)
        idm = None
        if cfg.agents == "idm":
            times = np.arange(log.start_us, log.end_us + 1, decision_us, dtype=np.int64)
            idm = IDMTracks.from_world(world, times, cfg.idm, rng)
        ctx = SimContext(cfg, scenario, world, log, route, drivable, idm, int(seed), source)
        frame0 = scenario.frames[0]
        ego = log.state_at(log.start_us)
        idm_state = idm_init(idm) if idm is not None else None
        if idm is not None:  # start the vehicles present at t0 at their logged position and speed
            idm_state = idm_step(
                idm, idm_state, log.start_us, 0.0, AgentArrays.from_boxes(()), ego, cfg.vehicle, cfg.idm
            )
        agents = self._agents_at(ctx, idm_state, ego.time_us)
        history = self._initial_history(frame0, ego, cfg.history_len)
        record = StepRecord(ego.time_us, ego, agents, log_ego=ego, command=frame0.command)
        s0, _ = route.project(np.array([[ego.x_m, ego.y_m]]))
        state = SimState(
            ctx, 0, ego, agents, AgentArrays.from_boxes(agents), TrackerState(), idm_state, (record,), history,
            None, False, False, float(s0[0]),
        )  # fmt: skip
        return self._check_occupancy(state)

    def step(self, state: SimState, trajectory: Trajectory) -> SimState:
        """Advance one decision following ``trajectory`` (ego frame of ``state``)."""
        if trajectory.sampling != self.sampling:
            raise ValueError(f"Simulator.step: trajectory sampling {trajectory.sampling} != {self.sampling}")
        ref = Reference.from_plan(trajectory, state.ego)
        cfg = self.config

        def controller(ego, elapsed_s, memory):
            return track(ego, ref, elapsed_s, memory, cfg.tracker, cfg.vehicle, cfg.dt_s)

        return self._advance(state, controller, trajectory)

    def step_control(self, state: SimState, control: Control) -> SimState:
        """Advance one decision holding a direct ``control`` (acceleration, steering rate)."""
        return self._advance(state, lambda ego, elapsed_s, memory: (control, memory), None)

    def done(self, state: SimState) -> bool:
        """True once the log has no room for another decision (truncation at the log's end)."""
        return state.decision >= state.context.num_decisions

    # --- observations --------------------------------------------------------------------
    def ground_truth(self, state: SimState) -> OccupancyFrame:
        """GT occupancy + flow in ``config.grid`` at the simulated pose and time."""
        if state.ground_truth is not None:
            return state.ground_truth
        return state.context.world.occupancy(
            state.world_from_ego, state.time_us, self.config.grid, self._override(state)
        )

    def observe(self, state: SimState, request: SensorRequest, privileged: bool = False) -> SensorFrame:
        """Sensors at the state: logged in open loop (when a data source is known), re-simulated in
        closed loop (LiDAR re-cast at the simulated pose; cameras re-rendered where the world can,
        else the nearest keyframe's logged images). ``privileged`` adds the GT occupancy."""
        ctx = state.context
        frame = self.keyframe(state)
        if ctx.config.mode == "open" and ctx.source is not None:
            logged = ctx.source.sensor_frame(frame, request)
            return replace(logged, ground_truth=self.ground_truth(state) if privileged else None)
        lidar = self._lidar(state, frame, request.lidar_sweeps) if request.lidar_sweeps else None
        cameras = self._cameras(state, frame, request.cameras) if request.cameras else ()
        hist = tuple(Pose.from_xy_yaw(x, y, yaw) for x, y, yaw in state.history[:-1])
        return SensorFrame(
            ctx.scenario.name, frame.sample_token, state.time_us, state.world_from_ego, state.ego, lidar, cameras,
            hist, self.ground_truth(state) if privileged else None,
        )  # fmt: skip

    def planner_input(self, state: SimState, occupancy: OccupancyPrediction) -> PlannerInput:
        """What a planner sees at this decision (ego frame of the simulated pose)."""
        ctx, cfg = state.context, self.config
        pose = state.world_from_ego
        history = se2_transform(state.history, pose.inverse())
        route = ctx.route.ahead(pose, cfg.route_points, cfg.route_spacing_m)
        drivable = ctx.drivable.bev(pose, occupancy.grid) if ctx.drivable is not None else None
        return PlannerInput(
            state.time_us, occupancy, state.ego, history, route, self.keyframe(state).command, drivable,
            self.log_future(state), self.sampling,
        )  # fmt: skip

    def log_future(self, state: SimState) -> Trajectory:
        """The logged ego waypoints after this decision, in the simulated ego frame."""
        return state.context.log.future(state.world_from_ego, state.time_us, self.sampling)

    def keyframe(self, state: SimState) -> Frame:
        """The scenario keyframe nearest in time to the state."""
        frames = state.context.scenario.frames
        times = np.array([f.time_us for f in frames])
        return frames[int(np.argmin(np.abs(times - state.time_us)))]

    def pose_deviation_m(self, state: SimState) -> float:
        """Distance (m) between the simulated ego and the logged ego at the same time."""
        log = state.context.log.state_at(state.time_us)
        return float(np.hypot(state.ego.x_m - log.x_m, state.ego.y_m - log.y_m))

    def episode_log(self, state: SimState) -> EpisodeLog:
        ctx = state.context
        return EpisodeLog(
            ctx.scenario.name, ctx.config.mode, ctx.config.dt_s, ctx.config.vehicle, state.records,
            ctx.log.xy_m.copy(), ctx.scenario.map.drivable_wkb,
        )  # fmt: skip

    # --- internals -----------------------------------------------------------------------
    def _advance(self, state: SimState, controller, plan: Trajectory | None) -> SimState:
        ctx, cfg = state.context, self.config
        records = list(state.records)
        if plan is not None:
            records[-1] = replace(records[-1], plan=plan)
        command = self.keyframe(state).command
        ego, memory, idm_state = state.ego, state.tracker, state.idm
        agents, arrays = state.agents, state.agent_arrays
        collided, offroad = state.collided, state.offroad
        for i in range(cfg.substeps):
            t_next = ego.time_us + cfg.dt_us
            if cfg.mode == "open":
                new_ego = ctx.log.state_at(t_next)
            else:
                control, memory = controller(ego, i * cfg.dt_s, memory)
                new_ego = bicycle_step(ego, control, cfg.dt_s, cfg.vehicle, cfg.tracker.max_steer_rate_radps)
            if idm_state is not None:
                idm_state = idm_step(ctx.idm, idm_state, ego.time_us, cfg.dt_s, arrays, ego, cfg.vehicle, cfg.idm)
            agents = self._agents_at(ctx, idm_state, t_next)
            arrays = AgentArrays.from_boxes(agents)
            corners = box_corners(arrays.center_m[:, :2], arrays.size_m[:, :2], arrays.yaw_rad)
            collided |= bool(np.any(boxes_overlap(ego_corners(new_ego, cfg.vehicle), corners)))
            if ctx.drivable is not None:
                offroad |= offroad_distance_m(new_ego, cfg.vehicle, ctx.drivable) > cfg.offroad_tolerance_m
            log_ego = ctx.log.state_at(t_next) if t_next <= ctx.log.end_us else None
            records.append(StepRecord(t_next, new_ego, agents, log_ego=log_ego, command=command))
            ego = new_ego
        history = np.vstack([state.history[1:], [[ego.x_m, ego.y_m, ego.yaw_rad]]])
        s, _ = ctx.route.project(np.array([[ego.x_m, ego.y_m]]))
        new = SimState(
            ctx, state.decision + 1, ego, agents, arrays, memory, idm_state, tuple(records), history, None,
            collided, offroad, float(s[0]),
        )  # fmt: skip
        return self._check_occupancy(new)

    def _check_occupancy(self, state: SimState) -> SimState:
        """With ``occupancy_collision``: GT occupancy at the pose, cached in the state, and the
        last record's ``occ_collision``."""
        cfg = self.config
        if not cfg.occupancy_collision:
            return state
        gt = self.ground_truth(state)
        hit = occupancy_collision(gt, cfg.vehicle, cfg.occ_z_min_m, cfg.occ_z_max_m)
        records = state.records
        if hit:
            records = (*records[:-1], replace(records[-1], occ_collision=True))
        return replace(state, ground_truth=gt, records=records, collided=state.collided or hit)

    @staticmethod
    def _initial_history(frame0: Frame, ego, length: int) -> np.ndarray:
        """(length, 3) world (x, y, yaw) of the logged keyframes before the start, padded with the
        oldest, ending with the start pose."""
        past = se2_transform(frame0.ego_history, frame0.world_from_ego) if len(frame0.ego_history) else np.zeros((0, 3))
        poses = np.vstack([past, [[ego.x_m, ego.y_m, ego.yaw_rad]]])[-length:]
        return np.vstack([np.repeat(poses[:1], length - len(poses), axis=0), poses])

    def _agents_at(self, ctx: SimContext, idm_state, time_us: int) -> tuple[AgentBox, ...]:
        logged = ctx.world.agent_boxes(time_us)
        if ctx.idm is None:
            return logged
        driven = ctx.idm.instances
        return tuple(b for b in logged if b.instance not in driven) + idm_boxes(ctx.idm, idm_state, time_us)

    def _override(self, state: SimState):
        """Agent boxes to hand to World queries: None (the world's own tracks) under log replay."""
        return state.agents if state.context.idm is not None else None

    def _lidar(self, state: SimState, frame: Frame, n_sweeps: int) -> LidarSweep:
        """Re-cast LiDAR at the last ``n_sweeps`` substep poses (0.1 s apart), in the current ego frame."""
        ctx = state.context
        ego_from_world = state.world_from_ego.inverse()
        records = state.records[-n_sweeps:][::-1]
        pts, lags, origins, index = [], [], [], []
        for k, rec in enumerate(records):
            pose = Pose.from_xy_yaw(rec.ego.x_m, rec.ego.y_m, rec.ego.yaw_rad, ctx.log.z_at(rec.time_us))
            agents = rec.agents if ctx.idm is not None else None
            scan = ctx.world.lidar_scan(pose, rec.time_us, agents)
            cur_from_lidar = ego_from_world @ pose @ frame.ego_from_lidar
            p = scan.points_sensor.copy()
            p[:, :3] = cur_from_lidar.transform_points(p).astype(np.float32)
            pts.append(p)
            lags.append(np.full(len(p), (state.time_us - rec.time_us) * 1e-6, np.float32))
            origins.append(cur_from_lidar.translation_m)
            index.append(np.full(len(p), k, np.int16))
        return LidarSweep(np.concatenate(pts), np.concatenate(lags), np.array(origins), np.concatenate(index))

    def _cameras(self, state: SimState, frame: Frame, channels: tuple[str, ...]) -> tuple[CameraFrame, ...]:
        logged = {c.channel: c for c in frame.cameras}
        missing = [c for c in channels if c not in logged]
        if missing:
            raise ValueError(f"scenario {state.context.scenario.name}: keyframe has no camera {missing}")
        try:
            images = state.context.world.render_cameras(
                state.world_from_ego, state.time_us, channels, self._override(state)
            )
        except NotImplementedError:
            return tuple(logged[c] for c in channels)  # real logs: reuse the logged images
        return tuple(replace(logged[c], image=images[c][0], image_path=None) for c in channels)
