"""``pdm``: a PDM-Closed-style planner on occupancy (Dauner et al. 2023, tuplan_garage).

Proposals follow the reference path (``planners.reference``: the map route's lane centrelines, or
without lanes a path to the mission goal over the drivable area) at lateral offsets, each driven by
IDM towards a fraction of the speed limit (the map's, else the documented default), capped where the
path curves; the leading obstacle of each proposal is read from the occupancy forecast (obstacles
moved with their flow) along the proposal's corridor. Proposals are scored with the PDMS terms: no
collision x drivable area x (5 TTC + 5 progress + 2 comfort) / 12; the best one is returned. The TTC
probes count an obstacle cell as the simulator's contact rule does (its centre inside the box), so
that a box grazing a cell's corner in a tight passage does not make every moving proposal lose to
standing still.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.ndimage import minimum_filter1d

from occplan.interfaces import Planner, PlannerInit, PlannerInput
from occplan.rules.comfort import ComfortBounds
from occplan.rules.idm import IDMParams, idm_accel
from occplan.rules.obstacles import contact_inset_m
from occplan.types import Trajectory, VehicleParams
from planners import costs
from planners.footprint import Footprint
from planners.kinematics import comfort_violation, fine_times, motion_profile
from planners.lattice import follow_path
from planners.reference import ReferenceConfig, ReferenceFollower
from planners.route import Path
from planners.scene import SceneConfig, SceneForecast, build_scene

PDM_IDM = IDMParams(decel_comfort_mps2=3.0, min_gap_m=1.0, decel_max_mps2=6.0)
"""IDM of the proposals: tuplan_garage PDM-Closed defaults plus a hard braking limit."""


@dataclass(frozen=True)
class PDMConfig:
    """Proposals: ``speed_fractions`` of the reference's speed limit (0 = stop) x ``lateral_offsets_m``
    (ties go to the earlier entry); curves cap the target speed to ``sqrt(max_lat_accel / curvature)`` over
    ``curve_preview_m`` ahead. Leaders: obstacles within the corridor (ego width + 2 x
    ``corridor_margin_m``) occupied at the current forecast step or up to ``leader_lookahead_s``
    later, up to ``lookahead_m`` ahead. IDM is integrated with ``integration_steps`` per waypoint
    interval; collisions and drivable area are checked ``check_steps`` times per interval.
    A corridor cell counts when any part of it meets the corridor, already up to a cell wider than the
    simulator's contact rule, so the default margin is 0 (a wider one stops the ego before gaps it can pass).
    Scoring: off-road beyond ``offroad_tolerance_m`` fails drivable-area compliance (0 by default: the
    drivable BEV already counts a drivable cell to its edge, and its rasterisation leaves up to a
    cell of error against the map); when the best passing progress is below ``min_progress_m`` every
    proposal gets full progress."""

    speed_fractions: tuple[float, ...] = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
    lateral_offsets_m: tuple[float, ...] = (0.0, -0.5, 0.5, -1.0, 1.0)
    max_lat_accel_mps2: float = 2.5
    curve_preview_m: float = 15.0
    corridor_margin_m: float = 0.0
    leader_lookahead_s: float = 1.0
    lookahead_m: float = 80.0
    path_step_m: float = 0.5
    integration_steps: int = 4
    check_steps: int = 2
    min_blend_m: float = 8.0
    blend_time_s: float = 2.0
    offroad_tolerance_m: float = 0.0
    min_progress_m: float = 5.0
    score_tie_tolerance: float = 1e-3
    idm: IDMParams = field(default_factory=lambda: PDM_IDM)
    scene: SceneConfig = field(default_factory=SceneConfig)
    vehicle: VehicleParams = field(default_factory=VehicleParams)
    comfort: ComfortBounds = field(default_factory=ComfortBounds)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)


@dataclass(frozen=True)
class Proposals:
    """``poses`` (N, M, 3) and ``speeds_mps`` (N, M) at ``per_waypoint`` checks per waypoint interval;
    ``target_speed_mps`` (N,); ``offset_m`` (N,); ``score`` (N,) PDMS-form score; ``terms`` name -> (N,)
    (nc, dac, ttc, ep, comfort in {0, 1} or [0, 1]; progress_m; fallback, the ranking used when every
    score is 0)."""

    poses: np.ndarray
    speeds_mps: np.ndarray
    target_speed_mps: np.ndarray
    offset_m: np.ndarray
    score: np.ndarray
    terms: dict[str, np.ndarray]
    per_waypoint: int

    @property
    def waypoints(self) -> np.ndarray:
        return self.poses[:, self.per_waypoint - 1 :: self.per_waypoint]


@dataclass(frozen=True)
class _Corridors:
    """Per lateral offset o, forecast step k and path sample j (travel ``travel_m[j]`` from now):
    ``next_hit[o, k, j]`` index of the first occupied sample at or after j (J when none),
    ``lead_speed_mps[o, k, j]`` the obstacle speed along the path there; ``speed_cap_mps`` (J,) the
    curvature speed cap at each sample (previewed)."""

    travel_m: np.ndarray
    next_hit: np.ndarray
    lead_speed_mps: np.ndarray
    speed_cap_mps: np.ndarray


def _corridors(scene: SceneForecast, path: Path, v0: float, offsets: np.ndarray, cfg: PDMConfig) -> _Corridors:
    travel = np.arange(0.0, cfg.lookahead_m, cfg.path_step_m)
    centre = follow_path(
        path, v0, np.broadcast_to(travel, (len(offsets), len(travel))), offsets, cfg.min_blend_m, cfg.blend_time_s
    )  # (O, J, 3)
    half = cfg.vehicle.width_m / 2 + cfg.corridor_margin_m
    across = np.linspace(-half, half, max(3, int(np.ceil(2 * half / scene.cell_m)) + 1))
    c, s = np.cos(centre[..., 2])[..., None], np.sin(centre[..., 2])[..., None]
    pts = np.stack([centre[..., 0, None] - s * across, centre[..., 1, None] + c * across], axis=-1)  # (O, J, W, 2)
    ix, iy, inside = scene.cells(pts)
    union = scene.obstacles.copy()
    n_k = len(union)
    for d in range(1, round(cfg.leader_lookahead_s / scene.dt_s) + 1):
        union[: n_k - d] |= scene.obstacles[d:]
    occ = union[:, ix, iy] & inside  # (K, O, J, W)
    vel = scene.obstacle_velocity_mps[:, ix, iy]  # (K, O, J, W, 2)
    along = vel[..., 0] * c[None] + vel[..., 1] * s[None]
    lead = np.where(occ, along, np.inf).min(axis=3)
    lead = np.where(np.isfinite(lead), np.maximum(lead, 0.0), 0.0)
    n_j = len(travel)
    idx = np.where(occ.any(axis=3), np.arange(n_j), n_j)
    next_hit = np.minimum.accumulate(idx[..., ::-1], axis=2)[..., ::-1]
    cap = path.curve_speed_cap_mps(travel, cfg.max_lat_accel_mps2)
    preview = max(1, int(cfg.curve_preview_m / cfg.path_step_m))
    cap = minimum_filter1d(cap, size=2 * preview + 1, origin=-preview, mode="nearest")
    return _Corridors(travel, next_hit.transpose(1, 0, 2), lead.transpose(1, 0, 2), cap)


def _idm_rollout(
    corr: _Corridors,
    offset_idx: np.ndarray,
    targets: np.ndarray,
    v0: float,
    t: np.ndarray,
    step_s: float,
    front_m: float,
    cfg: PDMConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Travel and speed (N, M) on the fine time grid ``t`` (M,) for N proposals (forecast steps every
    ``step_s``; ``front_m`` from the rear axle to the front bumper)."""
    n, n_j = len(targets), len(corr.travel_m)
    travel = np.zeros((n, len(t)))
    speed = np.zeros((n, len(t)))
    speed[:, 0] = v0
    k_of = np.clip(np.rint(t / step_s), 0, corr.next_hit.shape[1] - 1).astype(int)
    stop = targets <= 0.0
    for m in range(len(t) - 1):
        s, v = travel[:, m], speed[:, m]
        j_front = np.clip(np.ceil((s + front_m) / cfg.path_step_m).astype(int), 0, n_j - 1)
        j_here = np.clip((s / cfg.path_step_m).astype(int), 0, n_j - 1)
        hit = corr.next_hit[offset_idx, k_of[m], j_front]
        has = hit < n_j
        hit_c = np.minimum(hit, n_j - 1)
        gap = np.where(has, corr.travel_m[hit_c] - (s + front_m) - 0.5 * cfg.path_step_m, np.inf)
        lead_v = np.where(has, corr.lead_speed_mps[offset_idx, k_of[m], hit_c], 0.0)
        target = np.where(stop, 0.0, np.minimum(targets, corr.speed_cap_mps[j_here]))
        a = idm_accel(v, target, gap, lead_v, cfg.idm)
        dt = t[m + 1] - t[m]
        v_new = np.maximum(v + a * dt, 0.0)
        speed[:, m + 1] = v_new
        travel[:, m + 1] = s + 0.5 * (v + v_new) * dt
    return travel, speed


