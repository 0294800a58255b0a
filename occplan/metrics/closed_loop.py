"""Closed-loop scores of a recorded episode (nuPlan / NAVSIM PDMS forms), pure functions of an EpisodeLog.

Per episode (all in the world frame; ego box from ``VehicleParams``, centred ``rear_axle_to_center_m``
ahead of the rear axle):

* collision: the ego box overlaps an agent box at some step, or ``StepRecord.occ_collision``;
* at fault (nuPlan ``get_collision_type``): for the first contact with each agent, no fault when the
  ego is stopped (speed <= 0.05 m/s) or the agent is behind (its centre over 150 deg off the ego
  heading); at fault for a stopped agent (speed <= 0.05 m/s), a front collision (the front edge of
  the ego box touches the agent) or a lateral one while the ego is not inside a single lane.
  Simplification: without lane geometry, "inside a single lane" means every ego corner within
  ``lane_half_width_m`` of the expert route. A voxel collision with no box contact at that step is
  an at-fault collision with a static object;
* NC (nuPlan multiplier): 0 after an at-fault collision with a vehicle, a pedestrian or a bicycle,
  or with more than one object; 0.5 after one object collision; else 1;
* off-road / DAC: a corner of the ego box more than 0.3 m outside the drivable area (NaN and DAC = 1
  without a map);
* progress ratio: ``min(1, max(ego, 0.1) / max(expert, 0.1))`` of the progress along the expert
  route (arc length of the projection), expert = the logged ego over the same steps;
* route completion: the farthest projection reached, as a fraction of the route ahead of the start;
* TTC: both boxes extrapolated at constant velocity at 0.1 s steps; fails when the ego (moving) would
  overlap an agent ahead of it within 0.95 s without already overlapping it;
* comfort: nuPlan bounds on Savitzky-Golay derivatives (window 7 at 10 Hz, order 2) of speed and
  heading;
* score: NC x DAC x (5 TTC + 5 EP + 2 C) / 12 with EP = progress ratio (PDMS form);
* log divergence: mean L2 between simulated and logged ego positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.signal import savgol_filter

from occplan.errors import ValidationError
from occplan.interfaces import Metric
from occplan.types import AgentBox, EgoState, EpisodeLog, VehicleParams

STOPPED_SPEED_MPS = 0.05
BEHIND_ANGLE_RAD = np.deg2rad(150.0)
VEHICLE_OR_VRU_PREFIXES = ("vehicle.", "human.pedestrian.")


@dataclass(frozen=True)
class ClosedLoopConfig:
    """nuPlan thresholds and the simplifications' parameters."""

    offroad_tolerance_m: float = 0.3
    ttc_bound_s: float = 0.95
    ttc_step_s: float = 0.1
    lane_half_width_m: float = 1.75
    min_progress_m: float = 0.1
    comfort_window: int = 7
    lon_accel_mps2: tuple[float, float] = (-4.05, 2.40)
    max_abs_lat_accel_mps2: float = 4.89
    max_abs_yaw_accel_radps2: float = 1.93
    max_abs_yaw_rate_radps: float = 0.95
    max_abs_lon_jerk_mps3: float = 4.13
    max_abs_jerk_mps3: float = 8.37


def ego_corners(states: list[EgoState], vehicle: VehicleParams, dt_ahead_s: float = 0.0) -> np.ndarray:
    """(N, 4, 2) world corners of the ego box per state (front-left, rear-left, rear-right,
    front-right), optionally extrapolated ``dt_ahead_s`` at constant speed along the heading."""
    yaw = np.array([s.yaw_rad for s in states])
    fwd = np.stack([np.cos(yaw), np.sin(yaw)], axis=1)
    left = np.stack([-fwd[:, 1], fwd[:, 0]], axis=1)
    speed = np.array([s.speed_mps for s in states])
    centre = (
        np.array([[s.x_m, s.y_m] for s in states]) + fwd * (vehicle.rear_axle_to_center_m + speed * dt_ahead_s)[:, None]
    )
    hl, hw = vehicle.length_m / 2, vehicle.width_m / 2
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float64)
    return centre[:, None] + signs[None, :, :1] * hl * fwd[:, None] + signs[None, :, 1:] * hw * left[:, None]


def _agent_polygons(agents: tuple[AgentBox, ...], dt_ahead_s: float = 0.0) -> np.ndarray:
    if not agents:
        return np.empty(0, dtype=object)
    corners = np.stack([a.corners_xy() + a.velocity_mps * dt_ahead_s for a in agents])
    return shapely.polygons(corners)


def _is_vru_or_vehicle(category: str) -> bool:
    return category.startswith(VEHICLE_OR_VRU_PREFIXES)


