"""Closed-loop scores of a recorded episode (nuPlan / NAVSIM PDMS forms): pure functions of an
``EpisodeHistory`` (``occplan.types.history``), with every rule taken from ``occplan.rules``.

Per episode (world frame, every 0.1 s substep):

* collision: the ego box overlaps an agent box (separating axes, ``rules.footprint``) or touches a
  static obstacle voxel (``rules.obstacles``, recorded by the simulator as contact columns);
* objects: one event per object per episode: an agent token, or a static object = a connected group
  of contact columns (columns closer than ``static_link_m`` belong together, across the episode);
* at fault (nuPlan ``no_ego_at_fault_collisions``), decided at the first contact with each object:
  none when the ego is stopped (speed <= 0.05 m/s) or the agent hits it from behind (its centre over
  150 deg off the ego heading); at fault for a stopped agent or a static object, a front collision
  (the ego box's front edge touches the agent) and a lateral one while the ego is not inside a single
  lane: no lane polygon of the map contains all four ego corners. Without lane polygons (maps with
  only a drivable area), "not inside a single lane" falls back to a corner off the drivable area;
* NC (nuPlan multiplier): 0 after an at-fault collision with a vehicle, a pedestrian or a cyclist,
  or with more than one static object; 0.5 after one; else 1;
* off-road / DAC: ``rules.offroad`` on the scenario raster (NaN and DAC = 1 without a map);
* progress ratio: ``min(1, max(ego, 0.1) / max(expert, 0.1))`` of the progress along the expert's
  path (the logged ego box centres, extended 80 m straight);
* route completion: the farthest projection reached on the route given to the planner (the expert
  path without one), as a fraction of its length ahead of the start;
* TTC: both boxes extrapolated at constant velocity at 0.1 s steps; fails when the moving ego would
  overlap an agent ahead of it within 0.95 s without already overlapping it;
* comfort: nuPlan's ``ego_is_comfortable`` (``rules.comfort``);
* score: NC x DAC x (5 TTC + 5 EP + 2 C) / 12 with EP = progress ratio (PDMS form);
* log divergence: mean distance between the simulated and the logged ego box centres.

``CLOSED_LOOP_SPEC`` is its registry entry, ``closed_loop``: the closed pass's episode (``sim/*``)
and the logged ego replayed (``ref/human/sim/*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from occplan.interfaces import Metric
from occplan.metrics.registry import MetricContext, MetricSpec
from occplan.rules.comfort import ComfortBounds, evaluate_comfort
from occplan.rules.footprint import box_corners, boxes_overlap
from occplan.rules.offroad import OFFROAD_TOLERANCE_M, DrivableRaster
from occplan.types.history import EpisodeHistory

STOPPED_SPEED_MPS = 0.05
BEHIND_ANGLE_RAD = np.deg2rad(150.0)
VEHICLE_OR_VRU_PREFIXES = ("vehicle.", "human.pedestrian.")
EXPERT_PATH_EXTENSION_M = 80.0


@dataclass(frozen=True)
class ClosedLoopConfig:
    """nuPlan thresholds (TTC) and the grouping distance of static contacts into objects."""

    ttc_bound_s: float = 0.95
    ttc_step_s: float = 0.1
    min_progress_m: float = 0.1
    static_link_m: float = 0.6
    comfort: ComfortBounds = field(default_factory=ComfortBounds)


# --- geometry of the history ------------------------------------------------------------------
def ego_corners(h: EpisodeHistory, dt_ahead_s: float = 0.0) -> np.ndarray:
    """(T, 4, 2) ego box corners per row (counter-clockwise from front-left), optionally moved
    ``dt_ahead_s`` ahead with the ego's velocity."""
    centre = h.ego_center[:, :2] + h.ego_velocity * dt_ahead_s
    wl = np.tile(h.ego_size[[1, 0]], (h.num_steps, 1))
    return box_corners(np.ascontiguousarray(centre), wl, np.ascontiguousarray(h.ego_center[:, 2]))


def agent_corners(h: EpisodeHistory, row: int, agents: np.ndarray, dt_ahead_s: float = 0.0) -> np.ndarray:
    """(A, 4, 2) corners of the ``agents`` (indices) at ``row``, moved ``dt_ahead_s`` with their velocity."""
    b = h.agent_boxes[row, agents]
    centre = b[:, :2] + h.agent_velocity[row, agents] * dt_ahead_s
    return box_corners(np.ascontiguousarray(centre), np.ascontiguousarray(b[:, [4, 3]]), np.ascontiguousarray(b[:, 2]))


def agent_contacts(h: EpisodeHistory) -> list[tuple[int, int]]:
    """(row, agent index) of every ego-agent box overlap."""
    corners = ego_corners(h)
    out = []
    for t in range(h.num_steps):
        present = np.flatnonzero(np.isfinite(h.agent_boxes[t, :, 0]))
        if len(present):
            hit = boxes_overlap(corners[t], agent_corners(h, t, present))
            out.extend((t, int(k)) for k in present[hit])
    return out


