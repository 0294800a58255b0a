"""Unprotected turn: the ego turns left at a 4-way junction without signals across the lane of an oncoming
vehicle that goes straight and reaches the junction first.

The ego starts 21-24 m before its stop line at its desired speed; the oncoming car starts 2-8 m
before its own stop line at its cruise speed, so it requests its junction reservation
(``scenarios.build.right_of_way``) before the ego does and holds the conflicting connector: the
expert ego has to slow down at the stop line and let it pass before turning. Other vehicles heading
into the junction at t = 0 are removed, so the ego's gap is this one car's.

Check: the ego's route turns left (> 35 deg) and crosses the oncoming car's path; the car reaches
the crossing point first, the ego's box centre not within 1 s after it; when the car is there the
ego is within 35 m of that point and below 60 % of its desired speed (it yields to the car), and
their boxes stay more than 1 m apart.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import shapely

from occplan.world.generated import GeneratedWorld
from occplan.world.spec import WorldSpec
from scenarios.build.categories import KINDS, kind_rgb
from scenarios.build.right_of_way import connector_conflicts
from scenarios.build.situations import checks
from scenarios.build.situations.base import Actor, Situation, Staged, StageInput, StagingError, same_lane
from scenarios.build.vehicles import EGO, Driver, VehiclePlan, lane_route, vehicle_plan

TURN_RAD = np.deg2rad(35.0)


def _turn_rad(path) -> float:
    """Signed heading change along a connector (left positive)."""
    return float(path.heading_rad[-1] - path.heading_rad[0])


def _pick(inp: StageInput) -> tuple[int, int, int, int]:
    """(ego incoming lane, its left-turn connector, oncoming incoming lane, its straight connector) whose
    connectors conflict; the first such pair in a drawn order."""
    net = inp.net
    conns = net.junctions[0].connectors
    conflicts = connector_conflicts(net)
    incoming = [k for k, ln in enumerate(net.lanes) if ln.successors and not ln.is_connector]
    for a in inp.rng.permutation(incoming):
        left = [c for c in net.lanes[a].successors if _turn_rad(net.lanes[c].path) > TURN_RAD]
        for c in left:
            for b in incoming:
                if b == a:
                    continue
                straight = [d for d in net.lanes[b].successors if abs(_turn_rad(net.lanes[d].path)) < TURN_RAD]
                for d in straight:
                    if conflicts[conns.index(c), conns.index(d)]:
                        return int(a), c, b, d
    raise StagingError("no left turn across an oncoming straight path at this junction")


class UnprotectedTurn(Situation):
    name = "unprotected_turn"
    layouts = ("crossroad",)

    def stage(self, inp: StageInput) -> Staged:
        rng, net, step = inp.rng, inp.net, inp.cfg.path_step_m
        ego0 = inp.plans[EGO]
        a, c, b, d = _pick(inp)
        lanes = lane_route(rng, net, a, c)
        ego = vehicle_plan(
            net, lanes, ego0.kind, ego0.size_m, ego0.ref_to_center_m, ego0.driver, 0.0, 0.0, 0, ego0.rgb, step
        )
        s0 = ego.stop_s_m - ego.front_m - rng.uniform(21.0, 24.0)  # requests its reservation after the car
        if s0 < 1.0:
            raise StagingError("incoming lane too short for the ego's approach")
        ego = replace(ego, s0_m=s0, v0_mps=ego.driver.desired_speed_mps)
        size = KINDS["car"].sample_size(rng)
        driver = Driver(float(rng.uniform(*KINDS["car"].speed_mps)))
        route = lane_route(rng, net, b, d)
        probe = vehicle_plan(net, route, "car", size, 0.0, driver, 0.0, 0.0, 0, kind_rgb(rng, "car"), step)
        s_on = probe.stop_s_m - size[1] / 2 - rng.uniform(2.0, 8.0)
        if s_on < size[1]:
            raise StagingError("oncoming lane too short")
        oncoming = replace(probe, s0_m=s_on, v0_mps=driver.desired_speed_mps)
        xy = oncoming.path.sample(s_on)[0][0]
        others = [p for p in inp.plans[1:] if (p.connector < 0 or p.spawn_step > 0) and not _on(p, (ego, oncoming))]
        return Staged(
            plans=(ego, oncoming, *others),
            statics=inp.statics,
            actors={"oncoming": Actor(KINDS["car"].category, xy)},
            params={
                "turn_deg": float(np.rad2deg(_turn_rad(net.lanes[c].path))),
                "ego_desired_mps": float(ego.driver.desired_speed_mps),
            },
        )

    def check(self, spec: WorldSpec, world: GeneratedWorld, staged: Staged) -> dict[str, Any]:
        k = checks.find_actor(spec, staged.actors["oncoming"])
        if k is None:
            return {"passed": False, "reason": "oncoming vehicle track missing"}
        car = spec.agents[k]
        crossing = shapely.LineString(spec.route_xy_m).intersection(shapely.LineString(car.center_m[:, :2]))
        if crossing.is_empty:
            return {"passed": False, "reason": "the oncoming path does not cross the ego's route"}
        point = np.asarray(shapely.get_coordinates(crossing)[0])
        ego_centre = checks.ego_centres_m(spec)
        t_car = _first_within(checks.seconds(spec, car.times_us), car.center_m[:, :2], point)
        t_ego = _first_within(checks.seconds(spec, spec.ego.times_us), ego_centre, point)
        facts: dict[str, Any] = {
            "turn_deg": round(staged.params["turn_deg"], 1),
            "oncoming_at_conflict_s": t_car,
            "ego_at_conflict_s": t_ego,
            "min_gap_ego_oncoming_m": round(float(checks.box_gaps_m(spec, car).min()), 2),
        }
        if t_car is None:
            return {"passed": False, **facts}
        i = int(np.searchsorted(checks.seconds(spec, spec.ego.times_us), t_car))
        facts["ego_distance_to_conflict_then_m"] = round(float(np.linalg.norm(ego_centre[i] - point)), 2)
        facts["ego_speed_then_mps"] = round(float(spec.ego.speed_mps[i]), 2)
        facts["post_encroachment_s"] = None if t_ego is None else round(t_ego - t_car, 2)
        yielding = facts["ego_speed_then_mps"] < 0.6 * staged.params["ego_desired_mps"]
        passed = facts["turn_deg"] > np.rad2deg(TURN_RAD) and (t_ego is None or t_ego > t_car + 1.0)
        passed = passed and yielding and facts["ego_distance_to_conflict_then_m"] < 35.0
        passed = passed and facts["min_gap_ego_oncoming_m"] > 1.0
        return {"passed": bool(passed), **facts}


def _on(plan: VehiclePlan, staged: tuple[VehiclePlan, ...]) -> bool:
    """Whether ``plan`` starts on the lane of one of the staged vehicles."""
    return any(same_lane(plan, p) for p in staged)


def _first_within(t_s: np.ndarray, xy_m: np.ndarray, point: np.ndarray, radius_m: float = 1.5) -> float | None:
    """First time (s, 2 decimals) ``xy_m`` (T, 2) comes within ``radius_m`` of ``point``; None if never."""
    near = np.flatnonzero(np.linalg.norm(xy_m - point, axis=1) < radius_m)
    return round(float(t_s[near[0]]), 2) if near.size else None
