"""Braking lead: the vehicle ahead of the ego in its lane brakes hard at a set time and stops.

A car drives 1.4-1.8 s (time headway at the ego's cruise speed) plus 3 m ahead of the cruising ego
at the same speed; at ``brake_s`` (2-3 s) it brakes at 5-6.5 m/s^2 (scripted, ``VehiclePlan.brake_step``,
built up at the traffic model's jerk limit) to a standstill and stays there. The expert ego follows
with IDM and has to brake hard behind it.

Check: the lead's track decelerates at >= 4 m/s^2 starting within 0.5 s of ``brake_s``, the ego
brakes at >= 2 m/s^2, and their boxes never come closer than 0.5 m.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from occplan.world.generated import GeneratedWorld
from occplan.world.spec import WorldSpec
from scenarios.build.categories import KINDS, kind_rgb
from scenarios.build.situations import checks
from scenarios.build.situations.base import (
    Actor,
    Situation,
    Staged,
    StageInput,
    cruising_ego,
    traffic_off_ego_lane,
)
from scenarios.build.vehicles import Driver


class BrakingLead(Situation):
    name = "braking_lead"

    def stage(self, inp: StageInput) -> Staged:
        rng, duration = inp.rng, float(inp.times_s[-1])
        ego, route = cruising_ego(inp, ahead_m=route_need(inp, duration))
        size = KINDS["car"].sample_size(rng)
        gap = route.speed_mps * rng.uniform(1.4, 1.8) + 3.0
        s_lead = route.front_at(0.0) + gap + size[1] / 2
        brake_s = float(rng.uniform(2.0, 3.0))
        decel = float(rng.uniform(5.0, 6.5))
        lead = replace(
            ego,
            kind="car",
            size_m=size,
            ref_to_center_m=0.0,
            driver=Driver(ego.driver.desired_speed_mps),
            s0_m=s_lead,
            rgb=kind_rgb(rng, "car"),
            brake_step=round(brake_s * inp.cfg.sim_rate_hz),
            brake_decel_mps2=decel,
        )
        xy, _, _ = route.frame(s_lead)
        return Staged(
            plans=(ego, lead, *traffic_off_ego_lane(inp.plans, ego)),
            statics=inp.statics,
            actors={"lead": Actor(KINDS["car"].category, xy)},
            params={"brake_s": brake_s, "brake_decel_mps2": decel, "initial_gap_m": float(gap)},
        )

    def check(self, spec: WorldSpec, world: GeneratedWorld, staged: Staged) -> dict[str, Any]:
        k = checks.find_actor(spec, staged.actors["lead"])
        if k is None:
            return {"passed": False, "reason": "lead vehicle track missing"}
        lead = spec.agents[k]
        accel = checks.track_accel_mps2(lead)
        t_lead = checks.seconds(spec, lead.times_us)
        braking = np.flatnonzero(accel < -2.0)
        onset = float(t_lead[braking[0]]) if braking.size else None
        ego_decel = -float(checks.ego_accel_mps2(spec).min())
        gap = float(checks.box_gaps_m(spec, lead).min())
        facts = {
            "brake_s": round(staged.params["brake_s"], 2),
            "lead_max_decel_mps2": round(-float(accel.min()), 2),
            "lead_braking_onset_s": None if onset is None else round(onset, 2),
            "lead_final_speed_mps": round(float(np.linalg.norm(lead.velocity_mps[-1])), 2),
            "ego_max_decel_mps2": round(ego_decel, 2),
            "min_gap_ego_lead_m": round(gap, 2),
        }
        passed = onset is not None and abs(onset - staged.params["brake_s"]) < 0.5
        passed = passed and facts["lead_max_decel_mps2"] >= 4.0 and ego_decel >= 2.0 and gap > 0.5
        return {"passed": bool(passed), **facts}


def route_need(inp: StageInput, duration_s: float) -> float:
    """Route needed ahead of the ego's front: the cruise distance over the scene and 40 m."""
    return inp.plans[0].driver.desired_speed_mps * duration_s + 40.0
