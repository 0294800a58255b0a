"""The vehicles of a generated scene before they move: the expert ego's and the traffic's routes along
the lanes, their IDM drivers, sizes and start states (``scenarios.build.traffic`` simulates them).

Plan 0 is the ego; its path reference is its rear axle (nuScenes ego_pose) with the box centre
``rear_axle_to_center_m`` ahead, the other vehicles' is their box centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.types import VehicleParams
from scenarios.build.categories import KINDS, kind_rgb, sample_vehicle_kind
from scenarios.build.config import BuildConfig
from scenarios.build.network import Lane, RoadNetwork, path_crossings
from scenarios.build.path import Path, concatenate

EGO = 0  # index of the expert ego among the planned vehicles


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
    speed, the step it appears at, and its junction reservation (``connector`` -1 when none).

    Scripted departures and stops (a scenario's actors; the defaults leave the IDM driver alone): the
    vehicle stands still until ``depart_step`` (set ``v0_mps`` 0), and from ``brake_step`` >= 0 on it
    brakes at ``brake_decel_mps2`` (reached at the traffic model's jerk limit) until it stands,
    whatever its IDM driver would do."""

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
    brake_step: int = -1
    brake_decel_mps2: float = 0.0
    depart_step: int = 0

    @property
    def front_m(self) -> float:
        return self.ref_to_center_m + self.size_m[1] / 2

    @property
    def rear_m(self) -> float:
        return self.size_m[1] / 2 - self.ref_to_center_m


def lane_route(rng: np.random.Generator, net: RoadNetwork, lane: int, connector: int | None = None) -> list[int]:
    """Lane ids from ``lane`` to the world border; at a junction a random (or the given) connector."""
    out = [lane]
    while net.lanes[out[-1]].successors:
        succ = net.lanes[out[-1]].successors
        nxt = connector if connector is not None and connector in succ else succ[int(rng.integers(len(succ)))]
        out.append(nxt)
    return out


def vehicle_plan(
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


def _plan_ego(
    rng: np.random.Generator, net: RoadNetwork, cfg: BuildConfig, duration_s: float
) -> tuple[VehiclePlan, int]:
    """The expert ego and the lane it starts on: through the junction with a turn when there is one
    (starting a drawn distance before its stop line), else along one lane (on a curve 40-80 m before its
    sharpest point)."""
    step = cfg.path_step_m
    vp = VehicleParams()
    ego_driver = Driver(float(rng.uniform(*cfg.ego_desired_speed_mps)), 1.5, 2.0, 1.6, 2.5, 2.0)
    ego_size = np.array([vp.width_m, vp.length_m, vp.height_m])
    if net.junctions:
        incoming = [k for k, ln in enumerate(net.lanes) if ln.successors and not ln.is_connector]
        ego_lane = incoming[int(rng.integers(len(incoming)))]
        turns = _turn_connectors(net, ego_lane)
        lanes = lane_route(rng, net, ego_lane, turns[int(rng.integers(len(turns)))] if turns else None)
        probe = vehicle_plan(
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
    ego = vehicle_plan(
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
    return ego, lanes[0]


def _plan_lane_traffic(
    rng: np.random.Generator, net: RoadNetwork, cfg: BuildConfig, placed: dict[int, list[tuple[float, float]]]
) -> list[VehiclePlan]:
    """Vehicles on the lanes at t = 0, each placed (up to 20 draws) clear of crossings and, by speed, of the
    vehicles already ``placed`` on its lane (lane id -> (centre arclength, length) pairs, extended here)."""
    step = cfg.path_step_m
    plans = []
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
                vehicle_plan(
                    net, lane_route(rng, net, lane_id), kind, size, 0.0, driver, s, v0, 0, kind_rgb(rng, kind), step
                )
            )
            break
    return plans


def _plan_late_arrivals(
    rng: np.random.Generator, net: RoadNetwork, cfg: BuildConfig, n_steps: int
) -> list[VehiclePlan]:
    """Vehicles entering the world at an entry lane at a drawn step after t = 0."""
    step = cfg.path_step_m
    plans = []
    n_late = int(rng.integers(cfg.late_vehicles[0], cfg.late_vehicles[1] + 1))
    for _ in range(n_late):
        kind = sample_vehicle_kind(rng)
        size = KINDS[kind].sample_size(rng)
        lane_id = net.entry_lanes[int(rng.integers(len(net.entry_lanes)))]
        driver = Driver(float(rng.uniform(*KINDS[kind].speed_mps)))
        spawn = int(rng.integers(1, max(2, n_steps - int(3 * cfg.sim_rate_hz))))
        route = lane_route(rng, net, lane_id)
        plans.append(
            vehicle_plan(
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


def plan_vehicles(
    rng: np.random.Generator, net: RoadNetwork, cfg: BuildConfig, n_steps: int, duration_s: float
) -> list[VehiclePlan]:
    """The ego (first) and the traffic: vehicles on lanes at t = 0 and late arrivals at the entries."""
    ego, ego_lane = _plan_ego(rng, net, cfg, duration_s)
    placed = {ego_lane: [(ego.s0_m + ego.ref_to_center_m, ego.size_m[1])]}
    traffic = _plan_lane_traffic(rng, net, cfg, placed)
    return [ego, *traffic, *_plan_late_arrivals(rng, net, cfg, n_steps)]
