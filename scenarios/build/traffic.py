"""Vehicle traffic and the expert ego: IDM car-following along lane routes, first-come junction
reservations, yielding to pedestrians at zebra crossings, curvature speed limits.

All vehicles (index 0 = the ego) are simulated together at the simulation rate. A vehicle's path
reference is its box centre, the ego's is its rear axle (nuScenes ego_pose) with the box centre
``rear_axle_to_center_m`` ahead. Obstacles (other vehicles, pedestrians, static objects) are chains of
discs along each box's long axis; a vehicle's leader gap is the arclength to the first sample of its
path ahead whose corridor (own half-width + disc radius + margin) touches a disc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numba import njit

from occplan.rules.idm import interaction_mps2
from occplan.types import VehicleParams
from scenarios.build.categories import KINDS, kind_rgb, sample_vehicle_kind
from scenarios.build.config import BuildConfig
from scenarios.build.network import Lane, RoadNetwork, path_crossings
from scenarios.build.objects import StaticObject
from scenarios.build.path import Path, concatenate
from scenarios.build.pedestrians import PedestrianMotion

EGO = 0  # index of the expert ego among the simulated vehicles
LOOKAHEAD_M = 50.0
CORRIDOR_MARGIN_M = 0.3
PEDESTRIAN_RADIUS_M = 0.45
REQUEST_DISTANCE_M = 20.0
CROSSING_ANTICIPATION_S = 4.0  # a crossing closes this long before a pedestrian steps on it
CROSSING_STOP_DECEL_MPS2 = 4.5  # a vehicle that cannot stop with this deceleration before a crossing goes on
MAX_DECEL_MPS2 = 7.0
MAX_JERK_UP_MPS3 = 3.0  # comfort: acceleration builds up (and braking is released) gradually
MAX_JERK_DOWN_MPS3 = 10.0  # braking may build up faster


@dataclass(frozen=True)
class Driver:
    """IDM parameters: desired speed, max acceleration, comfortable deceleration, time headway,
    standstill gap, max lateral acceleration in curves."""

    desired_speed_mps: float
    max_accel_mps2: float = 1.5
    comfort_decel_mps2: float = 2.0
    headway_s: float = 1.5
    min_gap_m: float = 2.0
    max_lat_accel_mps2: float = 2.5


@dataclass(frozen=True)
class VehiclePlan:
    """A vehicle to simulate: its route ``path``, start arclength ``s0_m`` of the reference point, start
    speed, the step it appears at, and its junction reservation (``connector`` -1 when none)."""

    kind: str
    size_m: np.ndarray
    ref_to_center_m: float
    path: Path
    driver: Driver
    s0_m: float
    v0_mps: float
    spawn_step: int
    stop_s_m: float
    connector: int
    connector_end_s_m: float
    rgb: np.ndarray

    @property
    def front_m(self) -> float:
        return self.ref_to_center_m + self.size_m[1] / 2

    @property
    def rear_m(self) -> float:
        return self.size_m[1] / 2 - self.ref_to_center_m


@dataclass(frozen=True)
class TrafficResult:
    """Per vehicle (0 = ego) and step: ``active`` (T, N) bool, reference ``xy_m`` (T, N, 2),
    ``heading_rad`` (T, N), ``speed_mps`` (T, N), ``accel_mps2`` (T, N)."""

    plans: tuple[VehiclePlan, ...]
    active: np.ndarray
    xy_m: np.ndarray
    heading_rad: np.ndarray
    speed_mps: np.ndarray
    accel_mps2: np.ndarray


@njit(cache=True)
def _path_gaps(path_xy, path_h, n_pts, front_idx, look_n, half_w, active, obs_xy, obs_r, obs_owner, obs_v, step_m):
    """Arclength (n,) from each vehicle's front sample to the first blocked sample ahead (inf if none) and
    the blocking obstacle's speed along the path there (n,)."""
    n = path_xy.shape[0]
    m_count = obs_xy.shape[0]
    gap = np.full(n, np.inf)
    lead_v = np.zeros(n)
    cand = np.empty(m_count, np.int64)
    for i in range(n):
        if not active[i]:
            continue
        j0 = min(front_idx[i], n_pts[i] - 1)
        px, py = path_xy[i, j0, 0], path_xy[i, j0, 1]
        reach = look_n * step_m[i] + half_w[i] + CORRIDOR_MARGIN_M
        nc = 0
        for m in range(m_count):
            if obs_owner[m] == i:
                continue
            dx, dy = obs_xy[m, 0] - px, obs_xy[m, 1] - py
            r = reach + obs_r[m]
            if dx * dx + dy * dy < r * r:
                cand[nc] = m
                nc += 1
        if nc == 0:
            continue
        for k in range(look_n):
            j = front_idx[i] + k
            if j >= n_pts[i]:
                break
            qx, qy = path_xy[i, j, 0], path_xy[i, j, 1]
            for c in range(nc):
                m = cand[c]
                thr = half_w[i] + obs_r[m] + CORRIDOR_MARGIN_M
                dx, dy = obs_xy[m, 0] - qx, obs_xy[m, 1] - qy
                if dx * dx + dy * dy < thr * thr:
                    gap[i] = k * step_m[i]
                    lead_v[i] = max(0.0, obs_v[m, 0] * np.cos(path_h[i, j]) + obs_v[m, 1] * np.sin(path_h[i, j]))
                    break
            if gap[i] < np.inf:
                break
    return gap, lead_v