def static_objects(h: EpisodeHistory, link_m: float) -> list[int]:
    """First-contact row of each static object: contact columns grouped into connected components
    (pairs closer than ``link_m``)."""
    if not len(h.static_contact_index):
        return []
    pairs = cKDTree(h.static_contact_xy).query_pairs(link_m, output_type="ndarray")
    m = len(h.static_contact_index)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, labels = connected_components(graph, directed=False)
    return [int(h.static_contact_index[labels == c].min()) for c in np.unique(labels)]


def _speed(h: EpisodeHistory) -> np.ndarray:
    return np.hypot(*h.ego_velocity.T)


def offroad_rows(h: EpisodeHistory) -> np.ndarray | None:
    """(T,) bool: a corner beyond ``OFFROAD_TOLERANCE_M`` outside the drivable area; None without a map."""
    if not len(h.drivable_wkb):
        return None
    raster = DrivableRaster.around_path(h.drivable_wkb.tobytes(), h.expert_center[:, :2])
    dist = raster.distance_outside(ego_corners(h).reshape(-1, 2)).reshape(h.num_steps, 4)
    return np.any(dist > OFFROAD_TOLERANCE_M, axis=1)


def in_single_lane(h: EpisodeHistory, offroad: np.ndarray | None) -> np.ndarray:
    """(T,) bool: some lane polygon contains all four ego corners (see the module docstring for maps
    without lanes)."""
    if not len(h.lanes_wkb):
        return ~offroad if offroad is not None else np.ones(h.num_steps, bool)
    lanes = shapely.get_parts(shapely.from_wkb(h.lanes_wkb.tobytes()))
    tree = shapely.STRtree(lanes)
    corners = ego_corners(h)
    out = np.zeros(h.num_steps, bool)
    for t in range(h.num_steps):
        candidates = tree.query(shapely.box(*corners[t].min(axis=0), *corners[t].max(axis=0)))
        pts = shapely.points(corners[t])
        out[t] = any(bool(np.all(shapely.covers(lanes[k], pts))) for k in candidates)
    return out


# --- the scores -------------------------------------------------------------------------------
def _collisions(h: EpisodeHistory, offroad: np.ndarray | None, cfg: ClosedLoopConfig) -> tuple[bool, float, bool]:
    """-> (any collision, NC multiplier, any at-fault collision)."""
    speed = _speed(h)
    contacts = agent_contacts(h)
    static_first = static_objects(h, cfg.static_link_m)
    first: dict[int, int] = {}
    for t, k in contacts:
        first.setdefault(k, t)
    lane_ok = in_single_lane(h, offroad) if first else None
    corners = ego_corners(h)
    at_fault_vehicle, at_fault_objects = False, 0
    for k, t in first.items():
        if speed[t] <= STOPPED_SPEED_MPS:
            continue
        heading = np.array([np.cos(h.ego_center[t, 2]), np.sin(h.ego_center[t, 2])])
        rel = h.agent_boxes[t, k, :2] - h.ego_center[t, :2]
        agent_speed = float(np.hypot(*h.agent_velocity[t, k]))
        behind = np.arccos(np.clip(rel @ heading / max(np.linalg.norm(rel), 1e-9), -1, 1)) > BEHIND_ANGLE_RAD
        if agent_speed > STOPPED_SPEED_MPS and behind:
            continue
        front = shapely.LineString([corners[t, 0], corners[t, 3]])
        poly = shapely.Polygon(agent_corners(h, t, np.array([k]))[0])
        if agent_speed <= STOPPED_SPEED_MPS or front.intersects(poly) or not lane_ok[t]:
            if str(h.agent_class[k]).startswith(VEHICLE_OR_VRU_PREFIXES):
                at_fault_vehicle = True
            else:
                at_fault_objects += 1
    at_fault_objects += sum(speed[t] > STOPPED_SPEED_MPS for t in static_first)
    nc = 0.0 if at_fault_vehicle or at_fault_objects > 1 else (0.5 if at_fault_objects == 1 else 1.0)
    return bool(contacts or static_first), nc, at_fault_vehicle or at_fault_objects > 0


def _ttc_ok(h: EpisodeHistory, cfg: ClosedLoopConfig) -> bool:
    taus = (np.arange(int(np.floor(cfg.ttc_bound_s / cfg.ttc_step_s - 1e-9))) + 1) * cfg.ttc_step_s
    speed = _speed(h)
    now = ego_corners(h)
    ahead = [ego_corners(h, tau) for tau in taus]
    reach_m = np.hypot(h.ego_size[0], h.ego_size[1]) + 10.0  # ego + largest agent box
    for t in range(h.num_steps):
        present = np.flatnonzero(np.isfinite(h.agent_boxes[t, :, 0]))
        if speed[t] <= STOPPED_SPEED_MPS or not len(present):
            continue
        heading = np.array([np.cos(h.ego_center[t, 2]), np.sin(h.ego_center[t, 2])])
        rel = h.agent_boxes[t, present, :2] - h.ego_center[t, :2]
        agent_speed = np.hypot(*h.agent_velocity[t, present].T)
        near = np.linalg.norm(rel, axis=1) < reach_m + (speed[t] + agent_speed) * cfg.ttc_bound_s
        candidates = present[(rel @ heading > 0) & near]
        if not len(candidates):
            continue
        already = boxes_overlap(now[t], agent_corners(h, t, candidates))
        for tau, ahead_tau in zip(taus, ahead, strict=True):
            if np.any(boxes_overlap(ahead_tau[t], agent_corners(h, t, candidates, tau)) & ~already):
                return False
    return True


