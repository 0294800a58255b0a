"""Planners on synthetic scenes, judged by an independent check (shapely boxes moving with their true
velocity), not by the planners' own cost code."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon

import planners
from occplan.types import VehicleParams
from planners.occ_sampler import OccSamplerPlanner
from planners.synthetic import BoxObstacle, arc_route, make_input, road_scene, straight_route

VEHICLE = VehicleParams()


def _ego_box(pose: np.ndarray) -> Polygon:
    x, y, yaw = pose
    c, s = np.cos(yaw), np.sin(yaw)
    cx, cy = x + VEHICLE.rear_axle_to_center_m * c, y + VEHICLE.rear_axle_to_center_m * s
    hl, hw = VEHICLE.length_m / 2, VEHICLE.width_m / 2
    local = np.array([[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]])
    return Polygon(local @ np.array([[c, s], [-s, c]]) + [cx, cy])


def _obstacle_box(ob: BoxObstacle, t_s: float) -> Polygon:
    c, s = np.cos(ob.yaw_rad), np.sin(ob.yaw_rad)
    centre = np.asarray(ob.center_xy_m) + np.asarray(ob.velocity_mps) * t_s
    hl, hw = ob.length_m / 2, ob.width_m / 2
    local = np.array([[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]])
    return Polygon(local @ np.array([[c, s], [-s, c]]) + centre)


def _hits(poses: np.ndarray, obstacles: list[BoxObstacle], dt_s: float = 0.5) -> bool:
    """True if the ego box at any waypoint, or halfway between waypoints, overlaps an obstacle."""
    full = np.vstack([np.zeros((1, 3)), poses])
    for k in range(1, len(full)):
        for frac in (0.5, 1.0):
            p = full[k - 1] + frac * (full[k] - full[k - 1])
            t = (k - 1 + frac) * dt_s
            if any(_ego_box(p).intersects(_obstacle_box(ob, t)) for ob in obstacles):
                return True
    return False


@pytest.fixture(scope="module")
def obstacle_ahead():
    route = straight_route()
    obstacles = [BoxObstacle((20.0, 0.0))]
    occ, drivable = road_scene(route, obstacles, road_half_width_m=7.0)
    return make_input(occ, 10.0, route, drivable), obstacles


@pytest.mark.parametrize("name", ["occ_sampler", "pdm"])
def test_static_obstacle_in_lane_is_avoided(obstacle_ahead, name):
    inp, obstacles = obstacle_ahead
    assert _hits(planners.create("constant_velocity").plan(inp).poses, obstacles)
    traj = planners.create(name).plan(inp)
    assert not _hits(traj.poses, obstacles)


def test_pdm_stops_behind_a_blocking_obstacle():
    route = straight_route()
    obstacles = [BoxObstacle((25.0, 0.0), length_m=2.0, width_m=9.0, label="barrier")]  # blocks the road
    occ, drivable = road_scene(route, obstacles, road_half_width_m=4.0)
    traj = planners.create("pdm").plan(make_input(occ, 8.0, route, drivable))
    assert not _hits(traj.poses, obstacles)
    step_m = np.diff(np.concatenate([[0.0], traj.poses[:, 0]]))
    assert np.all(np.diff(step_m) < 0)  # braking all along
    assert step_m[-1] < 0.5 * step_m[0]  # to well under half the initial speed by 3 s
    front_m = traj.poses[:, 0] + VEHICLE.rear_axle_to_center_m + VEHICLE.length_m / 2
    assert front_m.max() < 24.0 and traj.poses[-1, 0] > 5.0  # short of the barrier, without stopping dead


@pytest.mark.parametrize("left", [True, False])
def test_pdm_follows_a_curved_route(left):
    route = arc_route(radius_m=40.0, length_m=80.0, left=left)
    occ, drivable = road_scene(route, road_half_width_m=4.0)
    traj = planners.create("pdm").plan(make_input(occ, 8.0, route, drivable))
    # distance of each waypoint from the arc centre equals the radius
    centre = np.array([0.0, 40.0 if left else -40.0])
    radial = np.hypot(*(traj.poses[:, :2] - centre).T)
    np.testing.assert_allclose(radial, 40.0, atol=0.3)
    assert traj.poses[-1, 0] > 15.0
    assert (np.sign(traj.poses[-1, 2]) == (1 if left else -1)) and abs(traj.poses[-1, 2]) > 0.3


def test_occ_sampler_stays_on_a_curved_road():
    route = arc_route(radius_m=30.0, length_m=80.0, left=True)
    occ, drivable = road_scene(route, road_half_width_m=3.0)
    inp = make_input(occ, 8.0, route, drivable)
    traj = planners.create("occ_sampler").plan(inp)
    radial = np.hypot(*(traj.poses[:, :2] - [0.0, 30.0]).T)
    assert np.all(np.abs(radial - 30.0) < 1.5)
    cv = planners.create("constant_velocity").plan(inp)
    assert np.abs(np.hypot(*(cv.poses[-1, :2] - [0.0, 30.0])) - 30.0) > 3.0  # the baseline leaves the road


@pytest.mark.parametrize("name", ["occ_sampler", "pdm"])
def test_crossing_obstacle_with_flow_is_avoided(name):
    route = straight_route()
    # crosses the ego lane right to left... from y = +12 m at 6 m/s: at the ego's x = 20 m at t = 2 s
    obstacles = [BoxObstacle((20.0, 12.0), yaw_rad=-np.pi / 2, velocity_mps=(0.0, -6.0))]
    occ, drivable = road_scene(route, obstacles, road_half_width_m=16.0, sidewalk_width_m=0.0)
    inp = make_input(occ, 10.0, route, drivable)
    assert _hits(planners.create("constant_velocity").plan(inp).poses, obstacles)
    assert not _hits(planners.create(name).plan(inp).poses, obstacles)


def test_candidates_without_drivable_ground_are_penalised():
    route = straight_route()
    occ, drivable = road_scene(route, road_half_width_m=3.0)
    inp = make_input(occ, 8.0, route, drivable)
    scored = OccSamplerPlanner().evaluate(inp)
    on_road = np.abs(scored.candidates.poses[:, :, 1]).max(axis=1) < 1.0
    off_road = np.abs(scored.candidates.poses[:, -1, 1]) > 5.0
    assert on_road.any() and off_road.any()
    assert np.all(scored.terms["offroad"][on_road] == 0)
    assert np.all(scored.terms["offroad"][off_road] > 0)
    # the same lattice with everything drivable (map raster all True): no off-road cost anywhere
    everywhere = OccSamplerPlanner().evaluate(make_input(occ, 8.0, route, np.ones_like(drivable)))
    assert np.all(everywhere.terms["offroad"] == 0)


def test_occ_sampler_keeps_speed_on_an_empty_road():
    route = straight_route()
    occ, drivable = road_scene(route)
    traj = planners.create("occ_sampler").plan(make_input(occ, 10.0, route, drivable))
    assert np.abs(traj.poses[:, 1]).max() < 0.3
    assert traj.poses[-1, 0] > 28.0
