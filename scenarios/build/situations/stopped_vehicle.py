"""Stopped vehicle ahead: a car stands still in the ego's lane (broken down, hazard lights on) 25-35 m
ahead; the two-lane street leaves only the oncoming lane to pass it. The expert waits behind it.

The car is a static annotated object with attribute ``vehicle.stopped`` (not parked: it blocks a
lane). Check: it never moves, stands within 0.3 m of the ego lane's centre, the LiDAR sees it from
the start, and the ego comes to a stop (< 0.5 m/s) behind it, its box at least 1 m away.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from occplan.world.generated import GeneratedWorld
from occplan.world.spec import WorldSpec
from scenarios.build.categories import KINDS, VEHICLE_ATTRIBUTES, kind_rgb
from scenarios.build.objects import StaticObject
from scenarios.build.situations import checks
from scenarios.build.situations.base import (
    Actor,
    Situation,
    Staged,
    StageInput,
    cruising_ego,
    traffic_off_ego_lane,
)
from scenarios.build.situations.braking_lead import route_need

STOPPED = VEHICLE_ATTRIBUTES.index("vehicle.stopped")


class StoppedVehicle(Situation):
    name = "stopped_vehicle"

    def stage(self, inp: StageInput) -> Staged:
        rng = inp.rng
        ego, route = cruising_ego(inp, ahead_m=route_need(inp, float(inp.times_s[-1])))
        size = KINDS["car"].sample_size(rng)
        s_car = route.front_at(0.0) + rng.uniform(25.0, 35.0) + size[1] / 2
        xy, _, _ = route.frame(s_car)
        car = StaticObject("car", size, xy, 0.0, route.heading(s_car), STOPPED, kind_rgb(rng, "car"))
        return Staged(
            plans=(ego, *traffic_off_ego_lane(inp.plans, ego)),
            statics=(*inp.statics, car),
            actors={"stopped": Actor(KINDS["car"].category, xy)},
            params={"distance_m": float(s_car - size[1] / 2 - route.front_at(0.0))},
        )

    def check(self, spec: WorldSpec, world: GeneratedWorld, staged: Staged) -> dict[str, Any]:
        k = checks.find_actor(spec, staged.actors["stopped"])
        if k is None:
            return {"passed": False, "reason": "stopped vehicle track missing"}
        car = spec.agents[k]
        moved = float(np.linalg.norm(car.center_m[:, :2] - car.center_m[0, :2], axis=1).max())
        returns = checks.lidar_returns(world, k, spec.ego.times_us[:1])
        facts = {
            "distance_m": round(staged.params["distance_m"], 2),
            "moved_m": round(moved, 3),
            "ego_path_offset_m": round(_offset_from_path(spec.ego.xy_m, car.center_m[0, :2]), 3),
            "lidar_returns_at_start": int(returns[0]),
            "ego_min_speed_mps": round(float(spec.ego.speed_mps.min()), 2),
            "min_gap_ego_vehicle_m": round(float(checks.box_gaps_m(spec, car).min()), 2),
        }
        passed = moved < 1e-6 and facts["ego_path_offset_m"] < 0.3 and facts["lidar_returns_at_start"] > 0
        passed = passed and facts["ego_min_speed_mps"] < 0.5 and facts["min_gap_ego_vehicle_m"] >= 1.0
        return {"passed": bool(passed), **facts}


def _offset_from_path(path_xy: np.ndarray, point: np.ndarray) -> float:
    """Distance from ``point`` to the line through the first and last of ``path_xy`` (a straight lane)."""
    a, b = path_xy[0], path_xy[-1]
    d = (b - a) / max(np.linalg.norm(b - a), 1e-9)
    r = point - a
    return float(abs(r[0] * d[1] - r[1] * d[0]))