def _axis_discs(width_m: float, length_m: float) -> np.ndarray:
    """Offsets along the long axis of the discs (radius width/2) covering a box."""
    half = max(0.0, length_m / 2 - width_m / 2)
    return np.linspace(-half, half, max(1, int(np.ceil(2 * half / 1.0)) + 1))


def _route(rng: np.random.Generator, net: RoadNetwork, lane: int, connector: int | None = None) -> list[int]:
    """Lane ids from ``lane`` to the world border; at a junction a random (or the given) connector."""
    out = [lane]
    while net.lanes[out[-1]].successors:
        succ = net.lanes[out[-1]].successors
        nxt = connector if connector is not None and connector in succ else succ[int(rng.integers(len(succ)))]
        out.append(nxt)
    return out


def _plan(
    net: RoadNetwork,
    lanes: list[int],
    kind: str,
    size: np.ndarray,
    ref_to_center: float,
    driver: Driver,
    s0: float,
    v0: float,
    spawn_step: int,
    rgb: np.ndarray,
    step_m: float,
) -> VehiclePlan:
    paths = [net.lanes[k].path for k in lanes]
    route = concatenate(paths, step_m)
    stop_s, conn, conn_end = np.nan, -1, np.nan
    for pos, k in enumerate(lanes):
        if net.lanes[k].is_connector:
            start = float(sum(p.length_m for p in paths[:pos]))
            entries = [s_in for _, s_in, _ in path_crossings(route, net.crossings) if start - 8.0 < s_in < start]
            stop_s = (min(entries) if entries else start) - 1.0
            conn = net.junctions[0].connectors.index(k)
            conn_end = start + paths[pos].length_m
    return VehiclePlan(kind, size, ref_to_center, route, driver, s0, v0, spawn_step, stop_s, conn, conn_end, rgb)


def _turn_connectors(net: RoadNetwork, incoming: int) -> list[int]:
    out = []
    for k in net.lanes[incoming].successors:
        h = net.lanes[k].path.heading_rad
        if abs(h[-1] - h[0]) > np.deg2rad(35.0):
            out.append(k)
    return out


def _lane_free_spans(net: RoadNetwork, lane: Lane, length_m: float) -> tuple[float, float, list[tuple[float, float]]]:
    """Range of centre arclengths where a vehicle of ``length_m`` fits on ``lane`` before its stop line,
    and the crossing spans to keep clear."""
    spans = [(a - length_m / 2 - 1.5, b + length_m / 2 + 1.5) for _, a, b in path_crossings(lane.path, net.crossings)]
    hi = lane.path.length_m - length_m / 2 - (8.0 if lane.successors else 2.0)
    return length_m / 2 + 1.0, hi, spans