def _collisions(log: EpisodeLog, ego_polys: np.ndarray, corners: np.ndarray, route, cfg: ClosedLoopConfig):
    """-> (collided, nc multiplier, any at-fault)."""
    seen: set[str] = set()
    at_fault_objects = 0
    at_fault_vehicle = False
    collided = False
    occ_run = False
    for i, step in enumerate(log.steps):
        polys = _agent_polygons(step.agents)
        hits = np.flatnonzero(shapely.intersects(ego_polys[i], polys)) if len(polys) else np.empty(0, int)
        if step.occ_collision and not len(hits):
            collided = True
            if not occ_run:
                at_fault_objects += 1
            occ_run = True
        else:
            occ_run = False
        ego = step.ego
        heading = np.array([np.cos(ego.yaw_rad), np.sin(ego.yaw_rad)])
        front = shapely.LineString([corners[i, 0], corners[i, 3]])
        in_lane = bool(np.all(shapely.distance(shapely.points(corners[i]), route) <= cfg.lane_half_width_m))
        for k in hits:
            agent = step.agents[k]
            collided = True
            if agent.instance in seen:
                continue
            seen.add(agent.instance)
            rel = agent.center_m[:2] - np.array([ego.x_m, ego.y_m])
            behind = np.arccos(np.clip(rel @ heading / max(np.linalg.norm(rel), 1e-9), -1, 1)) > BEHIND_ANGLE_RAD
            if ego.speed_mps <= STOPPED_SPEED_MPS or (
                behind and np.linalg.norm(agent.velocity_mps) > STOPPED_SPEED_MPS
            ):
                continue
            fault = np.linalg.norm(agent.velocity_mps) <= STOPPED_SPEED_MPS or front.intersects(polys[k]) or not in_lane
            if fault:
                if _is_vru_or_vehicle(agent.category):
                    at_fault_vehicle = True
                else:
                    at_fault_objects += 1
    nc = 0.0 if at_fault_vehicle or at_fault_objects > 1 else (0.5 if at_fault_objects == 1 else 1.0)
    return collided, nc, at_fault_vehicle or at_fault_objects > 0


def _ttc_ok(log: EpisodeLog, cfg: ClosedLoopConfig) -> bool:
    states = [s.ego for s in log.steps]
    taus = (np.arange(int(np.floor(cfg.ttc_bound_s / cfg.ttc_step_s - 1e-9))) + 1) * cfg.ttc_step_s
    now = shapely.polygons(ego_corners(states, log.vehicle))
    ahead = [shapely.polygons(ego_corners(states, log.vehicle, tau)) for tau in taus]
    reach_m = np.hypot(log.vehicle.length_m, log.vehicle.width_m) + 10.0  # ego + largest agent box
    for i, step in enumerate(log.steps):
        ego = step.ego
        if ego.speed_mps <= STOPPED_SPEED_MPS or not step.agents:
            continue
        heading = np.array([np.cos(ego.yaw_rad), np.sin(ego.yaw_rad)])
        rel = np.stack([a.center_m[:2] for a in step.agents]) - np.array([ego.x_m, ego.y_m])
        speed = np.array([np.linalg.norm(a.velocity_mps) for a in step.agents])
        near = np.linalg.norm(rel, axis=1) < reach_m + (ego.speed_mps + speed) * cfg.ttc_bound_s
        candidates = np.flatnonzero((rel @ heading > 0) & near)
        if not len(candidates):
            continue
        agents = tuple(step.agents[k] for k in candidates)
        already = shapely.intersects(now[i], _agent_polygons(agents))
        for tau, ahead_tau in zip(taus, ahead, strict=True):
            if np.any(shapely.intersects(ahead_tau[i], _agent_polygons(agents, tau)) & ~already):
                return False
    return True


def _comfort_ok(log: EpisodeLog, cfg: ClosedLoopConfig) -> bool:
    n = len(log.steps)
    if n < 3:
        return True
    window = min(cfg.comfort_window, n if n % 2 else n - 1)
    dt = log.dt_s
    speed = np.array([s.ego.speed_mps for s in log.steps])
    yaw = np.unwrap([s.ego.yaw_rad for s in log.steps])

    def deriv(y: np.ndarray, k: int) -> np.ndarray:
        return savgol_filter(y, window, min(2, window - 1), deriv=k, delta=dt, mode="interp")

    lon_accel, lon_jerk = deriv(speed, 1), deriv(speed, 2)
    yaw_rate, yaw_accel = deriv(yaw, 1), deriv(yaw, 2)
    lat_accel = speed * yaw_rate
    lat_jerk = np.gradient(lat_accel, dt)
    lo, hi = cfg.lon_accel_mps2
    return bool(
        np.all((lon_accel >= lo) & (lon_accel <= hi))
        and np.all(np.abs(lat_accel) <= cfg.max_abs_lat_accel_mps2)
        and np.all(np.abs(yaw_accel) <= cfg.max_abs_yaw_accel_radps2)
        and np.all(np.abs(yaw_rate) <= cfg.max_abs_yaw_rate_radps)
        and np.all(np.abs(lon_jerk) <= cfg.max_abs_lon_jerk_mps3)
        and np.all(np.hypot(lon_jerk, lat_jerk) <= cfg.max_abs_jerk_mps3)
    )