def _inset_footprint(vehicle: VehicleParams, inset_m: float) -> Footprint:
    """The footprint of the ego box shrunk by ``inset_m`` on every side (same centre)."""
    return Footprint.from_vehicle(
        replace(vehicle, width_m=vehicle.width_m - 2 * inset_m, length_m=vehicle.length_m - 2 * inset_m)
    )


def score_proposals(
    scene: SceneForecast,
    path: Path | None,
    poses: np.ndarray,
    speeds: np.ndarray,
    per_waypoint: int,
    offsets_m: np.ndarray,
    inp: PlannerInput,
    cfg: PDMConfig,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """PDMS-form score (N,) of proposals (poses (N, M, 3) at the scene's steps 1..M, ``offsets_m`` (N,)
    their lateral offsets from the reference) and its terms. A collision is one the ego would be at fault
    for (``costs.at_fault_collisions``; an offset proposal counts as leaving its lane), as PDM-Closed
    and nuPlan's no-at-fault-collision multiplier count them."""
    fp = Footprint.from_vehicle(cfg.vehicle)
    steps = np.arange(poses.shape[1]) + 1
    wp, wp_steps = poses[:, per_waypoint - 1 :: per_waypoint], steps[per_waypoint - 1 :: per_waypoint]
    col = costs.at_fault_collisions(scene, poses, steps, speeds, fp, offsets_m != 0)
    off = costs.offroad_m(scene, poses, fp)
    # TTC probes count the obstacle cells the simulator's contact rule would (centres inside the box)
    ttc_fp = _inset_footprint(cfg.vehicle, contact_inset_m(scene.cell_m))
    ttc = costs.time_to_collision_violated(scene, wp, wp_steps, speeds[:, per_waypoint - 1 :: per_waypoint], ttc_fp)
    ego = inp.ego_state
    motion = motion_profile(wp, inp.sampling.interval_s, ego.speed_mps, ego.accel_mps2, ego.yaw_rate_radps)
    progress = costs.route_progress(path, wp).progress_m
    nc = ~col.any(axis=1)
    dac = ~(off > cfg.offroad_tolerance_m).any(axis=1)
    passing = nc & dac
    best = progress[passing].max() if passing.any() else 0.0
    ep = np.ones(len(poses)) if best < cfg.min_progress_m else np.clip(progress / best, 0.0, 1.0)
    ttc_ok = ~ttc.any(axis=1)
    comfort_ok = comfort_violation(cfg.comfort, motion) == 0
    score = nc * dac * (5 * ttc_ok + 5 * ep + 2 * comfort_ok) / 12
    # ranking when every proposal fails a multiplier: fewer, later, slower collisions, then less off-road
    decay = 0.85 ** (steps / per_waypoint - 1)
    fallback = (col * decay * (1.0 + speeds)).sum(axis=1) + 0.1 * np.maximum(off - cfg.offroad_tolerance_m, 0).sum(1)
    terms = {"nc": nc * 1.0, "dac": dac * 1.0, "ttc": ttc_ok * 1.0, "ep": ep, "comfort": comfort_ok * 1.0}
    return score, terms | {"progress_m": progress, "fallback": fallback}


class PDMPlanner(Planner):
    """PDM-Closed on occupancy: IDM proposals along the route, PDMS-scored against the forecast."""

    name = "pdm"

    def __init__(self, config: PDMConfig | None = None) -> None:
        super().__init__()
        self.config = config or PDMConfig()
        self._reference = ReferenceFollower(None, self.config.reference)

    def _reset(self, init: PlannerInit) -> None:
        self._reference = ReferenceFollower(init, self.config.reference)

    def proposals(self, inp: PlannerInput) -> Proposals:
        """Build the forecast and the proposals and score them (exposed for inspection and tests)."""
        cfg = self.config
        fp = Footprint.from_vehicle(cfg.vehicle)
        r = cfg.check_steps
        step_s, n_steps = inp.sampling.interval_s / r, inp.sampling.num_poses * r
        scene = build_scene(inp.occupancy, step_s, n_steps, fp.corners_m, inp.drivable_bev, cfg.scene)
        v0 = max(inp.ego_state.speed_mps, 0.0)
        ref = self._reference.refine(self._reference.reference(inp), scene, cfg.scene.moving_threshold_mps)
        route_path = Path.from_polyline(ref.xy_m, extend_front_m=cfg.lookahead_m)
        # without a reference, drive straight ahead along the current heading (progress = forward motion)
        path = route_path or Path.from_polyline(np.array([[0.0, 0.0], [1.0, 0.0]]), extend_front_m=cfg.lookahead_m)
        if route_path is not None:
            scene = scene.along(route_path, cfg.scene)
        offsets = np.asarray(cfg.lateral_offsets_m, dtype=np.float64)
        corr = _corridors(scene, path, v0, offsets, cfg)
        fractions = np.asarray(cfg.speed_fractions, dtype=np.float64)
        o_idx = np.repeat(np.arange(len(offsets)), len(fractions))
        targets = np.tile(fractions * ref.speed_limit_mps, len(offsets))
        t = fine_times(inp.sampling, cfg.integration_steps)
        front_m = cfg.vehicle.rear_axle_to_center_m + cfg.vehicle.length_m / 2
        travel, speed = _idm_rollout(corr, o_idx, targets, v0, t, step_s, front_m, cfg)
        keep = slice(cfg.integration_steps // r, None, cfg.integration_steps // r)
        travel, speed = travel[:, keep], speed[:, keep]
        poses = follow_path(path, v0, travel, offsets[o_idx], cfg.min_blend_m, cfg.blend_time_s)
        score, terms = score_proposals(scene, route_path, poses, speed, r, offsets[o_idx], inp, cfg)
        return Proposals(poses, speed, targets, offsets[o_idx], score, terms, r)

    def _plan(self, inp: PlannerInput) -> Trajectory:
        p = self.proposals(inp)
        if p.score.max() > 0:  # first proposal within the tie tolerance of the best (order = preference)
            best = int(np.argmax(p.score >= p.score.max() - self.config.score_tie_tolerance))
        else:
            best = int(np.argmin(p.terms["fallback"]))
        return Trajectory(np.ascontiguousarray(p.waypoints[best]), inp.sampling)