def plan_vehicles(
    rng: np.random.Generator, net: RoadNetwork, cfg: BuildConfig, n_steps: int, duration_s: float
) -> list[VehiclePlan]:
    """The ego (first) and the traffic: vehicles on lanes at t = 0 and late arrivals at the entries."""
    step = cfg.path_step_m
    vp = VehicleParams()
    ego_driver = Driver(float(rng.uniform(*cfg.ego_desired_speed_mps)), 1.5, 2.0, 1.6, 2.5, 2.0)
    ego_size = np.array([vp.width_m, vp.length_m, vp.height_m])
    if net.junctions:
        incoming = [k for k, ln in enumerate(net.lanes) if ln.successors and not ln.is_connector]
        ego_lane = incoming[int(rng.integers(len(incoming)))]
        turns = _turn_connectors(net, ego_lane)
        lanes = _route(rng, net, ego_lane, turns[int(rng.integers(len(turns)))] if turns else None)
        probe = _plan(
            net, lanes, "car", ego_size, vp.rear_axle_to_center_m, ego_driver, 0, 0, 0, np.zeros(3, np.uint8), step
        )
        s0 = probe.stop_s_m - rng.uniform(*cfg.ego_distance_to_stop_m) - probe.front_m
    else:
        ego_lane = int(rng.integers(len(net.lanes)))
        lanes = [ego_lane]
        lane_path = net.lanes[ego_lane].path
        if net.layout == "curve":  # start 40-80 m before the sharpest point, so the log drives the curve
            s0 = lane_path.s_m[np.argmax(np.abs(lane_path.curvature_1pm))] - rng.uniform(40.0, 80.0)
        else:
            need = ego_driver.desired_speed_mps * duration_s + 30.0
            s0 = rng.uniform(10.0, max(10.0, lane_path.length_m - need))
    ego_v0 = ego_driver.desired_speed_mps * rng.uniform(0.6, 0.9)
    ego = _plan(
        net,
        lanes,
        "car",
        ego_size,
        vp.rear_axle_to_center_m,
        ego_driver,
        max(s0, 1.0),
        ego_v0,
        0,
        np.zeros(3, np.uint8),
        step,
    )
    plans = [ego]
    placed: dict[int, list[tuple[float, float]]] = {lanes[0]: [(ego.s0_m + ego.ref_to_center_m, ego_size[1])]}

    road_lanes = [k for k, ln in enumerate(net.lanes) if not ln.is_connector]
    weights = np.array([net.lanes[k].path.length_m for k in road_lanes])
    n_vehicles = int(rng.integers(cfg.moving_vehicles[0], cfg.moving_vehicles[1] + 1))
    for _ in range(n_vehicles):
        for _attempt in range(20):
            kind = sample_vehicle_kind(rng)
            size = KINDS[kind].sample_size(rng)
            lane_id = road_lanes[int(rng.choice(len(road_lanes), p=weights / weights.sum()))]
            lo, hi, spans = _lane_free_spans(net, net.lanes[lane_id], size[1])
            if hi <= lo:
                continue
            s = rng.uniform(lo, hi)
            if any(a < s < b for a, b in spans):
                continue
            driver = Driver(float(rng.uniform(*KINDS[kind].speed_mps)))
            v0 = driver.desired_speed_mps * rng.uniform(0.7, 1.0)
            clear = all(abs(s - c) > (size[1] + ln) / 2 + v0 * 1.3 + 4.0 for c, ln in placed.get(lane_id, []))
            if not clear:
                continue
            placed.setdefault(lane_id, []).append((s, size[1]))
            plans.append(
                _plan(net, _route(rng, net, lane_id), kind, size, 0.0, driver, s, v0, 0, kind_rgb(rng, kind), step)
            )
            break
    n_late = int(rng.integers(cfg.late_vehicles[0], cfg.late_vehicles[1] + 1))
    for _ in range(n_late):
        kind = sample_vehicle_kind(rng)
        size = KINDS[kind].sample_size(rng)
        lane_id = net.entry_lanes[int(rng.integers(len(net.entry_lanes)))]
        driver = Driver(float(rng.uniform(*KINDS[kind].speed_mps)))
        spawn = int(rng.integers(1, max(2, n_steps - int(3 * cfg.sim_rate_hz))))
        route = _route(rng, net, lane_id)
        plans.append(
            _plan(
                net,
                route,
                kind,
                size,
                0.0,
                driver,
                size[1] / 2 + 0.5,
                driver.desired_speed_mps * 0.8,
                spawn,
                kind_rgb(rng, kind),
                step,
            )
        )
    return plans


