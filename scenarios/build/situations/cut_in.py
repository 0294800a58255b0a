"""Cut-in: a car waiting in the parking strip on the ego's right pulls out and merges into the ego's lane
just in front of it.

The streets carry one lane per direction, so the lane beside the ego's on its right is the parking
strip: the merging car stands there (``vehicle.stopped``) until ``depart_s`` (1-2 s), then drives a
14 m G1 curve into the ego's lane (``VehiclePlan.depart_step``; IDM with 2.5 m/s^2 towards 80 % of
the ego's speed) and follows the lane. It is placed so that it crosses into the lane when the
cruising ego's front is 5-10 m behind its crossing point: the ego has to brake behind a slower car
that was a parked-looking box a moment earlier.

Check: the car's centre crosses the lane edge (1.75 m right of the lane centre) at a measured
time, the bumper gap to the ego then is under 2 s of the ego's speed, the ego brakes at >= 1.5 m/s^2
after it, and their boxes stay more than 0.5 m apart.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import shapely

from occplan.world.generated import GeneratedWorld
from occplan.world.spec import WorldSpec
from scenarios.build.categories import KINDS, kind_rgb
from scenarios.build.path import Path, cubic_bezier
from scenarios.build.situations import checks
from scenarios.build.situations.base import (
    Actor,
    Situation,
    Staged,
    StageInput,
    StagingError,
    ego_with_right_strip,
    statics_outside,
    traffic_off_ego_lane,
)
from scenarios.build.vehicles import Driver

MERGE_M = 14.0  # length along the lane of the curve from the strip into the lane
MERGE_ACCEL_MPS2 = 2.5


class CutIn(Situation):
    name = "cut_in"

    def stage(self, inp: StageInput) -> Staged:
        rng, duration = inp.rng, float(inp.times_s[-1])
        ego, route, span = ego_with_right_strip(inp)
        depart = float(rng.uniform(1.0, 2.0))
        # accelerating from rest (jerk-limited build-up ~0.8 s), the car covers half the curve in ~2.8 s
        t_cross = depart + 0.8 + np.sqrt(MERGE_M / MERGE_ACCEL_MPS2)
        behind = rng.uniform(5.0, 10.0)
        lead_m = behind + route.speed_mps * t_cross + route.front_m - MERGE_M / 2  # start point - ego rear axle
        lo = max(span[0] + 6.0, 10.0 + lead_m)
        hi = min(span[1] - 2.0, route.path.length_m - route.speed_mps * duration - 40.0)
        if hi <= lo:
            raise StagingError("the parking strip on the ego's right is too short or too close")
        s_start = float(rng.uniform(lo, hi))
        ego = replace(ego, s0_m=s_start - lead_m)
        lateral = (inp.cfg.lane_width_m + inp.cfg.parking_width_m) / 2
        xy0, _, right0 = route.frame(s_start)
        xy1, _, _ = route.frame(s_start + MERGE_M)
        curve = cubic_bezier(xy0 + lateral * right0, route.heading(s_start), xy1, route.heading(s_start + MERGE_M))
        rest = route.path.xy_m[route.path.s_m > s_start + MERGE_M + route.path.step_m]
        path = Path.from_points(np.concatenate([curve.xy_m, rest]), inp.cfg.path_step_m)
        size = KINDS["car"].sample_size(rng)
        merger = replace(
            ego,
            kind="car",
            size_m=size,
            ref_to_center_m=0.0,
            path=path,
            driver=Driver(0.8 * route.speed_mps, max_accel_mps2=MERGE_ACCEL_MPS2),
            s0_m=0.0,
            v0_mps=0.0,
            rgb=kind_rgb(rng, "car"),
            depart_step=round(depart * inp.cfg.sim_rate_hz),
        )
        clear = shapely.Point(xy0 + lateral * right0).buffer(MERGE_M + 6.0)
        return Staged(
            plans=(ego, merger, *traffic_off_ego_lane(inp.plans, ego)),
            statics=tuple(statics_outside(inp.statics, clear)),
            actors={"merger": Actor(KINDS["car"].category, path.xy_m[0].copy())},
            params={"depart_s": depart, "lane_edge_m": inp.cfg.lane_width_m / 2},
        )

    def check(self, spec: WorldSpec, world: GeneratedWorld, staged: Staged) -> dict[str, Any]:
        k = checks.find_actor(spec, staged.actors["merger"])
        if k is None:
            return {"passed": False, "reason": "merging vehicle track missing"}
        car = spec.agents[k]
        lane = shapely.LineString(spec.route_xy_m)
        offset = shapely.distance(shapely.points(car.center_m[:, :2]), lane)
        inside = np.flatnonzero(offset < staged.params["lane_edge_m"])
        t_car = checks.seconds(spec, car.times_us)
        facts: dict[str, Any] = {
            "depart_s": round(staged.params["depart_s"], 2),
            "min_gap_ego_merger_m": round(float(checks.box_gaps_m(spec, car).min()), 2),
        }
        if not inside.size:
            return {"passed": False, **facts, "reason": "the car never enters the ego's lane"}
        t_cross = float(t_car[inside[0]])
        i = int(np.searchsorted(checks.seconds(spec, spec.ego.times_us), t_cross))
        gap = float(checks.box_gaps_m(spec, car)[inside[0]])
        ego_t = checks.seconds(spec, spec.ego.times_us)
        facts |= {
            "lane_crossing_s": round(t_cross, 2),
            "gap_at_crossing_m": round(gap, 2),
            "ego_speed_at_crossing_mps": round(float(spec.ego.speed_mps[i]), 2),
            "ego_max_decel_after_mps2": round(-float(checks.ego_accel_mps2(spec)[ego_t >= t_cross].min()), 2),
        }
        passed = gap < 2.0 * max(facts["ego_speed_at_crossing_mps"], 1.0) and t_cross > staged.params["depart_s"]
        passed = passed and facts["ego_max_decel_after_mps2"] >= 1.5 and facts["min_gap_ego_merger_m"] > 0.5
        return {"passed": bool(passed), **facts}
