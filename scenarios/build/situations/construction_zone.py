"""Construction zone: the ego's lane is closed 35-45 m ahead by a cone taper and barriers, with debris
(rubble and planks) lying in the lane before the cones.

The cones and barriers are annotated objects (boxes); the debris is static world geometry labelled
``movable_object.debris`` (Occ3D ``others``): the LiDAR sees it and the occupancy ground truth holds
it, but no box annotates it, so only an occupancy-aware model shows it to a planner. The expert's
traffic model stops for it through obstacle discs (``Staged.debris_discs``) and waits.

Check: at the keyframe closest to the end (ego stopped before the zone), the Occ3D ground truth has
``others`` voxels inside the debris footprints and none of them inside an annotated box; the
LiDAR returns labelled debris in that sweep; the ego stops (< 0.5 m/s) with its box clear of the
debris footprints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from occplan.types import GridSpec, LabelSet
from occplan.world.generated import GeneratedWorld
from occplan.world.spec import WorldSpec
from scenarios.build.boxes import box_corners
from scenarios.build.categories import KINDS, kind_rgb
from scenarios.build.objects import NO_ATTRIBUTE, StaticObject
from scenarios.build.situations.base import (
    EgoRoute,
    Situation,
    Staged,
    StageInput,
    cruising_ego,
    traffic_off_ego_lane,
)
from scenarios.build.situations.braking_lead import route_need
from scenarios.build.world import ego_box_corners

DEBRIS = LabelSet.lidarseg_general().index("movable_object.debris")
DEBRIS_RGB = ((120, 105, 85), (95, 90, 88), (150, 120, 80))
TAPER_M = 8.0  # cones from the lane's right edge to its left edge over this length
CONE_STEP_M = 1.2


def _debris(inp: StageInput, route: EgoRoute, s0: float) -> tuple[list[shapely.Polygon], np.ndarray, np.ndarray]:
    """3-5 pieces within 3 m before ``s0``: rubble mounds (flattened ellipsoids) and planks (thin boxes),
    added to the static mesh. Returns their footprints and obstacle discs (centres (M, 2), radii (M,))."""
    rng, builder = inp.rng, inp.builder
    feet, centres, radii = [], [], []
    for _ in range(int(rng.integers(3, 6))):
        s = s0 - rng.uniform(0.3, 3.0)
        xy, _, right = route.frame(s)
        c = xy + rng.uniform(-1.1, 1.1) * right
        rgb = np.asarray(DEBRIS_RGB[int(rng.integers(len(DEBRIS_RGB)))])
        if rng.random() < 0.6:
            r = rng.uniform(0.3, 0.6, 2)
            h = rng.uniform(0.2, 0.4)
            builder.add_ellipsoid([c[0], c[1], 0.3 * h], [r[0], r[1], h], DEBRIS, rgb)
            feet.append(_ellipse(c, r))
            centres.append(c)
            radii.append(float(r.max()))
        else:
            length, yaw = rng.uniform(1.2, 2.0), float(rng.uniform(-np.pi, np.pi))
            builder.add_box([c[0], c[1], 0.0], [length, 0.25, 0.12], yaw, DEBRIS, rgb)
            feet.append(shapely.Polygon(box_corners(c, np.array(yaw), 0.25, length)))
            u = np.array([np.cos(yaw), np.sin(yaw)])
            for a in (-length / 3, 0.0, length / 3):
                centres.append(c + a * u)
                radii.append(length / 6 + 0.125)
    return feet, np.array(centres), np.array(radii)


def _ellipse(c: np.ndarray, r: np.ndarray) -> shapely.Polygon:
    a = np.linspace(0.0, 2 * np.pi, 33)[:-1]
    return shapely.Polygon(np.column_stack([c[0] + r[0] * np.cos(a), c[1] + r[1] * np.sin(a)]))


def _cones_and_barriers(inp: StageInput, route: EgoRoute, s0: float) -> list[StaticObject]:
    """A cone taper across the lane from ``s0``, a barrier across the lane after it and barriers along
    the lane's right edge for 12 m."""
    rng, half = inp.rng, inp.cfg.lane_width_m / 2 - 0.3
    out = []
    n = int(TAPER_M / CONE_STEP_M) + 1
    for k in range(n):
        s = s0 + k * CONE_STEP_M
        xy, _, right = route.frame(s)
        lateral = half - 2 * half * k / (n - 1)  # right edge -> left edge
        size = KINDS["cone"].sample_size(rng)
        out.append(StaticObject("cone", size, xy + lateral * right, 0.0, route.heading(s), NO_ATTRIBUTE,
                                kind_rgb(rng, "cone")))  # fmt: skip
    s_bar = s0 + TAPER_M + 1.5
    xy, _, right = route.frame(s_bar)
    size = KINDS["barrier"].sample_size(rng)
    out.append(StaticObject("barrier", size, xy, 0.0, route.heading(s_bar), NO_ATTRIBUTE, kind_rgb(rng, "barrier")))
    for s in np.arange(s_bar + 2.0, s_bar + 14.0, 2.8):
        xy, _, right = route.frame(s)
        size = KINDS["barrier"].sample_size(rng)
        yaw = route.heading(s) + np.pi / 2  # the barrier's width runs along the lane
        out.append(StaticObject("barrier", size, xy + 0.6 * right, 0.0, yaw, NO_ATTRIBUTE, kind_rgb(rng, "barrier")))
    return out