def _connector_conflicts(net: RoadNetwork) -> np.ndarray:
    """(C, C) bool: connectors whose swept corridors (1.6 m either side) intersect, except connectors leaving
    the same incoming lane (vehicles on them follow each other; car-following keeps them apart)."""
    if not net.junctions:
        return np.zeros((0, 0), bool)
    conns = net.junctions[0].connectors
    geoms = np.array([net.lanes[k].path.linestring().buffer(1.6) for k in conns], dtype=object)
    source = np.array([next(i for i, ln in enumerate(net.lanes) if k in ln.successors) for k in conns])
    return shapely.intersects(geoms[:, None], geoms[None, :]) & (source[:, None] != source[None, :])


def _pad(rows: list[np.ndarray], width: int) -> np.ndarray:
    """Stack 1D/2D per-vehicle arrays, padding each with its last row up to ``width``."""
    return np.stack([np.concatenate([r, np.repeat(r[-1:], width - len(r), axis=0)]) for r in rows])


def crossing_closures(net: RoadNetwork, peds: list[PedestrianMotion], n_steps: int, dt_s: float) -> np.ndarray:
    """(C, T) bool: crossing c is closed at step t when a pedestrian is on it within the next
    ``CROSSING_ANTICIPATION_S`` (the scripted pedestrians' intent is known)."""
    closed = np.zeros((max(1, len(net.crossings)), n_steps), bool)
    if not peds:
        return closed
    ped_xy = np.stack([p.xy_m for p in peds])  # (P, T, 2)
    window = round(CROSSING_ANTICIPATION_S / dt_s)
    later = np.minimum(np.arange(n_steps) + window + 1, n_steps)
    for c, cr in enumerate(net.crossings):
        on = shapely.contains_xy(cr.polygon, ped_xy[..., 0], ped_xy[..., 1]).any(axis=0)
        count = np.concatenate([[0], np.cumsum(on)])
        closed[c] = count[later] > count[:n_steps]
    return closed


def _static_discs(statics: list[StaticObject]) -> tuple[np.ndarray, np.ndarray]:
    """Centres (M, 2) and radii (M,) of the discs covering the static objects."""
    xy, r = [np.zeros((0, 2))], [np.zeros(0)]
    for o in statics:
        a = _axis_discs(o.size_m[0], o.size_m[1])
        xy.append(o.xy_m + a[:, None] * np.array([np.cos(o.yaw_rad), np.sin(o.yaw_rad)]))
        r.append(np.full(len(a), o.size_m[0] / 2))
    return np.concatenate(xy), np.concatenate(r)


class _Reservations:
    """First-come-first-served junction reservations, strict among conflicting connectors.

    A vehicle requests its connector ``REQUEST_DISTANCE_M`` before its stop line; requests are served
    in order (ties: the vehicle nearer its stop line first) and a request that conflicts with a held or
    an earlier pending connector waits. The expert ego's request is served first (it still waits for
    held conflicting connectors), so that its demonstration reaches its turn within the scene. A
    reservation is released once the vehicle's rear has left the connector (or it has left the scene).
    """

    def __init__(self, plans: list[VehiclePlan], conflicts: np.ndarray) -> None:
        n = len(plans)
        self.conflicts = conflicts
        self.conn = np.array([p.connector for p in plans])
        self.stop_s = np.array([p.stop_s_m for p in plans])
        self.conn_end_s = np.array([p.connector_end_s_m for p in plans])
        self.req_step = np.full(n, -1)
        self.granted = np.zeros(n, bool)
        self.released = np.zeros(n, bool)

    def update(
        self, t: int, ready: np.ndarray, gone: np.ndarray, s_front: np.ndarray, s_rear: np.ndarray
    ) -> np.ndarray:
        """Advance to step ``t``; return the distance (n,) to the stop line of vehicles that must hold, else inf.

        Only ``ready`` vehicles may request (a vehicle still held by a crossing before its stop line withdraws
        its pending request, so it does not block the junction while it waits).
        """
        has = self.conn >= 0
        self.req_step[~ready & ~self.granted] = -1
        self.req_step[has & ready & (self.req_step < 0) & (s_front > self.stop_s - REQUEST_DISTANCE_M)] = t
        self.released |= self.granted & ((s_rear > self.conn_end_s + 1.0) | gone)
        taken = [int(self.conn[i]) for i in np.flatnonzero(self.granted & ~self.released)]
        waiting = np.flatnonzero(ready & (self.req_step >= 0) & ~self.granted)
        for i in sorted(waiting, key=lambda k: (k != EGO, self.req_step[k], self.stop_s[k] - s_front[k])):
            if not any(self.conflicts[self.conn[i], c] for c in taken):
                self.granted[i] = True
            taken.append(int(self.conn[i]))
        hold = has & ~self.granted & (s_front < self.stop_s + 0.5)
        return np.where(hold, self.stop_s - s_front, np.inf)


