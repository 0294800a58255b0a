"""What the planners follow: paths to the mission goal without lanes, the map route's speed limit, the
road-aligned forecast and the at-fault collision rule of the proposals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point

from occplan.interfaces import PlannerInit
from occplan.types import MapInfo, VehicleParams
from occplan.types.route import DEFAULT_SPEED_LIMIT_MPS, LaneRoute
from planners import costs
from planners.footprint import Footprint
from planners.goal_path import GoalPathConfig, goal_path, keeps_left, local_path
from planners.pdm import PDMPlanner
from planners.reference import ReferenceFollower
from planners.route import Path
from planners.scene import SceneConfig, SceneForecast, build_scene
from planners.synthetic import BoxObstacle, arc_route, make_input, road_scene, straight_route

CFG = GoalPathConfig()
EGO = Footprint.from_vehicle(VehicleParams())


def _l_road() -> shapely.Geometry:
    """An 8 m wide road east along y = 100 from x = 20 to 100, turning north up to y = 200."""
    return LineString([(20.0, 100.0), (100.0, 100.0), (100.0, 200.0)]).buffer(4.0, cap_style="flat", join_style="mitre")


def test_the_goal_path_keeps_to_the_drivable_area_and_joins_start_and_goal():
    road = _l_road()
    path = goal_path(shapely.to_wkb(road), np.array([30.0, 100.0, 0.0]), np.array([100.0, 180.0, np.pi / 2]))
    assert np.allclose(path[0], [30.0, 100.0], atol=0.3) and np.allclose(path[-1], [100.0, 180.0], atol=0.3)
    inner = road.buffer(-1.0)  # smoothing may cut the corner, but not off the road
    assert all(inner.contains(Point(p)) for p in path[5:-5])
    assert np.hypot(*np.diff(path, axis=0).T).max() <= CFG.spacing_m + 1e-6
    # the corner is rounded: the path passes inside the outer corner of the turn
    assert Point(100.0, 100.0).distance(LineString(path)) < 3.0


def test_no_goal_path_across_a_gap_in_the_drivable_area():
    parts = shapely.union(_l_road(), Point(300.0, 300.0).buffer(10.0))
    assert goal_path(shapely.to_wkb(parts), np.array([30.0, 100.0, 0.0]), np.array([300.0, 300.0, 0.0])) is None


def _free_road(width_m: float, blocked: tuple[float, float, float, float] | None = None):
    """(200, 200) free grid of 0.4 m cells over [-40, 40) m: a road of ``width_m`` along x at y = 0,
    ``blocked`` (x0, x1, y0, y1) a blocked box."""
    c = -40.0 + (np.arange(200) + 0.5) * 0.4
    x, y = np.meshgrid(c, c, indexing="ij")
    free = np.abs(y) <= width_m / 2
    if blocked is not None:
        x0, x1, y0, y1 = blocked
        free &= ~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    return free, np.array([-40.0, -40.0]), 0.4


@pytest.mark.parametrize(("location", "side"), [("boston-seaport", -1.0), ("singapore-queenstown", 1.0)])
def test_a_wide_road_is_driven_on_the_driving_side(location, side):
    free, lo, cell = _free_road(14.0)
    ahead = straight_route(100.0)
    path = local_path(free, lo, cell, ahead, keeps_left(location), CFG)
    mid = path[(path[:, 0] > 10) & (path[:, 0] < 30)]
    # middle of the driving-side half (3.5 m off the centre), at most max_shift_m
    assert np.allclose(mid[:, 1], side * CFG.max_shift_m, atol=0.2)


def test_a_single_lane_is_driven_in_its_middle_and_a_blocked_part_is_passed():
    free, lo, cell = _free_road(5.0)
    path = local_path(free, lo, cell, straight_route(100.0), False, CFG)
    assert np.abs(path[(path[:, 0] > 10) & (path[:, 0] < 30), 1]).max() < 1.5 * cell  # the middle, at grid resolution
    free, lo, cell = _free_road(12.0, blocked=(15.0, 20.0, -6.0, 1.5))  # a parked van on the right half
    path = local_path(free, lo, cell, straight_route(100.0), False, CFG)
    near = path[(path[:, 0] > 14.0) & (path[:, 0] < 21.0)]
    assert near[:, 1].min() > 1.5 + VehicleParams().width_m / 2 + 0.3  # passes left of it with room to spare


def _init(route: LaneRoute | None = None, drivable: shapely.Geometry | None = None) -> PlannerInit:
    route = route or LaneRoute.none("test", DEFAULT_SPEED_LIMIT_MPS)
    kind = "polygons" if drivable is not None else "none"
    info = MapInfo("boston-seaport", kind, None if drivable is None else shapely.to_wkb(drivable))
    return PlannerInit("test", route, info, VehicleParams(), np.array([100.0, 180.0, np.pi / 2]))


def test_pdm_keeps_the_speed_limit_of_the_map_route():
    centre = straight_route(200.0)
    limit = np.where(centre[:, 0] < 40.0, 6.0, 12.0)
    route = LaneRoute("map_lanes", "", ("a", "b"), 1, centre, limit, 1.0, DEFAULT_SPEED_LIMIT_MPS)
    occ, drivable = road_scene(centre)
    inp = make_input(occ, 6.0, centre[:60], drivable)
    pdm = PDMPlanner()
    pdm.reset(_init(route))
    assert pdm.proposals(inp).target_speed_mps.max() == pytest.approx(6.0)
    bare = PDMPlanner()  # not reset: the input's route and the default limit
    assert bare.proposals(inp).target_speed_mps.max() == pytest.approx(DEFAULT_SPEED_LIMIT_MPS)
    speeds = np.hypot(*np.diff(np.vstack([[0, 0], pdm.plan(inp).poses[:, :2]]), axis=0).T) / 0.5
    assert speeds.max() < 6.0 + 0.3


def test_without_a_route_the_reference_leads_to_the_goal_over_the_drivable_area():
    road = _l_road()
    follower = ReferenceFollower(_init(drivable=road))
    occ, drivable = road_scene(straight_route())
    inp = make_input(occ, 5.0, np.zeros((0, 2)), drivable)  # ego at the world origin: move it onto the road
    ego = replace(inp.ego_state, x_m=30.0, y_m=100.0)
    ref = follower.reference(replace(inp, ego_state=ego))
    assert ref.source == "goal_path" and ref.speed_limit_mps == DEFAULT_SPEED_LIMIT_MPS
    world = ref.xy_m + np.array([30.0, 100.0])
    assert np.allclose(world[0], [30.0, 100.0], atol=0.5)  # from the ego along the road, round the corner
    assert abs(world[-1, 0] - 100.0) < 1.0 and world[-1, 1] > 140.0


def _arc_scene(obstacle: BoxObstacle) -> tuple[SceneForecast, Path]:
    route = arc_route(40.0, 80.0)
    occ, _ = road_scene(route, [obstacle], road_half_width_m=7.0)
    scene = build_scene(occ, 0.5, 6, EGO.corners_m)
    return scene, Path.from_polyline(route)


def test_a_car_following_the_curve_is_forecast_in_its_lane():
    path = Path.from_polyline(arc_route(40.0, 80.0))
    s = 20.0  # an oncoming car in the other lane (3.5 m left of the route), driving along the curve
    x, y, yaw = path.sample(np.array(s), np.array(3.5))
    v = -8.0 * np.array([np.cos(yaw), np.sin(yaw)])
    scene, path = _arc_scene(BoxObstacle((float(x), float(y)), 4.0, 1.8, yaw_rad=float(yaw), velocity_mps=tuple(v)))
    along = scene.along(path, SceneConfig())

    def lateral(sc: SceneForecast, k: int) -> np.ndarray:
        ix, iy = np.nonzero(sc.obstacles[k])
        return path.project(sc.min_xy_m + (np.column_stack([ix, iy]) + 0.5) * sc.cell_m)[1]

    # stays in its lane (each cell keeps its own rates: the car's ends drift by its yaw difference)
    assert abs(lateral(along, 6).mean() - 3.5) < 0.3 and lateral(along, 6).min() > 1.2
    assert lateral(scene, 6).min() < 0.0  # a straight-line forecast cuts across the ego's lane
    assert np.array_equal(along.obstacles[0], scene.obstacles[0])


def test_a_crossing_pedestrian_still_crosses_in_the_road_aligned_forecast():
    route = straight_route()
    pedestrian = BoxObstacle((15.0, 5.0), 0.6, 0.6, 1.7, velocity_mps=(0.0, -1.5), label="pedestrian")
    scene = build_scene(road_scene(route, [pedestrian])[0], 0.5, 6, EGO.corners_m)
    along = scene.along(Path.from_polyline(route), SceneConfig())
    assert np.array_equal(along.obstacles, scene.obstacles)  # on a straight road both forecasts agree
    iy = np.nonzero(along.obstacles[6])[1]
    assert np.abs(scene.min_xy_m[1] + (iy + 0.5) * scene.cell_m - 0.5).max() < 0.6  # 4.5 m across in 3 s


def test_the_proposals_count_only_collisions_the_ego_would_be_at_fault_for():
    occ, _ = road_scene(
        straight_route(),
        [
            BoxObstacle((8.0, 0.0), 2.0, 1.0, velocity_mps=(3.0, 0.0)),  # ahead, moving: the ego's front meets it
            BoxObstacle((1.3, 2.0), 3.0, 2.0, velocity_mps=(0.0, -1.0)),  # beside, moving in: hits the ego's side
        ],
    )
    scene = build_scene(occ, 0.5, 4, EGO.corners_m)
    steps = np.arange(1, 5)
    still = np.zeros((1, 4, 3))
    drive = np.zeros((1, 4, 3))
    drive[0, :, 0] = 6.0 * 0.5 * steps
    moving = np.full((1, 4), 6.0)
    assert costs.collisions(scene, still, steps, EGO).any()  # something touches the standing ego
    assert not costs.at_fault_collisions(scene, still, steps, np.zeros((1, 4)), EGO, np.array([False])).any()
    assert not costs.at_fault_collisions(scene, still, steps, moving, EGO, np.array([False])).any()  # side only
    assert costs.at_fault_collisions(scene, still, steps, moving, EGO, np.array([True])).any()  # out of lane
    assert costs.at_fault_collisions(scene, drive, steps, moving, EGO, np.array([False])).any()  # front