def _comfort_ok(h: EpisodeHistory, cfg: ClosedLoopConfig) -> float:
    """nuPlan's comfort verdict (NaN for episodes shorter than its filters allow)."""
    if h.num_steps < 4:
        return float("nan")
    yaw = h.ego_center[:, 2]
    c, s = np.cos(yaw), np.sin(yaw)
    a = h.ego_acceleration
    accel_ego = np.column_stack([a[:, 0] * c + a[:, 1] * s, -a[:, 0] * s + a[:, 1] * c])
    yaw_accel = np.gradient(h.ego_yaw_rate, h.time_s)
    result = evaluate_comfort(
        h.time_s, yaw, accel_ego, h.ego_yaw_rate, yaw_accel, h.ego_rear_axle_to_center_m, cfg.comfort
    )
    return float(result.comfortable)


def _path_positions(path_xy: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, float]:
    """Arc length of the projections of ``xy`` (N, 2) on the polyline ``path_xy`` and its length."""
    line = shapely.LineString(path_xy)
    return shapely.line_locate_point(line, shapely.points(xy)), float(line.length)


def expert_path(h: EpisodeHistory) -> np.ndarray:
    """(K, 2) the logged box centres without repeats, extended straight by ``EXPERT_PATH_EXTENSION_M``."""
    xy = h.expert_center[:, :2]
    keep = np.concatenate([[True], np.hypot(*np.diff(xy, axis=0).T) > 1e-3])
    xy = xy[keep]
    if len(xy) < 2:
        heading = h.expert_center[0, 2]
        return np.vstack([xy[:1], xy[:1] + EXPERT_PATH_EXTENSION_M * np.array([np.cos(heading), np.sin(heading)])])
    d = (xy[-1] - xy[-2]) / np.linalg.norm(xy[-1] - xy[-2])
    return np.vstack([xy, xy[-1] + EXPERT_PATH_EXTENSION_M * d])


def closed_loop_scores(history: EpisodeHistory, config: ClosedLoopConfig | None = None) -> dict[str, float]:
    """Scores of one episode as ``sim/*`` keys (0/1 indicators for the rates); see the module docstring."""
    cfg = config or ClosedLoopConfig()
    h = history
    offroad_t = offroad_rows(h)
    collided, nc, at_fault = _collisions(h, offroad_t, cfg)
    offroad = float(offroad_t.any()) if offroad_t is not None else float("nan")
    dac = 1.0 - offroad if offroad_t is not None else 1.0

    path = expert_path(h)
    s_ego, _ = _path_positions(path, h.ego_center[:, :2])
    s_exp, _ = _path_positions(path, h.expert_center[:, :2])
    ego_progress, expert_progress = float(s_ego[-1] - s_ego[0]), float(s_exp[-1] - s_exp[0])
    progress_ratio = min(1.0, max(ego_progress, cfg.min_progress_m) / max(expert_progress, cfg.min_progress_m))
    route = h.route_xy if len(h.route_xy) >= 2 else path
    s_route, length = _path_positions(route, h.ego_center[:, :2])
    ahead = length - s_route[0]
    completion = float(np.clip((s_route.max() - s_route[0]) / ahead, 0.0, 1.0)) if ahead > 0 else 1.0

    ttc = float(_ttc_ok(h, cfg))
    comfort = _comfort_ok(h, cfg)
    comfort_term = comfort if np.isfinite(comfort) else 1.0
    divergence = float(np.mean(np.hypot(*(h.ego_center[:, :2] - h.expert_center[:, :2]).T)))
    return {
        "sim/collision_rate": float(collided),
        "sim/at_fault_collision_rate": float(at_fault),
        "sim/offroad_rate": offroad,
        "sim/progress_ratio": progress_ratio,
        "sim/route_completion": completion,
        "sim/ttc_ok": ttc,
        "sim/comfort_ok": comfort,
        "sim/score": nc * dac * (5 * ttc + 5 * progress_ratio + 2 * comfort_term) / 12,
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

    def update(self, record: EpisodeHistory) -> None:
        self.episodes.append(closed_loop_scores(record, self.config))

    def compute(self) -> dict[str, float]:
        if not self.episodes:
            return {}
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


def _create(context: MetricContext) -> ClosedLoopMetric:
    return ClosedLoopMetric()


CLOSED_LOOP_SPEC = MetricSpec(
    name="closed_loop",
    version=1,
    passes={"closed": "", "human": "ref/human/"},
    record=EpisodeHistory,
    create=_create,
    update=ClosedLoopMetric.update,
    compute=ClosedLoopMetric.compute,
)