def closed_loop_scores(episode: EpisodeLog, config: ClosedLoopConfig | None = None) -> dict[str, float]:
    """Scores of one episode as ``sim/*`` keys (0/1 indicators for the rates)."""
    cfg = config or ClosedLoopConfig()
    if not episode.steps:
        raise ValidationError(f"EpisodeLog[{episode.scenario}].steps: empty episode")
    if len(episode.route_xy_m) < 2:
        raise ValidationError(f"EpisodeLog[{episode.scenario}].route_xy_m: need at least 2 points")
    states = [s.ego for s in episode.steps]
    corners = ego_corners(states, episode.vehicle)
    ego_polys = shapely.polygons(corners)
    route = shapely.LineString(episode.route_xy_m)

    collided, nc, at_fault = _collisions(episode, ego_polys, corners, route, cfg)

    if episode.drivable_wkb is None:
        offroad, dac = float("nan"), 1.0
    else:
        drivable = shapely.from_wkb(episode.drivable_wkb)
        dist = shapely.distance(shapely.points(corners.reshape(-1, 2)), drivable)
        offroad = float(np.any(dist > cfg.offroad_tolerance_m))
        dac = 1.0 - offroad

    ego_xy = np.array([[s.x_m, s.y_m] for s in states])
    s_ego = shapely.line_locate_point(route, shapely.points(ego_xy))
    logged = [s.log_ego for s in episode.steps if s.log_ego is not None]
    if logged:
        s_log = shapely.line_locate_point(route, shapely.points([[e.x_m, e.y_m] for e in logged]))
        expert = float(s_log[-1] - s_log[0])
    else:
        expert = float(route.length - s_ego[0])
    ego_progress = float(s_ego[-1] - s_ego[0])
    progress_ratio = min(1.0, max(ego_progress, cfg.min_progress_m) / max(expert, cfg.min_progress_m))
    ahead = route.length - s_ego[0]
    completion = float(np.clip((s_ego.max() - s_ego[0]) / ahead, 0.0, 1.0)) if ahead > 0 else 1.0

    ttc = float(_ttc_ok(episode, cfg))
    comfort = float(_comfort_ok(episode, cfg))
    pairs = [(s.ego, s.log_ego) for s in episode.steps if s.log_ego is not None]
    divergence = float(np.mean([np.hypot(e.x_m - g.x_m, e.y_m - g.y_m) for e, g in pairs])) if pairs else float("nan")
    return {
        "sim/collision_rate": float(collided),
        "sim/at_fault_collision_rate": float(at_fault),
        "sim/offroad_rate": offroad,
        "sim/progress_ratio": progress_ratio,
        "sim/route_completion": completion,
        "sim/ttc_ok": ttc,
        "sim/comfort_ok": comfort,
        "sim/score": nc * dac * (5 * ttc + 5 * progress_ratio + 2 * comfort) / 12,
        "sim/log_divergence_m": divergence,
        "sim/no_at_fault_collision_multiplier": nc,
    }


class ClosedLoopMetric(Metric):
    """Mean of ``closed_loop_scores`` over episodes (NaN entries skipped), plus ``sim/n_episodes``."""

    def __init__(self, config: ClosedLoopConfig | None = None) -> None:
        self.config = config or ClosedLoopConfig()
        self.episodes: list[dict[str, float]] = []

    def reset(self) -> None:
        self.episodes = []

    def update(self, record: EpisodeLog) -> None:
        self.episodes.append(closed_loop_scores(record, self.config))

    def compute(self) -> dict[str, float]:
        if not self.episodes:
            return {"sim/n_episodes": 0.0}
        out = {}
        for key in self.episodes[0]:
            vals = np.array([e[key] for e in self.episodes])
            out[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        out["sim/n_episodes"] = float(len(self.episodes))
        return out

    def state(self) -> dict:
        """JSON-able state (the per-episode scores, NaN as None); ``merge_state`` appends them."""
        return {"episodes": [{k: (v if np.isfinite(v) else None) for k, v in e.items()} for e in self.episodes]}

    def merge_state(self, state: dict) -> None:
        """Append the episodes of a ``state()`` (None read back as NaN)."""
        for e in state["episodes"]:
            self.episodes.append({k: float("nan") if v is None else float(v) for k, v in e.items()})
