"""Lane following (the control type): the ego cruises along its lane on a straight road or a curve with
nothing staged ahead of it in its lane (oncoming traffic, parked cars and pedestrians as drawn).

Check: the expert never brakes harder than 3 m/s^2 and covers at least half the distance its
desired speed would cover in the scene.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from occplan.world.generated import GeneratedWorld
from occplan.world.spec import WorldSpec
from scenarios.build.situations import checks
from scenarios.build.situations.base import Situation, Staged, StageInput, cruising_ego, traffic_off_ego_lane
from scenarios.build.situations.braking_lead import route_need


class LaneFollowing(Situation):
    name = "lane_following"
    layouts = ("straight", "curve")

    def stage(self, inp: StageInput) -> Staged:
        ego, route = cruising_ego(inp, ahead_m=route_need(inp, float(inp.times_s[-1])))
        duration = float(inp.times_s[-1])
        return Staged(
            plans=(ego, *traffic_off_ego_lane(inp.plans, ego)),
            statics=inp.statics,
            params={"expected_distance_m": float(route.speed_mps * duration)},
        )

    def check(self, spec: WorldSpec, world: GeneratedWorld, staged: Staged) -> dict[str, Any]:
        steps = np.linalg.norm(np.diff(spec.ego.xy_m, axis=0), axis=1)
        facts = {
            "ego_max_decel_mps2": round(-float(checks.ego_accel_mps2(spec).min()), 2),
            "ego_distance_m": round(float(steps.sum()), 2),
            "expected_distance_m": round(staged.params["expected_distance_m"], 2),
        }
        passed = facts["ego_max_decel_mps2"] < 3.0 and facts["ego_distance_m"] >= 0.5 * facts["expected_distance_m"]
        return {"passed": bool(passed), **facts}