def simulate(
    plans: list[VehiclePlan],
    net: RoadNetwork,
    peds: list[PedestrianMotion],
    statics: list[StaticObject],
    n_steps: int,
    dt_s: float,
) -> TrafficResult:
    """Step all vehicles with IDM, junction reservations and crossing yielding; vehicles leave at the route end."""
    n = len(plans)
    width = max(len(p.path.s_m) for p in plans)
    path_xy = _pad([p.path.xy_m for p in plans], width)
    path_h = _pad([p.path.heading_rad for p in plans], width)
    curve_v = [np.sqrt(p.driver.max_lat_accel_mps2 / np.maximum(np.abs(p.path.curvature_1pm), 1e-4)) for p in plans]
    vmax = _pad([np.minimum(30.0, c) for c in curve_v], width)
    n_pts = np.array([len(p.path.s_m) for p in plans])
    ds = np.array([p.path.step_m for p in plans])
    length = np.array([p.path.length_m for p in plans])
    off = np.array([p.ref_to_center_m for p in plans])
    front = np.array([p.front_m for p in plans])
    rear = np.array([p.rear_m for p in plans])
    half_w = np.array([p.size_m[0] / 2 for p in plans])
    v_des = np.array([p.driver.desired_speed_mps for p in plans])
    a_max = np.array([p.driver.max_accel_mps2 for p in plans])
    b_cmf = np.array([p.driver.comfort_decel_mps2 for p in plans])
    t_head = np.array([p.driver.headway_s for p in plans])
    s_min = np.array([p.driver.min_gap_m for p in plans])
    spawn = np.array([p.spawn_step for p in plans])
    reservations = _Reservations(plans, _connector_conflicts(net))

    # crossings along each route (entry arclengths) and when pedestrians close them
    cross = [path_crossings(p.path, net.crossings) for p in plans]
    kc = max(1, max(len(c) for c in cross))
    cross_id = np.full((n, kc), -1)
    cross_in = np.full((n, kc), np.inf)
    for i, cs in enumerate(cross):
        for j, (c, a, _) in enumerate(cs):
            cross_id[i, j], cross_in[i, j] = c, a
    closed = crossing_closures(net, peds, n_steps, dt_s)

    # obstacle discs: vehicles (moving each step), static objects, pedestrians
    disc_owner = np.concatenate([np.full(len(_axis_discs(p.size_m[0], p.size_m[1])), i) for i, p in enumerate(plans)])
    disc_along = np.concatenate([_axis_discs(p.size_m[0], p.size_m[1]) for p in plans])
    st_xy, st_r = _static_discs(statics)
    ped_xy = np.stack([p.xy_m for p in peds]) if peds else np.zeros((0, n_steps, 2))
    ped_v = np.stack([p.velocity_mps for p in peds]) if peds else np.zeros((0, n_steps, 2))
    fixed_r = np.concatenate([st_r, np.full(len(peds), PEDESTRIAN_RADIUS_M)])
    fixed_owner = np.full(len(fixed_r), -1, np.int64)
    look_n = int((LOOKAHEAD_M / ds).astype(np.int64).max())

    s = np.array([p.s0_m for p in plans])
    v = np.array([p.v0_mps for p in plans])
    acc = np.zeros(n)
    active = spawn == 0
    gone = np.zeros(n, bool)
    out = TrafficResult(
        tuple(plans),
        np.zeros((n_steps, n), bool),
        np.zeros((n_steps, n, 2)),
        np.zeros((n_steps, n)),
        np.zeros((n_steps, n)),
        np.zeros((n_steps, n)),
    )
    rows = np.arange(n)
    for t in range(n_steps):
        f = np.clip(s / ds, 0, n_pts - 1.001)
        i0 = np.floor(f).astype(np.int64)
        w = f - i0
        xy = path_xy[rows, i0] * (1 - w[:, None]) + path_xy[rows, i0 + 1] * w[:, None]
        h = path_h[rows, i0] * (1 - w) + path_h[rows, i0 + 1] * w
        dirs = np.column_stack([np.cos(h), np.sin(h)])
        centre = xy + off[:, None] * dirs
        out.active[t], out.xy_m[t], out.heading_rad[t], out.speed_mps[t], out.accel_mps2[t] = active, xy, h, v, acc
        if t == n_steps - 1:
            break

        # late arrivals appear once their lane entry is clear
        for i in np.flatnonzero((spawn <= t) & ~active & ~gone):
            others = np.flatnonzero(active)
            active[i] = others.size == 0 or np.min(np.linalg.norm(centre[others] - centre[i], axis=1)) > 18.0

        veh = active[disc_owner]
        gap, lead_v = _path_gaps(
            path_xy, path_h, n_pts, np.ceil((s + front) / ds).astype(np.int64), look_n, half_w, active,
            np.concatenate([(centre[disc_owner] + disc_along[:, None] * dirs[disc_owner])[veh], st_xy, ped_xy[:, t]]),
            np.concatenate([half_w[disc_owner][veh], fixed_r]),
            np.concatenate([disc_owner[veh], fixed_owner]),
            np.concatenate([(v[:, None] * dirs)[disc_owner][veh], np.zeros((len(st_r), 2)), ped_v[:, t]]),
            ds,
        )  # fmt: skip

        # virtual stops: junction stop lines without a reservation, crossings about to be used
        s_front = s + front
        dist = cross_in - 1.0 - s_front[:, None]
        is_closed = np.where(cross_id >= 0, closed[np.maximum(cross_id, 0), t], False)
        can_stop = dist >= (v**2 / (2 * CROSSING_STOP_DECEL_MPS2))[:, None]
        yield_at = np.where((cross_in > s_front[:, None]) & is_closed & can_stop, dist, np.inf).min(axis=1)
        held_before_junction = yield_at < reservations.stop_s - s_front + 0.5
        virtual = np.minimum(reservations.update(t, active & ~held_before_junction, gone, s_front, s - rear), yield_at)
        virtual[0] = min(virtual[0], length[0] - s_front[0] - 1.0)  # the ego stops at its route's end

        # IDM with a curvature-limited desired speed, jerk-limited
        idx = np.minimum(i0[:, None] + np.arange(look_n)[None, :], width - 1)
        ahead_m = np.maximum(0.0, idx * ds[:, None] - s[:, None])
        v_curve = np.sqrt(vmax[rows[:, None], idx] ** 2 + 2 * b_cmf[:, None] * ahead_m).min(axis=1)
        v0 = np.maximum(0.1, np.minimum(v_des, v_curve))
        free = np.maximum(a_max * (1 - (v / v0) ** 4), -b_cmf)
        target = free + np.minimum(
            interaction_mps2(v, gap, v - lead_v, s_min, t_head, a_max, b_cmf),
            interaction_mps2(v, virtual, v, s_min, t_head, a_max, b_cmf),
        )
        target = np.clip(target, -MAX_DECEL_MPS2, a_max)
        acc = np.clip(target, acc - MAX_JERK_DOWN_MPS3 * dt_s, acc + MAX_JERK_UP_MPS3 * dt_s)
        v_new = np.maximum(0.0, v + acc * dt_s)
        acc = np.where(active & (v_new > 0), acc, 0.0)
        s = np.where(active, s + 0.5 * (v + v_new) * dt_s, s)
        v = np.where(active, v_new, v)
        leaving = active & (s + front >= length - 0.2)
        leaving[0] = False
        gone |= leaving
        active &= ~leaving
    return out
