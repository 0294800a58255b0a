"""Routes from the map (occplan.data.routes): lane matching, the graph search over connectivity, speed
limits, routes of source "none" and malformed maps, on hand-built expansions and the generated tiny set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from occplan.data import NuScenesSource
from occplan.data.routes import lane_graph, lane_route
from occplan.errors import DataError
from occplan.sim.route import RoutePolyline
from occplan.types import MapInfo
from occplan.types.route import DEFAULT_SPEED_LIMIT_MPS
from occplan.world.spec import MapLayers
from scenarios.writer.map_expansion import expansion_json

LOCATION = "boston-seaport"
HALF_LANE_M = 1.75


def _arc(center: tuple[float, float], radius: float, a0: float, a1: float, n: int = 30) -> np.ndarray:
    a = np.linspace(a0, a1, n)
    return np.column_stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a)])


def _lane(xy: np.ndarray) -> tuple[str, str]:
    line = LineString(xy)
    return line.buffer(HALF_LANE_M, cap_style="flat").wkt, line.wkt


def _write(root: Path, lanes: list[np.ndarray], connectors: list[np.ndarray], edit=None) -> MapInfo:
    """A map expansion with the given lane and connector centrelines (3.5 m wide); ``edit`` may change
    the JSON object before it is written. Tokens: ``lane[i]`` then ``lane_connector[i]``."""
    lane_rows = tuple(_lane(x) for x in lanes)
    conn_rows = tuple(_lane(x) for x in connectors)
    area = shapely.union_all([shapely.from_wkt(p) for p, _ in lane_rows + conn_rows])
    layers = MapLayers((area.wkt,), (), lane_rows, conn_rows, (), (), (), (), ())
    obj = expansion_json(layers, LOCATION)
    if edit is not None:
        edit(obj)
    path = root / "maps" / "expansion" / f"{LOCATION}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(obj))
    return MapInfo(LOCATION, "expansion", None, str(path))


def _tokens(info: MapInfo) -> tuple[list[str], list[str]]:
    obj = json.loads(Path(info.source).read_text())
    return [r["token"] for r in obj["lane"]], [r["token"] for r in obj["lane_connector"]]


@pytest.fixture
def junction(tmp_path) -> MapInfo:
    """Lane 0 eastwards along y = 100 to x = 100; a junction of radius-15 connectors: 0 turning left to
    lane 1 (northwards at x = 115), 1 turning right to lane 2 (southwards at x = 115), 2 straight on to lane
    3 (eastwards from x = 130); plus lane 4, westwards on y = 96.5 (the opposite direction)."""
    lanes = [
        np.array([[20.0, 100.0], [100.0, 100.0]]),
        np.array([[115.0, 115.0], [115.0, 180.0]]),
        np.array([[115.0, 85.0], [115.0, 20.0]]),
        np.array([[130.0, 100.0], [200.0, 100.0]]),
        np.array([[100.0, 96.5], [20.0, 96.5]]),
    ]
    connectors = [
        _arc((100.0, 115.0), 15.0, -np.pi / 2, 0.0),  # left turn: (100, 100) -> (115, 115)
        _arc((100.0, 85.0), 15.0, np.pi / 2, 0.0),  # right turn: (100, 100) -> (115, 85)
        np.array([[100.0, 100.0], [130.0, 100.0]]),
    ]
    return _write(tmp_path, lanes, connectors)


def test_the_search_takes_the_branch_that_leads_to_the_goal(junction, tmp_path):
    lanes, conns = _tokens(junction)
    start = np.array([40.0, 100.3, 0.05])
    left = lane_route(junction, str(tmp_path), start, np.array([115.2, 150.0, np.pi / 2]))
    right = lane_route(junction, str(tmp_path), start, np.array([114.8, 50.0, -np.pi / 2]))
    straight = lane_route(junction, str(tmp_path), start, np.array([160.0, 99.5, 0.0]))
    for route in (left, right, straight):
        route.validate()
        assert route.source == "map_lanes" and route.reason == ""
    assert left.lane_tokens[: left.goal_index + 1] == (lanes[0], conns[0], lanes[1])
    assert right.lane_tokens[: right.goal_index + 1] == (lanes[0], conns[1], lanes[2])
    assert straight.lane_tokens[: straight.goal_index + 1] == (lanes[0], conns[2], lanes[3])
    # the centreline runs from lane 0's start through the turn, points every spacing_m
    step = np.hypot(*np.diff(left.centreline_xy_m, axis=0).T)
    assert np.allclose(left.centreline_xy_m[0], [20.0, 100.0]) and step.max() <= left.spacing_m + 1e-9
    line = RoutePolyline.from_points(left.centreline_xy_m)
    _, off = line.project(np.array([[107.5, 102.0], [115.0, 150.0]]))  # on the arc (within chords), on lane 1
    assert off[1] < 1e-9 and off[0] < 0.3
    assert np.allclose(left.speed_limit_mps, DEFAULT_SPEED_LIMIT_MPS)


def test_the_route_continues_past_the_goal_lane(junction, tmp_path):
    lanes, conns = _tokens(junction)
    route = lane_route(junction, str(tmp_path), np.array([40.0, 100.0, 0.0]), np.array([90.0, 100.0, 0.0]))
    assert route.lane_tokens[0] == lanes[0] and route.goal_index == 0
    assert route.lane_tokens[1:3] == (conns[2], lanes[3])  # the straightest successor, then its successor


def test_the_shortest_of_two_lane_paths_wins(tmp_path):
    lanes = [np.array([[20.0, 50.0], [100.0, 50.0]]), np.array([[140.0, 50.0], [200.0, 50.0]])]
    direct = np.array([[100.0, 50.0], [140.0, 50.0]])
    t = np.linspace(0, 1, 40)[:, None]  # a detour bulging 25 m sideways, same end headings
    p0, p1, p2, p3 = (np.array(p) for p in ([100.0, 50.0], [120.0, 50.0], [120.0, 80.0], [140.0, 50.0]))
    detour = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
    info = _write(tmp_path, lanes, [detour, direct])
    lane_tok, conn_tok = _tokens(info)
    graph = lane_graph(str(tmp_path), LOCATION)
    assert set(graph.outgoing[lane_tok[0]]) == set(conn_tok)
    route = lane_route(info, str(tmp_path), np.array([50.0, 50.0, 0.0]), np.array([170.0, 50.0, 0.0]))
    assert route.lane_tokens[: route.goal_index + 1] == (lane_tok[0], conn_tok[1], lane_tok[1])


def test_the_start_lane_is_the_one_whose_heading_agrees(junction, tmp_path):
    lanes, _ = _tokens(junction)
    goal = np.array([30.0, 96.5, np.pi])
    # at (60, 98.25) both lane 0 (east) and lane 4 (west) are within tolerance: heading decides
    route = lane_route(junction, str(tmp_path), np.array([60.0, 98.25, np.pi]), goal)
    assert route.source == "map_lanes" and route.lane_tokens[0] == lanes[4]
    wrong_way = lane_route(junction, str(tmp_path), np.array([60.0, 100.0, np.pi / 2]), goal)
    assert wrong_way.source == "none" and "start pose" in wrong_way.reason and "point" in wrong_way.reason
    assert wrong_way.centreline_xy_m.shape == (0, 2) and wrong_way.lane_tokens == ()
    wrong_way.validate()


def test_poses_off_every_lane_or_unreachable_goals_give_no_route(junction, tmp_path):
    start = np.array([40.0, 100.0, 0.0])
    off = lane_route(junction, str(tmp_path), start, np.array([60.0, 130.0, 0.0]))
    assert off.source == "none" and off.reason.startswith("goal pose") and "on no lane" in off.reason
    assert str(junction.source) in off.reason
    behind = lane_route(junction, str(tmp_path), start, np.array([30.0, 96.5, np.pi]))  # lane 4: not reachable
    assert behind.source == "none" and "no lane path" in behind.reason


def test_without_a_map_expansion_there_is_no_route(tmp_path):
    info = MapInfo(LOCATION, "polygons", None, "maps/drivable_area/boston-seaport.json")
    route = lane_route(info, str(tmp_path), np.zeros(3), np.ones(3))
    assert route.source == "none" and "polygons" in route.reason
    route.validate()


def test_a_lane_speed_limit_in_the_map_is_used(tmp_path):
    def limit(obj):
        obj["lane"][1]["speed_limit_mps"] = 8.0

    lanes = [np.array([[20.0, 50.0], [100.0, 50.0]]), np.array([[100.0, 50.0], [180.0, 50.0]])]
    info = _write(tmp_path, lanes, [], edit=limit)
    route = lane_route(info, str(tmp_path), np.array([30.0, 50.0, 0.0]), np.array([150.0, 50.0, 0.0]))
    x = route.centreline_xy_m[:, 0]
    assert np.all(route.speed_limit_mps[x < 99.5] == DEFAULT_SPEED_LIMIT_MPS)
    assert np.all(route.speed_limit_mps[x > 100.5] == 8.0)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda o: o["arcline_path_3"].pop(o["lane"][0]["token"]), "arcline_path_3"),
        (lambda o: o["connectivity"][o["lane"][0]["token"]].update(outgoing=["nope"]), "outgoing"),
        (lambda o: o["lane"][1].update(speed_limit_mps=-3.0), "speed_limit_mps"),
        (lambda o: o["arcline_path_3"][o["lane"][1]["token"]][0].pop("segment_length"), "arcline_path_3"),
    ],
)
def test_a_broken_map_fails_naming_the_file_and_field(tmp_path, edit, field):
    lanes = [np.array([[20.0, 50.0], [100.0, 50.0]]), np.array([[100.0, 50.0], [180.0, 50.0]])]
    info = _write(tmp_path, lanes, [], edit=edit)
    with pytest.raises(DataError, match=field) as err:
        lane_route(info, str(tmp_path), np.array([30.0, 50.0, 0.0]), np.array([150.0, 50.0, 0.0]))
    assert f"{LOCATION}.json" in str(err.value)


def test_generated_logs_drive_along_their_map_route(tiny_dataroot):
    source = NuScenesSource(tiny_dataroot, "v1.0-occplan")
    for name in source.scene_names():
        scenario = source.scenario(name)
        poses = np.array([[*f.world_from_ego.translation_m[:2], f.world_from_ego.yaw_rad] for f in scenario.frames])
        route = lane_route(scenario.map, scenario.dataroot, poses[0], poses[-1])
        route.validate()
        assert route.source == "map_lanes", route.reason
        graph = lane_graph(scenario.dataroot, scenario.location)
        first, goal = (graph.polygon(route.lane_tokens[i]) for i in (0, route.goal_index))
        assert first.contains(shapely.Point(poses[0, :2])) and goal.contains(shapely.Point(poses[-1, :2]))
        _, off = RoutePolyline.from_points(route.centreline_xy_m).project(poses[:, :2])
        assert off.max() < 0.5  # the expert drives its lane's centreline