class ConstructionZone(Situation):
    name = "construction_zone"

    def stage(self, inp: StageInput) -> Staged:
        ego, route = cruising_ego(inp, ahead_m=route_need(inp, float(inp.times_s[-1])))
        s0 = route.front_at(0.0) + inp.rng.uniform(35.0, 45.0)
        feet, centres, radii = _debris(inp, route, s0)
        zone = _cones_and_barriers(inp, route, s0)
        return Staged(
            plans=(ego, *traffic_off_ego_lane(inp.plans, ego)),
            statics=(*inp.statics, *zone),
            debris_discs=(centres, radii),
            debris_footprints=tuple(feet),
            params={"zone_distance_m": float(s0 - route.front_at(0.0)), "debris_pieces": float(len(feet))},
        )

    def check(self, spec: WorldSpec, world: GeneratedWorld, staged: Staged) -> dict[str, Any]:
        debris = shapely.union_all(staged.debris_footprints)
        t = int(spec.ego.times_us[-1] - (spec.ego.times_us[-1] - spec.start_time_us) % 500_000)  # last keyframe
        pose = world.logged_world_from_ego(t)
        grid = GridSpec.occ3d_nuscenes()
        occ = world.occupancy(pose, t, grid, with_masks=False)
        others = np.argwhere(occ.semantics == LabelSet.occ3d().index("others"))
        centres = occ.world_from_grid.transform_points(grid.centers_of(others))
        near = shapely.contains_xy(debris.buffer(grid.voxel_size_m), centres[:, 0], centres[:, 1])
        boxes = _boxes_at(spec, t)
        boxed = shapely.contains_xy(boxes, centres[near, 0], centres[near, 1]) if not boxes.is_empty else []
        scan = world.lidar_scan(pose, t)
        ego_boxes = shapely.polygons(ego_box_corners(spec.ego))
        facts = {
            "zone_distance_m": round(staged.params["zone_distance_m"], 2),
            "debris_pieces": int(staged.params["debris_pieces"]),
            "cones_and_barriers": int(sum(a.category.startswith("movable_object.") for a in spec.agents)),
            "check_time_s": round((t - spec.start_time_us) * 1e-6, 2),
            "debris_gt_voxels": int(near.sum()),
            "debris_gt_voxels_in_boxes": int(np.count_nonzero(boxed)),
            "debris_lidar_returns": int(np.count_nonzero(scan.labels == DEBRIS)),
            "ego_min_speed_mps": round(float(spec.ego.speed_mps.min()), 2),
            "min_gap_ego_debris_m": round(float(shapely.distance(ego_boxes, debris).min()), 2),
        }
        passed = facts["debris_gt_voxels"] >= 5 and facts["debris_gt_voxels_in_boxes"] == 0
        passed = passed and facts["debris_lidar_returns"] > 0 and facts["ego_min_speed_mps"] < 0.5
        passed = passed and facts["min_gap_ego_debris_m"] > 0.3
        return {"passed": bool(passed), **facts}


def _boxes_at(spec: WorldSpec, time_us: int) -> shapely.Geometry:
    """Union of the BEV boxes of the agents present at ``time_us``."""
    polys = []
    for a in spec.agents:
        k = np.searchsorted(a.times_us, time_us)
        if k < len(a.times_us) and a.times_us[k] == time_us:
            corners = box_corners(a.center_m[k, :2], np.array(a.yaw_rad[k]), a.size_m[0], a.size_m[1])
            polys.append(shapely.Polygon(corners))
    return shapely.union_all(polys) if polys else shapely.Polygon()
