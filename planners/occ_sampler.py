"""``occ_sampler``: ST-P3-style sampling planner over predicted occupancy and flow.

Candidates = constant-acceleration speed profiles x curvatures, plus candidates following the
reference path (``planners.reference``: the map route's lane centrelines, or without lanes a path to
the mission goal over the drivable area) at lateral offsets (``planners.lattice``), speeds capped at
the reference's speed limit and at the speed from which the curves ahead can be met. Each is scored
against the occupancy forecast (obstacles moved with their flow to every waypoint time): collision
(weighted by speed, earlier = worse), clearance, drivable area, sidewalk, progress along the route,
route deviation, comfort and consistency with the previous decision's plan. The cheapest wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from occplan.interfaces import Planner, PlannerInit, PlannerInput
from occplan.rules.comfort import ComfortBounds
from occplan.types import Trajectory, VehicleParams
from planners import costs
from planners.consistency import PreviousPlan
from planners.footprint import Footprint
from planners.kinematics import comfort_violation, motion_profile
from planners.lattice import Candidates, LatticeConfig, lattice_with_route
from planners.reference import ReferenceConfig, ReferenceFollower
from planners.route import Path
from planners.scene import SceneConfig, SceneForecast, build_scene


@dataclass(frozen=True)
class OccSamplerConfig:
    """Cost weights (cost units per the unit in each name) and the sub-configs.

    collision: ``w_collision * decay**k * (1 + speed_mps)`` per colliding waypoint k (0-based; checked
    ``lattice.check_steps`` times per waypoint interval, each check weighing 1 / check_steps);
    clearance: ``w_clearance * max(margin - clearance, 0)**2 * min(speed / clearance_speed_mps, 1)`` per
    waypoint (passing close at a crawl is cheap; contact is the collision term's);
    off-road: ``w_offroad_per_m`` per metre of the worst corner beyond ``offroad_tolerance_m`` (per
    waypoint, checked like collisions);
    sidewalk: ``w_sidewalk`` per waypoint fully on sidewalk; progress: ``-w_progress_per_m`` per metre
    along the route; route deviation: ``w_lateral_per_m2`` x mean squared offset and
    ``w_heading_per_rad2`` x mean squared heading error; comfort: ``w_comfort`` per unit of normalised
    nuPlan bound violation plus ``w_accel_per_mps2_sq`` x squared profile acceleration plus
    ``w_jerk_per_mps2_sq`` x squared change from the current acceleration; consistency:
    ``w_consistency_per_m2`` x mean squared distance to the previous decision's plan at the same times;
    headway: ``w_ttc`` per waypoint whose constant-velocity projection over ``ttc_s`` hits an obstacle.
    Speeds: at most the reference's speed limit and ``curve_speed_limit_mps`` (curves ahead met at
    ``max_lat_accel_mps2`` after braking at ``curve_decel_mps2``).
    """

    lattice: LatticeConfig = field(default_factory=LatticeConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    vehicle: VehicleParams = field(default_factory=VehicleParams)
    comfort: ComfortBounds = field(default_factory=ComfortBounds)
    w_collision: float = 1000.0
    collision_decay: float = 0.85
    w_clearance: float = 100.0
    clearance_margin_m: float = 0.3
    w_offroad_per_m: float = 60.0
    offroad_tolerance_m: float = 0.05
    w_sidewalk: float = 20.0
    w_progress_per_m: float = 1.0
    w_lateral_per_m2: float = 0.5
    w_heading_per_rad2: float = 5.0
    w_comfort: float = 10.0
    w_accel_per_mps2_sq: float = 0.3
    w_jerk_per_mps2_sq: float = 0.5
    w_consistency_per_m2: float = 0.3
    w_ttc: float = 30.0
    ttc_s: float = 0.95
    max_lat_accel_mps2: float = 2.5
    curve_decel_mps2: float = 2.0
    curve_lookahead_m: float = 80.0
    clearance_speed_mps: float = 3.0


@dataclass(frozen=True)
class ScoredCandidates:
    """Candidates with their total cost (N,) and the per-term costs (name -> (N,))."""

    candidates: Candidates
    cost: np.ndarray
    terms: dict[str, np.ndarray]


def score_candidates(
    cand: Candidates,
    scene: SceneForecast,
    path: Path | None,
    inp: PlannerInput,
    cfg: OccSamplerConfig,
    previous: np.ndarray | None = None,
) -> ScoredCandidates:
    """Cost of each candidate; ``scene`` steps must match the candidates' pose times; ``previous``
    (T-1, 3) the previous plan at the times of waypoints 0..T-2 (``PreviousPlan.overlap``) or None."""
    fp = Footprint.from_vehicle(cfg.vehicle)
    r = cand.per_waypoint
    steps = np.arange(cand.poses.shape[1]) + 1
    wp, wp_steps, wp_speed = cand.waypoints, steps[r - 1 :: r], cand.speeds_mps[:, r - 1 :: r]
    decay = cfg.collision_decay ** (steps / r - 1)
    col = costs.collisions(scene, cand.poses, steps, fp)
    clear = costs.clearance_m(scene, wp, wp_steps, fp)
    off = costs.offroad_m(scene, cand.poses, fp)
    side = costs.sidewalk_share(scene, wp, fp)
    route = costs.route_progress(path, wp)
    ttc = costs.time_to_collision_violated(scene, wp, wp_steps, wp_speed, fp, cfg.ttc_s, 2)
    ego = inp.ego_state
    motion = motion_profile(wp, inp.sampling.interval_s, ego.speed_mps, ego.accel_mps2, ego.yaw_rate_radps)
    terms = {
        "collision": cfg.w_collision * (col * decay * (1.0 + cand.speeds_mps)).sum(axis=1) / r,
        "clearance": cfg.w_clearance
        * (
            np.maximum(cfg.clearance_margin_m - clear, 0.0) ** 2 * np.minimum(wp_speed / cfg.clearance_speed_mps, 1.0)
        ).sum(axis=1),
        "offroad": cfg.w_offroad_per_m * np.maximum(off - cfg.offroad_tolerance_m, 0.0).sum(axis=1) / r,
        "sidewalk": cfg.w_sidewalk * side.sum(axis=1),
        "progress": -cfg.w_progress_per_m * route.progress_m,
        "route": cfg.w_lateral_per_m2 * (route.lateral_m**2).mean(axis=1)
        + cfg.w_heading_per_rad2 * (route.heading_error_rad**2).mean(axis=1),
        "comfort": cfg.w_comfort * comfort_violation(cfg.comfort, motion)
        + cfg.w_accel_per_mps2_sq * cand.accel_mps2**2
        + cfg.w_jerk_per_mps2_sq * (cand.accel_mps2 - ego.accel_mps2) ** 2,
        "ttc": cfg.w_ttc * ttc.sum(axis=1),
        "consistency": np.zeros(len(cand)),
    }
    if previous is not None:
        gap = wp[:, :-1, :2] - previous[None, :, :2]
        terms["consistency"] = cfg.w_consistency_per_m2 * (gap**2).sum(axis=2).mean(axis=1)
    return ScoredCandidates(cand, sum(terms.values()), terms)


def curve_speed_limit_mps(path: Path, cfg: OccSamplerConfig) -> float:
    """The highest speed from which braking at ``curve_decel_mps2`` meets the path's curve speed cap
    (``Path.curve_speed_cap_mps`` at ``max_lat_accel_mps2``) everywhere within ``curve_lookahead_m``."""
    travel = np.arange(0.0, cfg.curve_lookahead_m, 0.5)
    cap = path.curve_speed_cap_mps(travel, cfg.max_lat_accel_mps2)
    return float(np.sqrt(cap**2 + 2.0 * cfg.curve_decel_mps2 * travel).min())


class OccSamplerPlanner(Planner):
    """Lowest-cost candidate of a trajectory lattice scored against forecast occupancy."""

    name = "occ_sampler"

    def __init__(self, config: OccSamplerConfig | None = None) -> None:
        super().__init__()
        self.config = config or OccSamplerConfig()
        self._previous: PreviousPlan | None = None
        self._reference = ReferenceFollower(None, self.config.reference)

    def _reset(self, init: PlannerInit) -> None:
        self._previous = None
        self._reference = ReferenceFollower(init, self.config.reference)

    def evaluate(self, inp: PlannerInput) -> ScoredCandidates:
        """Build the forecast, the candidates and their costs (exposed for inspection and tests)."""
        cfg = self.config
        fp = Footprint.from_vehicle(cfg.vehicle)
        r = cfg.lattice.check_steps
        step_s, n_steps = inp.sampling.interval_s / r, inp.sampling.num_poses * r
        scene = build_scene(inp.occupancy, step_s, n_steps, fp.corners_m, inp.drivable_bev, cfg.scene)
        ref = self._reference.refine(self._reference.reference(inp), scene, cfg.scene.moving_threshold_mps)
        path = Path.from_polyline(ref.xy_m)
        if path is not None:
            scene = scene.along(path, cfg.scene)
        limit = ref.speed_limit_mps if path is None else min(ref.speed_limit_mps, curve_speed_limit_mps(path, cfg))
        lattice = replace(cfg.lattice, speed_limit_mps=limit)
        cand = lattice_with_route(inp.ego_state, path, inp.sampling, lattice)
        previous = self._previous.overlap(inp) if self._previous is not None else None
        return score_candidates(cand, scene, path, inp, cfg, previous)

    def _plan(self, inp: PlannerInput) -> Trajectory:
        scored = self.evaluate(inp)
        best = int(np.argmin(scored.cost))
        plan = Trajectory(np.ascontiguousarray(scored.candidates.waypoints[best]), inp.sampling)
        self._previous = PreviousPlan(inp.time_us, inp.ego_state, plan)
        return plan
