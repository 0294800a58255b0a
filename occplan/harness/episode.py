"""One scenario through the simulator core, in an open-loop and/or a closed-loop pass (``occplan.PROTOCOL_VERSION``).

Open-loop pass (ego on the log, logged sensors), once per keyframe: the model's prediction is
scored against the dataset's occupancy GT files where they exist (Occ3D ``labels.npz`` with its
masks, the same code path as ``occplan.evaluate``), else against the simulator's GT at the keyframe;
the planner's plan fills the open-loop planning table (nuScenes protocols: logged future, GT boxes
and GT occupancy of the next keyframes) with the logged trajectory as the human reference.

Closed-loop pass (ego on the plan, re-simulated sensors), per 0.5 s decision: perception scored
against the GT recomputed at the simulated pose (``closed/*`` keys), then ``sim.step``. The episode's
``EpisodeHistory`` is written to ``<out>/episodes/<scenario>.npz`` and scored (``sim/*``); the log
replayed through the same simulator gives the human reference (``ref/human/sim/*``).

The result is a JSON-able record carrying the mergeable metric state of each pass.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from occplan.harness.accumulate import MetricSet, RunMetrics
from occplan.harness.config import RunConfig
from occplan.harness.plugins import Plugins, instance
from occplan.interfaces import SensorRequest
from occplan.io import json_safe
from occplan.metrics import rayiou_origins
from occplan.metrics.planning import box_in_frame, planning_sample
from occplan.metrics.rayiou import scenario_rayiou_origins
from occplan.metrics.records import LidarSegStep, OccupancyStep, StepRuntime
from occplan.sim import SimConfig, SimState, Simulator
from occplan.types import Frame, LabelSet, OccupancyFrame, OccupancyPrediction, Scenario
from occplan.types.history import EpisodeHistory
from occplan.viz.bev import BevFrame, capture, render, save_gif, save_png
from occplan.world import World

LABELS = LabelSet.occ3d()
PASSES = {"both": ("open", "closed"), "open": ("open",), "closed": ("closed",)}


@cache
def data_source(dataroot: str, version: str):
    """One ``NuScenesSource`` per process and dataroot (Ray workers reuse it across scenarios)."""
    from occplan.data import NuScenesSource

    return NuScenesSource(dataroot, version)


def scenario_seed(seed: int, scene_name: str) -> int:
    """Episode seed of a scene: independent of scene order, worker and resume."""
    return zlib.crc32(f"{seed}:{scene_name}".encode())


def sim_config(config: RunConfig, mode: str = "closed") -> SimConfig:
    return SimConfig(mode=mode, agents=config.agents)


def lidar_world_positions(scenario: Scenario) -> np.ndarray:
    """(K, 3) world positions of LIDAR_TOP at every keyframe (RayIoU origins, SparseOcc)."""
    return np.stack([(f.world_from_ego @ f.ego_from_lidar).translation_m for f in scenario.frames])


def closed_camera_source(request: SensorRequest, world: World) -> str:
    """Where a model's cameras come from in closed loop: ``"none"`` (it reads no camera),
    ``"rendered"`` (at the simulated pose) or ``"logged"`` (the world cannot render, e.g. a real log:
    the images taken at the logged pose, which no longer match the ego once it leaves the log)."""
    if not request.cameras:
        return "none"
    return "rendered" if world.renders_cameras else "logged"


def semantics_only(gt: OccupancyFrame) -> OccupancyFrame:
    """The GT frame without flow and masks (what the voxel collision check needs; 16x smaller)."""
    return OccupancyFrame(gt.semantics, gt.grid, gt.labels, world_from_grid=gt.world_from_grid, time_us=gt.time_us)


@dataclass
class PassResult:
    """What one pass leaves: its metrics, per-step scalars, BEV frames and (closed loop) the history."""

    metrics: MetricSet
    steps: list[dict] = field(default_factory=list)
    bev: list[BevFrame] = field(default_factory=list)
    history: EpisodeHistory | None = None
    occ_gt_source: set[str] = field(default_factory=set)  # open loop: "dataset" and/or "simulator"


class ScenarioRun:
    """Runs one scenario's passes and accumulates their metrics (see the module docstring)."""

    def __init__(self, config: RunConfig, plugins: Plugins, scene_name: str) -> None:
        plugins.check(config)
        self.config = config
        self.source = data_source(config.data, config.version)
        self.scenario = self.source.scenario(scene_name)
        self.model = instance(plugins.model)
        self.planner = instance(plugins.planner)
        self.lidar_positions_m = lidar_world_positions(self.scenario)
        self.seed = scenario_seed(config.seed, self.scenario.name)
        self.route_source = "none"
        self.route_world_xy_m = np.zeros((0, 2))  # the planner's route (world), set by ``_start``
        self.closed_cameras: str | None = None  # set by ``run_closed``, see ``closed_camera_source``

    # --- shared per-decision pieces ---------------------------------------------------------
    def _start(self, sim: Simulator) -> SimState:
        self.model.reset(self.scenario.name)
        state = sim.reset(self.scenario, self.seed, source=self.source)
        init = sim.planner_init(state, privileged=self.planner.requires_privileged)
        self.route_source = init.route_source
        self.route_world_xy_m = init.route.centreline_xy_m
        self.planner.reset(init)
        return state

    def _predict(self, sim: Simulator, state: SimState) -> tuple[OccupancyPrediction, float]:
        """The model's prediction at the state and the time (ms) spent producing its sensors."""
        t0 = time.perf_counter()
        frame = sim.observe(state, self.model.sensor_request(), privileged=self.model.privileged)
        observe_ms = (time.perf_counter() - t0) * 1e3
        return self.model.predict(frame), observe_ms

    def _score_occupancy(self, out: PassResult, gt: OccupancyFrame, pred: OccupancyPrediction, origins) -> dict:
        """The pass's occupancy metrics at one step; returns their per-step scalars (``occ_iou_geo``)."""
        return out.metrics.update(OccupancyStep(gt, pred, origins))

    def _score_lidarseg(self, out: PassResult, state: SimState, key: Frame, pred: OccupancyPrediction) -> None:
        """The keyframe's labelled LiDAR points: the model's point labels when they are those points
        (open loop), else the predicted voxel holding each point (keyframe points moved into the
        simulated ego frame)."""
        gt_general = self.source.lidarseg(key)
        if gt_general is None:
            return
        if state.context.config.mode == "open" and pred.point_labels is not None:
            if len(pred.point_labels) == len(gt_general):
                out.metrics.update(LidarSegStep(gt_general, point_labels=pred.point_labels))
                return
        points = self.source.lidar(key, 1).points[:, :3].astype(np.float64)
        sim_from_key = state.world_from_ego.inverse() @ key.world_from_ego
        out.metrics.update(LidarSegStep(gt_general, points_m=sim_from_key.transform_points(points), pred=pred))

    def _capture(self, out: PassResult, state: SimState, gt, pred, plan, future_xy_m: np.ndarray, tag: str) -> None:
        if not self.config.plots:
            return
        ego_from_world = state.world_from_ego.inverse()
        agents = tuple(box_in_frame(b, ego_from_world) for b in state.agents)
        t = (state.time_us - state.context.log.start_us) * 1e-6
        title = f"{self.scenario.name} {tag} t={t:.1f}s"
        out.bev.append(capture(gt.semantics, pred.semantics, LABELS.free_index, agents, plan.poses[:, :2],
                               future_xy_m, title))  # fmt: skip

    def _limit(self, state: SimState) -> int:
        cfg = self.config
        return cfg.max_decisions if cfg.max_decisions is not None else state.context.num_decisions

    # --- open loop ----------------------------------------------------------------------------
    def run_open(self) -> PassResult:
        """Ego on the log; each keyframe scored once (perception and the open-loop planning table)."""
        sim = Simulator(sim_config(self.config, "open"))
        out = PassResult(MetricSet(sim.config.grid, LABELS, "open"))
        planning_gt: dict[str, OccupancyFrame | None] = {}  # semantics only, per keyframe

        def occupancy_of(frame: Frame) -> OccupancyFrame | None:
            """GT occupancy of a keyframe for ``col_occ``: what the keyframe was scored against, or the
            dataset's file of a keyframe the pass did not reach."""
            if frame.sample_token not in planning_gt:
                gt = self.source.occupancy(frame)
                planning_gt[frame.sample_token] = semantics_only(gt) if gt is not None else None
            return planning_gt[frame.sample_token]

        plans: list[tuple[int, object]] = []
        scored: set[str] = set()
        state = self._start(sim)
        limit = self._limit(state)
        while True:
            key = sim.keyframe(state)
            last = sim.done(state) or state.decision >= limit
            if key.sample_token not in scored:
                scored.add(key.sample_token)
                plan = self._open_keyframe(out, sim, state, key, planning_gt, plan_it=not last)
                if plan is not None:
                    plans.append((key.index, plan))
            if last:
                break
            state = sim.step(state, sim.log_future(state))
        for index, plan in plans:
            out.metrics.update(planning_sample(self.scenario, index, plan, occupancy_of))
        return out

    def _open_keyframe(self, out: PassResult, sim: Simulator, state: SimState, key: Frame, planning_gt: dict,
                       plan_it: bool):  # fmt: skip
        """Perception at keyframe ``key`` against its GT (the dataset's file, else the simulator's), kept
        in ``planning_gt`` for ``col_occ``; then (``plan_it``) the planner's plan."""
        gt_dataset = self.source.occupancy(key)
        gt = gt_dataset if gt_dataset is not None else sim.ground_truth(state)
        planning_gt[key.sample_token] = semantics_only(gt)
        out.occ_gt_source.add("dataset" if gt_dataset is not None else "simulator")
        pred, observe_ms = self._predict(sim, state)
        step = {"pass": "open", "decision": state.decision, "keyframe": key.index}
        step |= self._score_occupancy(out, gt, pred, scenario_rayiou_origins(self.scenario, key.index))
        self._score_lidarseg(out, state, key, pred)
        out.metrics.update(StepRuntime("model", self.model.timer.calls_ms[-1]))
        out.metrics.update(StepRuntime("sim", observe_ms))
        if not plan_it:
            out.steps.append(step)
            return None
        plan = self.planner.plan(sim.planner_input(state, pred, privileged=self.planner.requires_privileged))
        out.metrics.update(StepRuntime("planner", self.planner.timer.calls_ms[-1]))
        l2 = np.linalg.norm(plan.poses[:, :2] - key.future.xy_m, axis=1)
        step |= {"l2_at_3s_m": float(l2[-1]) if key.future_valid[-1] else float("nan")}
        out.steps.append(step)
        self._capture(out, state, gt, pred, plan, key.future.xy_m[key.future_valid], "open")
        return plan

    # --- closed loop ----------------------------------------------------------------------------
    def run_closed(self) -> PassResult:
        """Ego on the plan: perception against the GT at the simulated pose, the episode's history."""
        sim = Simulator(sim_config(self.config, "closed"))
        out = PassResult(MetricSet(sim.config.grid, LABELS, "closed"))
        lidarseg_done: set[str] = set()
        state = self._start(sim)
        self.closed_cameras = closed_camera_source(self.model.sensor_request(), state.context.world)
        limit = self._limit(state)
        while not sim.done(state) and state.decision < limit:
            gt = sim.ground_truth(state)
            pred, observe_ms = self._predict(sim, state)
            key = sim.keyframe(state)
            origins = rayiou_origins(state.world_from_ego, key.ego_from_lidar, self.lidar_positions_m, key.index)
            step = {"pass": "closed", "decision": state.decision}
            step |= self._score_occupancy(out, gt, pred, origins)
            if key.sample_token not in lidarseg_done:
                lidarseg_done.add(key.sample_token)
                self._score_lidarseg(out, state, key, pred)
            plan = self.planner.plan(sim.planner_input(state, pred, privileged=self.planner.requires_privileged))
            if self.config.plots:
                self._capture(out, state, gt, pred, plan, sim.log_future(state).xy_m, "closed")
            t1 = time.perf_counter()
            nxt = sim.step(state, plan)
            step_ms = observe_ms + (time.perf_counter() - t1) * 1e3
            out.metrics.update(StepRuntime("model", self.model.timer.calls_ms[-1]))
            out.metrics.update(StepRuntime("planner", self.planner.timer.calls_ms[-1]))
            out.metrics.update(StepRuntime("sim", step_ms))
            step |= {"speed_mps": state.ego.speed_mps, "deviation_m": sim.pose_deviation_m(state), "sim_ms": step_ms}
            out.steps.append(step)
            state = nxt
        out.history = sim.episode_history(state, self.route_world_xy_m)
        out.metrics.update(out.history)
        return out

    def human_reference(self, decisions: int) -> MetricSet:
        """The logged ego replayed through the simulator for ``decisions`` decisions and scored by the
        same closed-loop code (no perception, no planner)."""
        sim = Simulator(sim_config(self.config, "open"))
        state = sim.reset(self.scenario, self.seed, source=self.source)
        while not sim.done(state) and state.decision < decisions:
            state = sim.step(state, sim.log_future(state))
        metrics = MetricSet(sim.config.grid, LABELS, "human")
        metrics.update(sim.episode_history(state, self.route_world_xy_m))
        return metrics

    def write_plots(self, frames: list[BevFrame], plots_dir: Path, tag: str) -> list[str]:
        """BEV GIF of every decision and a PNG of the middle one; returns paths relative to the run."""
        if not frames:
            return []
        grid = SimConfig().grid
        images = [render(f, grid, LABELS, SimConfig().vehicle) for f in frames]
        gif = save_gif(images, plots_dir / f"bev_{self.scenario.name}_{tag}.gif")
        png = save_png(images[len(images) // 2], plots_dir / f"bev_{self.scenario.name}_{tag}.png")
        return [f"{plots_dir.name}/{gif.name}", f"{plots_dir.name}/{png.name}"]


def run_scenario(config: RunConfig, plugins: Plugins, scene_name: str) -> dict:
    """Run the passes of ``config.mode`` on one scenario; returns its JSON-able record: name, seed,
    per-scenario metrics, per-step scalars, plot paths, meta and the mergeable ``state`` of each pass
    (``open``, ``closed``, ``human``: None when the pass did not run).

    ``plugins`` builds the model and the planner ``config`` names (``occplan.harness.plugins``);
    ``config.data`` / ``config.version`` must be resolved (see ``occplan.harness.runner``); plots go
    to ``<config.out>/plots`` and episode histories to ``<config.out>/episodes`` (closed loop).
    """
    run = ScenarioRun(config, plugins, scene_name)
    passes = PASSES[config.mode]
    results = {p: (run.run_open() if p == "open" else run.run_closed()) for p in passes}
    human = None
    if "closed" in results:
        closed = results["closed"]
        closed.history.save(Path(config.out) / "episodes" / f"{scene_name}.npz")
        human = run.human_reference(len(closed.steps))
    states = {p: (results[p].metrics.state() if p in results else None) for p in PASSES["both"]}
    states["human"] = human.state() if human is not None else None
    plots = []
    if config.plots:
        for p, r in results.items():
            plots += run.write_plots(r.bev, Path(config.out) / "plots", p)
    sources = sorted(set().union(*(r.occ_gt_source for r in results.values())))
    return json_safe(
        {
            "scenario": scene_name,
            "seed": run.seed,
            "n_steps": {p: len(r.steps) for p, r in results.items()},
            "metrics": RunMetrics.merged(SimConfig().grid, LABELS, [states]).compute(),
            "steps": [s for r in results.values() for s in r.steps],
            "plots": plots,
            "meta": {
                "grid": SimConfig().grid.name,
                "label_set": LABELS.name,
                "privileged_model": run.model.privileged,
                "privileged_planner": run.planner.requires_privileged,
                "route_source": run.route_source,
                "occ_gt_source": "+".join(sources) or "none",
                "closed_cameras": run.closed_cameras,
            },
            "state": states,
        }
    )
