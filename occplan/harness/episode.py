"""One scenario through the simulator core: perception, metrics, planning, simulation, per decision.

Per 0.5 s decision (the same ``occplan.sim.Simulator`` calls as the Gymnasium env):
``sim.ground_truth`` -> ``sim.observe`` (the model's sensor request; GT attached for privileged
models) -> ``model.predict`` -> perception metrics against the GT at the simulated pose (occupancy
mIoU with the GT's masks, RayIoU + flow from the scene's keyframe LiDAR origins, LiDAR-seg against
the nearest keyframe's lidarseg labels when the data has them) -> ``sim.planner_input`` ->
``planner.plan`` -> ``sim.step``. At the end, the open-loop planning table (plan vs logged future,
GT boxes and GT occupancy of the simulated episode) and the closed-loop scores of
``sim.episode_log``. The result is a JSON-able record carrying the mergeable metric state.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from occplan.harness.accumulate import MetricSet, mask_variants
from occplan.harness.config import RunConfig
from occplan.interfaces import PerceptionModel, Planner
from occplan.metrics import PlanningSample, rayiou_origins
from occplan.metrics.confusion import confusion_counts
from occplan.metrics.occupancy import geometric_iou
from occplan.metrics.planning import box_in_frame
from occplan.sim import SimConfig, SimState, Simulator
from occplan.types import Frame, LabelSet, OccupancyFrame, OccupancyPrediction, Pose, Scenario, StepRecord, Trajectory
from occplan.viz.bev import BevFrame, capture, render, save_gif, save_png

LABELS = LabelSet.occ3d()


@cache
def data_source(dataroot: str, version: str):
    """One ``NuScenesSource`` per process and dataroot (Ray workers reuse it across scenarios)."""
    from occplan.data import NuScenesSource

    return NuScenesSource(dataroot, version)


@cache
def perception_model(name: str) -> PerceptionModel:
    """One model per process (weights load once); ``reset`` separates scenarios."""
    import models

    return models.create(name)


@cache
def planner_plugin(name: str) -> Planner:
    import planners

    return planners.create(name)


def scenario_seed(seed: int, scene_name: str) -> int:
    """Episode seed of a scene: independent of scene order, worker and resume."""
    return zlib.crc32(f"{seed}:{scene_name}".encode())


def sim_config(config: RunConfig) -> SimConfig:
    return SimConfig(mode=config.mode, agents=config.agents)


@dataclass(frozen=True)
class Decision:
    """What the harness keeps of one decision for the planning table: time, simulated pose (world),
    plan and logged future in that ego frame, and which logged waypoints lie inside the episode."""

    index: int
    time_us: int
    world_from_ego: Pose
    plan: Trajectory
    log_future: Trajectory
    log_valid: np.ndarray


def lidar_world_positions(scenario: Scenario) -> np.ndarray:
    """(K, 3) world positions of LIDAR_TOP at every keyframe (RayIoU origins, SparseOcc)."""
    return np.stack([(f.world_from_ego @ f.ego_from_lidar).translation_m for f in scenario.frames])


def semantics_only(gt: OccupancyFrame) -> OccupancyFrame:
    """The GT frame without flow and masks (what the voxel collision check needs; 16x smaller)."""
    return OccupancyFrame(gt.semantics, gt.grid, gt.labels, world_from_grid=gt.world_from_grid, time_us=gt.time_us)


class ScenarioRun:
    """Runs one scenario and accumulates its metrics (see the module docstring)."""

    def __init__(self, config: RunConfig, scene_name: str) -> None:
        self.config = config
        self.source = data_source(config.data, config.version)
        self.scenario = self.source.scenario(scene_name)
        self.sim = Simulator(sim_config(config))
        self.model = perception_model(config.model)
        self.planner = planner_plugin(config.planner)
        self.metrics = MetricSet(self.sim.config.grid, LABELS)
        self.lidar_positions_m = lidar_world_positions(self.scenario)
        self.lidarseg_done: set[str] = set()
        self.decisions: list[Decision] = []
        self.gt_by_time: dict[int, OccupancyFrame] = {}
        self.steps: list[dict] = []
        self.bev: list[BevFrame] = []

    # --- perception -------------------------------------------------------------------------
    def _perception_metrics(self, state: SimState, key: Frame, gt: OccupancyFrame, pred: OccupancyPrediction) -> dict:
        occ = self.metrics.ensure_occ(mask_variants(gt))
        occ.update((gt, pred))
        origins = rayiou_origins(state.world_from_ego, key.ego_from_lidar, self.lidar_positions_m, ref_index=key.index)
        flows = (gt.flow, pred.flow) if gt.flow is not None and pred.flow is not None else (None, None)
        self.metrics.ray.update_arrays(gt.semantics, pred.semantics, origins, *flows)
        self._lidarseg(state, key, pred)
        mask = gt.mask_camera if gt.mask_camera is not None else None
        hist = confusion_counts(gt.semantics, pred.semantics, LABELS.num_classes, mask)
        return {"occ_iou_geo": geometric_iou(hist, LABELS.free_index)}

    def _lidarseg(self, state: SimState, key: Frame, pred: OccupancyPrediction) -> None:
        """Score the nearest keyframe's labelled LiDAR points once: the model's point labels in open
        loop (same points, same order), else the predicted voxel containing each point (the
        keyframe points moved into the simulated ego frame)."""
        if key.sample_token in self.lidarseg_done:
            return
        gt_general = self.source.lidarseg(key)
        if gt_general is None:
            return
        self.lidarseg_done.add(key.sample_token)
        if self.config.mode == "open" and pred.point_labels is not None and len(pred.point_labels) == len(gt_general):
            self.metrics.lidarseg.update((gt_general, pred.point_labels))
            return
        points = self.source.lidar(key, 1).points[:, :3].astype(np.float64)
        sim_from_key = state.world_from_ego.inverse() @ key.world_from_ego
        self.metrics.lidarseg.update_from_voxels(
            sim_from_key.transform_points(points), gt_general, pred.semantics, pred.grid, pred.labels
        )

    # --- loop -------------------------------------------------------------------------------
    def run(self) -> SimState:
        sim, model, planner, cfg = self.sim, self.model, self.planner, self.config
        model.reset(self.scenario)
        planner.reset(sim.planner_init(self.scenario, privileged=planner.requires_privileged))
        n_model, n_planner = len(model.timer.calls_ms), len(planner.timer.calls_ms)
        sim_ms: list[float] = []
        state = sim.reset(self.scenario, scenario_seed(cfg.seed, self.scenario.name), source=self.source)
        limit = cfg.max_decisions if cfg.max_decisions is not None else state.context.num_decisions
        while not sim.done(state) and state.decision < limit:
            t0 = time.perf_counter()
            gt = sim.ground_truth(state)
            self.gt_by_time[state.time_us] = semantics_only(gt)
            frame = sim.observe(state, model.sensor_request(), privileged=model.privileged)
            t_observe_ms = (time.perf_counter() - t0) * 1e3
            pred = model.predict(frame)
            key = sim.keyframe(state)
            step = {"decision": state.decision, "time_s": (state.time_us - state.context.log.start_us) * 1e-6}
            step |= self._perception_metrics(state, key, gt, pred)
            inp = sim.planner_input(state, pred, privileged=planner.requires_privileged)
            plan = planner.plan(inp)
            self._record_decision(state, plan, gt, pred)
            t1 = time.perf_counter()
            nxt = sim.step(state, plan)
            sim_ms.append(t_observe_ms + (time.perf_counter() - t1) * 1e3)
            d = self.decisions[-1]
            l2 = np.linalg.norm(plan.poses[:, :2] - d.log_future.poses[:, :2], axis=1)
            step |= {
                "speed_mps": state.ego.speed_mps,
                "deviation_m": sim.pose_deviation_m(state),
                "l2_at_3s_m": float(l2[-1]) if d.log_valid[-1] else float("nan"),
                "model_ms": model.timer.calls_ms[-1],
                "planner_ms": planner.timer.calls_ms[-1],
                "sim_ms": sim_ms[-1],
            }
            self.steps.append(step)
            state = nxt
        self.gt_by_time[state.time_us] = semantics_only(sim.ground_truth(state))
        self.metrics.runtime_ms["model"] = model.timer.calls_ms[n_model:]
        self.metrics.runtime_ms["planner"] = planner.timer.calls_ms[n_planner:]
        self.metrics.runtime_ms["sim"] = sim_ms
        return state

    def _record_decision(
        self, state: SimState, plan: Trajectory, gt: OccupancyFrame, pred: OccupancyPrediction
    ) -> None:
        log = state.context.log
        future = self.sim.log_future(state)
        times = state.time_us + np.round(future.sampling.times_s * 1e6).astype(np.int64)
        decision = Decision(state.decision, state.time_us, state.world_from_ego, plan, future, times <= log.end_us)
        self.decisions.append(decision)
        if self.config.plots:
            ego_from_world = state.world_from_ego.inverse()
            agents = tuple(box_in_frame(b, ego_from_world) for b in state.agents)
            title = f"{self.scenario.name} t={(state.time_us - log.start_us) * 1e-6:.1f}s"
            self.bev.append(
                capture(gt.semantics, pred.semantics, LABELS.free_index, agents, plan.poses[:, :2],
                        future.xy_m[decision.log_valid], title)
            )  # fmt: skip

    # --- planning table + closed loop -------------------------------------------------------
    def finish(self, final: SimState) -> None:
        """Open-loop planning rows of every decision, then the episode's closed-loop scores."""
        records = {r.time_us: r for r in final.records}
        for d in self.decisions:
            self.metrics.plan.update(self._planning_sample(d, records))
        self.metrics.closed_loop.update(self.sim.episode_history(final))

    def _planning_sample(self, d: Decision, records: dict[int, StepRecord]) -> PlanningSample:
        """Logged future in the simulated ego frame; a step is valid when the log and the simulated
        episode both reach it. GT boxes = the simulated agents at that time; GT occupancy = the
        simulator's GT at the simulated pose of that decision."""
        ego_from_world = d.world_from_ego.inverse()
        times = d.time_us + np.round(d.plan.sampling.times_s * 1e6).astype(np.int64)
        valid = d.log_valid & np.array([int(t) in records for t in times])
        agents = tuple(
            tuple(box_in_frame(b, ego_from_world) for b in records[int(t)].agents) if ok else ()
            for t, ok in zip(times, valid, strict=True)
        )
        occupancy = tuple(self.gt_by_time.get(int(t)) if ok else None for t, ok in zip(times, valid, strict=True))
        return PlanningSample(
            f"{self.scenario.name}:{d.index:03d}", d.plan.poses, d.log_future.xy_m.copy(), valid, agents, occupancy,
            d.world_from_ego,
        )  # fmt: skip

    def write_plots(self, plots_dir: Path) -> list[str]:
        """BEV GIF of every decision and a PNG of the middle one; returns paths relative to the run."""
        if not self.bev:
            return []
        images = [render(f, self.sim.config.grid, LABELS, self.sim.config.vehicle) for f in self.bev]
        gif = save_gif(images, plots_dir / f"bev_{self.scenario.name}.gif")
        png = save_png(images[len(images) // 2], plots_dir / f"bev_{self.scenario.name}.png")
        return [f"{plots_dir.name}/{gif.name}", f"{plots_dir.name}/{png.name}"]


def json_safe(value):
    """Non-finite floats -> None, numpy scalars -> Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def run_scenario(config: RunConfig, scene_name: str) -> dict:
    """Run one scenario; returns its JSON-able record: name, seed, per-scenario metrics, per-step
    scalars, plot paths and the mergeable ``state`` of every metric.

    ``config.data`` / ``config.version`` must be resolved (see ``occplan.harness.runner``); plots go
    to ``<config.out>/plots`` when ``config.plots``.
    """
    run = ScenarioRun(config, scene_name)
    final = run.run()
    run.finish(final)
    plots = run.write_plots(Path(config.out) / "plots") if config.plots else []
    return json_safe(
        {
            "scenario": scene_name,
            "seed": scenario_seed(config.seed, scene_name),
            "n_decisions": len(run.decisions),
            "metrics": run.metrics.compute(),
            "steps": run.steps,
            "plots": plots,
            "meta": {
                "grid": run.sim.config.grid.name,
                "label_set": LABELS.name,
                "privileged_model": run.model.privileged,
                "privileged_planner": run.planner.requires_privileged,
            },
            "state": run.metrics.state(),
        }
    )
