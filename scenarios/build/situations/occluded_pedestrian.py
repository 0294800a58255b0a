"""Occluded pedestrian: a child steps out from between parked cars into the ego's lane.

A continuous row of parked vehicles fills the parking strip on the ego's right over 32 m before the
step-out point; the child (1.25 m, below the 1.72 m car roofs, so the roof-mounted LiDAR's rays to
it pass through the cars at any distance along the row) stands in a 1.3 m gap between two of them,
runs into the ego's lane at ``step_out_s`` (1.8 m/s), stops there for 2 s and walks back. The
step-out point is placed so that the cruising ego's front is 14-18 m away when the child enters its
path corridor: the expert brakes hard (up to the traffic model's 7 m/s^2) and waits. Boxes do not help
a planner before the child appears; only a model that keeps the child (or the gap) in mind does.

Check: LiDAR returns on the child in sweeps cast from the logged ego poses at 10 Hz and pixels
showing it in the six cameras (128x72 pixel rays) at 5 Hz (none before it steps out, some after),
the ego's braking after the step-out, and the smallest ego-child box gap.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import shapely

from occplan.types import VehicleParams
from occplan.world.generated import GeneratedWorld
from occplan.world.spec import WorldSpec
from scenarios.build.categories import KINDS, kind_rgb
from scenarios.build.objects import PARKED, StaticObject
from scenarios.build.obstacle_discs import CORRIDOR_MARGIN_M, PEDESTRIAN_RADIUS_M
from scenarios.build.pedestrians import PedestrianMotion
from scenarios.build.situations import checks
from scenarios.build.situations.base import (
    Actor,
    EgoRoute,
    Situation,
    Staged,
    StageInput,
    StagingError,
    ego_with_right_strip,
    statics_outside,
    traffic_off_ego_lane,
)

ROW_BEHIND_M = 32.0  # parked row before the gap
GAP_M = 1.3
CAR_GAP_M = (0.6, 1.0)
RUN_MPS, BACK_MPS = 1.8, 1.2
STAND_IN_LANE_S = 2.0
IN_LANE_RIGHT_M = 0.3  # where the child stops: this far right of the lane centre
# lateral distance from the lane centre at which the traffic model's ego first sees the child on its path
CORRIDOR_M = VehicleParams().width_m / 2 + PEDESTRIAN_RADIUS_M + CORRIDOR_MARGIN_M


def _row(inp: StageInput, route: EgoRoute, s_gap: float, lateral_m: float) -> list[StaticObject]:
    """Parked vehicles end to end from the gap backwards over ``ROW_BEHIND_M``, and one beyond the gap."""
    rng = inp.rng
    out = []

    def park(s_front: float, forward: bool) -> float:
        kind = "truck" if rng.random() < 0.15 else "car"
        size = KINDS[kind].sample_size(rng)
        size[0] = min(size[0], 2.2)  # fits the 2.4 m strip
        centre = s_front - size[1] / 2 if not forward else s_front + size[1] / 2
        xy, _, right = route.frame(centre)
        out.append(
            StaticObject(kind, size, xy + lateral_m * right, 0.0, route.heading(centre), PARKED, kind_rgb(rng, kind))
        )
        return size[1]

    s = s_gap - GAP_M / 2
    while s > s_gap - ROW_BEHIND_M:
        s -= park(s, forward=False) + rng.uniform(*CAR_GAP_M)
    park(s_gap + GAP_M / 2, forward=True)
    return out


def _child_motion(inp: StageInput, route: EgoRoute, s_gap: float, lateral_m: float, t_out: float) -> PedestrianMotion:
    """Stand in the gap, run to ``IN_LANE_RIGHT_M`` right of the lane centre, stand, walk back."""
    t = inp.times_s
    xy0, _, right = route.frame(s_gap)
    run = lateral_m - IN_LANE_RIGHT_M
    t_in = t_out + run / RUN_MPS
    t_back = t_in + STAND_IN_LANE_S
    out_m = np.clip((t - t_out) * RUN_MPS, 0.0, run)
    back_m = np.clip((t - t_back) * BACK_MPS, 0.0, run)
    lateral = lateral_m - out_m + back_m
    xy = xy0 + lateral[:, None] * right
    heading_out = float(np.arctan2(-right[1], -right[0]))
    heading = np.where(t >= t_back, heading_out + np.pi, heading_out)
    size = KINDS["child"].sample_size(inp.rng)
    return PedestrianMotion("child", size, xy, heading, np.gradient(xy, t, axis=0), kind_rgb(inp.rng, "child"))


class OccludedPedestrian(Situation):
    name = "occluded_pedestrian"

    def stage(self, inp: StageInput) -> Staged:
        rng, duration = inp.rng, float(inp.times_s[-1])
        ego, route, span = ego_with_right_strip(inp)
        t_out = rng.uniform(2.0, 3.0)
        lateral = (inp.cfg.lane_width_m + inp.cfg.parking_width_m) / 2
        t_enter = t_out + (lateral - CORRIDOR_M) / RUN_MPS
        lead_m = rng.uniform(14.0, 18.0) + route.speed_mps * t_enter + route.front_m  # gap to the ego's rear axle
        lo, hi = span[0] + ROW_BEHIND_M + 8.0, span[1] - 8.0
        lo = max(lo, 10.0 + lead_m)
        hi = min(hi, route.path.length_m - route.speed_mps * duration - 30.0)
        if hi <= lo:
            raise StagingError("the parking strip on the ego's right is too short or too close")
        s_gap = float(rng.uniform(lo, hi))
        ego = replace(ego, s0_m=s_gap - lead_m)
        route = replace(route, s0_m=ego.s0_m)
        xy, _, right = route.frame(s_gap)
        region = shapely.Point(xy + lateral * right).buffer(ROW_BEHIND_M + 10.0)
        statics = statics_outside(inp.statics, region) + _row(inp, route, s_gap, lateral)
        child = _child_motion(inp, route, s_gap, lateral, t_out)
        return Staged(
            plans=(ego, *traffic_off_ego_lane(inp.plans, ego)),
            statics=tuple(statics),
            pedestrians=(child,),
            actors={"pedestrian": Actor(KINDS["child"].category, child.xy_m[0].copy())},
            params={"step_out_s": float(t_out), "enters_path_s": float(t_enter)},
        )

    def check(self, spec: WorldSpec, world: GeneratedWorld, staged: Staged) -> dict[str, Any]:
        k = checks.find_actor(spec, staged.actors["pedestrian"])
        if k is None:
            return {"passed": False, "reason": "pedestrian track missing"}
        t_out = staged.params["step_out_s"]
        times = checks.check_times_us(spec)
        sec = checks.seconds(spec, times)
        returns = checks.lidar_returns(world, k, times)
        pixels = np.zeros_like(returns)
        pixels[::2] = checks.camera_pixels(world, k, times[::2])  # cameras at 5 Hz
        before, after = returns[sec < t_out], returns[sec >= t_out]
        visible = np.flatnonzero((returns > 0) | (pixels > 0))
        ego_t = checks.seconds(spec, spec.ego.times_us)
        decel = -float(checks.ego_accel_mps2(spec)[ego_t >= t_out].min())
        gap = float(checks.box_gaps_m(spec, spec.agents[k]).min())
        facts = {
            "step_out_s": round(t_out, 2),
            "lidar_returns_before_max": int(before.max(initial=0)),
            "lidar_returns_after_max": int(after.max(initial=0)),
            "camera_pixels_before_max": int(pixels[sec < t_out].max(initial=0)),
            "camera_pixels_after_max": int(pixels[sec >= t_out].max(initial=0)),
            "first_visible_s": round(float(sec[visible[0]]), 2) if visible.size else None,
            "ego_max_decel_mps2": round(decel, 2),
            "ego_min_speed_after_mps": round(float(spec.ego.speed_mps[ego_t >= t_out].min()), 2),
            "min_gap_ego_pedestrian_m": round(gap, 2),
        }
        passed = facts["lidar_returns_before_max"] == 0 and facts["lidar_returns_after_max"] >= 5
        passed &= facts["camera_pixels_before_max"] == 0 and facts["camera_pixels_after_max"] >= 5
        passed &= decel >= 1.5 and gap > 0.2
        return {"passed": bool(passed), **facts}
