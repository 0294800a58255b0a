"""Routes from the map: the lanes from the ego's start lane to the lane of the mission goal.

Read from ``maps/expansion/<location>.json`` through nuscenes-devkit's ``NuScenesMap``: the ``lane``
and ``lane_connector`` layers (polygons), ``arcline_path_3`` (centrelines, discretised with
``discretize_lanes``) and ``connectivity`` (outgoing lanes). The start lane is the lane or
connector holding the first logged ego pose (within ``lane_tolerance_m`` of its polygon) whose
centreline heading there agrees with the ego's within ``max_heading_error_rad``, the nearest
centreline winning; the goal lane is found the same way for the log's final pose (nuPlan's mission
goal). A shortest-path search (Dijkstra, lane lengths as costs) over the connectivity joins them,
as nuPlan's route roadblocks do; the route then continues past the goal lane along the straightest
successors for ``beyond_goal_m`` so that a route ahead exists up to the end of the episode.

Speed limits: a lane record's ``speed_limit_mps`` field where the map has one (nuPlan's lane
attribute; nuScenes map expansions carry none), else ``default_speed_limit_mps``
(``occplan.types.route.DEFAULT_SPEED_LIMIT_MPS``, 40 km/h).

A map without an expansion (drivable-area polygons only), a start or goal pose off every lane, or
no lane path between them give a route of source "none" with the reason; a malformed expansion
raises ``DataError`` naming the file and the field.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from occplan.errors import DataError
from occplan.types import MapInfo, wrap_angle
from occplan.types.route import DEFAULT_SPEED_LIMIT_MPS, LaneRoute

SPEED_LIMIT_FIELD = "speed_limit_mps"
_ARCLINE_KEYS = ("start_pose", "end_pose", "shape", "radius", "segment_length")


@dataclass(frozen=True)
class RouteConfig:
    """How poses are matched to lanes and how the route is sampled (see the module docstring)."""

    spacing_m: float = 1.0
    lane_tolerance_m: float = 0.5
    max_heading_error_rad: float = math.pi / 3
    beyond_goal_m: float = 80.0
    default_speed_limit_mps: float = DEFAULT_SPEED_LIMIT_MPS


@dataclass(frozen=True)
class LaneMatch:
    """A pose matched to a lane: ``token``, the arc length ``s_m`` of its projection on the lane's
    centreline, the distance to that centreline and the heading error."""

    token: str
    s_m: float
    distance_m: float
    heading_error_rad: float


class LaneGraph:
    """The lanes and lane connectors of one map expansion: polygons, centrelines, lengths,
    successors and speed limits (centrelines are discretised on first use)."""

    def __init__(self, path: Path, nmap, resolution_m: float = 0.5) -> None:
        self.path = path
        self.resolution_m = resolution_m
        self._nmap = nmap
        records = [(layer, i, r) for layer in ("lane", "lane_connector") for i, r in enumerate(getattr(nmap, layer))]
        self.tokens: list[str] = []
        polygons: list[Polygon] = []
        self.length_m: dict[str, float] = {}
        self.speed_limit_mps: dict[str, float | None] = {}
        for layer, i, rec in records:
            token = self._field(rec, "token", f"{layer}[{i}]")
            polygon_token = self._field(rec, "polygon_token", f"{layer}[{i}]")
            try:
                polygons.append(shapely.make_valid(nmap.extract_polygon(polygon_token)))
            except (KeyError, IndexError, ValueError, TypeError) as e:
                raise DataError(f"{path}: field '{layer}[{i}].polygon_token' ({polygon_token}) names no polygon") from e
            self.tokens.append(token)
            self.length_m[token] = self._lane_length(token, f"{layer}[{i}]")
            self.speed_limit_mps[token] = self._speed_limit(rec, f"{layer}[{i}]")
        self.outgoing = {t: self._successors(t) for t in self.tokens}
        self._polygons = polygons
        self._index = {t: i for i, t in enumerate(self.tokens)}
        self._tree = shapely.STRtree(polygons)
        self._centrelines: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # --- reading and checking the map -------------------------------------------------------
    def _field(self, rec: dict, name: str, where: str):
        if name not in rec:
            raise DataError(f"{self.path}: field '{where}.{name}' is missing")
        return rec[name]

    def _lane_length(self, token: str, where: str) -> float:
        paths = self._nmap.arcline_path_3.get(token)
        if not isinstance(paths, list) or not paths:
            raise DataError(f"{self.path}: field 'arcline_path_3' has no arcline paths for {where} ({token})")
        for k, p in enumerate(paths):
            missing = [key for key in _ARCLINE_KEYS if not isinstance(p, dict) or key not in p]
            if missing or len(p["segment_length"]) != 3:
                raise DataError(
                    f"{self.path}: field 'arcline_path_3[{token}][{k}]' lacks {missing or 'a 3-part segment_length'}"
                )
        length = float(sum(sum(p["segment_length"]) for p in paths))
        if not math.isfinite(length) or length <= 0:
            raise DataError(f"{self.path}: field 'arcline_path_3[{token}]' has length {length} (must be > 0)")
        return length

    def _speed_limit(self, rec: dict, where: str) -> float | None:
        value = rec.get(SPEED_LIMIT_FIELD)
        if value is None:
            return None
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise DataError(f"{self.path}: field '{where}.{SPEED_LIMIT_FIELD}' must be a number > 0, got {value!r}")
        return float(value)

    def _successors(self, token: str) -> tuple[str, ...]:
        entry = self._nmap.connectivity.get(token)
        if not isinstance(entry, dict) or not isinstance(entry.get("outgoing"), list):
            raise DataError(f"{self.path}: field 'connectivity[{token}].outgoing' is missing")
        unknown = [t for t in entry["outgoing"] if t not in self.length_m]
        if unknown:
            raise DataError(f"{self.path}: field 'connectivity[{token}].outgoing' names unknown lanes {unknown}")
        return tuple(entry["outgoing"])

    def polygon(self, token: str) -> Polygon:
        """The lane's (or connector's) polygon, world frame."""
        return self._polygons[self._index[token]]

    def centreline(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) world points and (N,) headings of the lane's centreline, every ``resolution_m`` or less."""
        if token not in self._centrelines:
            poses = np.asarray(self._nmap.discretize_lanes([token], self.resolution_m)[token], dtype=np.float64)
            keep = np.concatenate([[True], np.hypot(*np.diff(poses[:, :2], axis=0).T) > 1e-6])
            self._centrelines[token] = (poses[keep, :2], poses[keep, 2])
        return self._centrelines[token]

    # --- matching and searching -------------------------------------------------------------
    def locate(self, xy_m: np.ndarray, yaw_rad: float, cfg: RouteConfig) -> tuple[LaneMatch | None, str]:
        """The lane holding the pose with an agreeing heading (nearest centreline first), or None and why."""
        point = Point(float(xy_m[0]), float(xy_m[1]))
        near = self._tree.query(point, predicate="dwithin", distance=cfg.lane_tolerance_m)
        matches = [self._match(self.tokens[i], xy_m, yaw_rad) for i in near]
        agreeing = [m for m in matches if m.heading_error_rad <= cfg.max_heading_error_rad]
        if agreeing:
            return min(agreeing, key=lambda m: (m.distance_m, m.heading_error_rad)), ""
        where = f"({xy_m[0]:.1f}, {xy_m[1]:.1f}) m, heading {math.degrees(yaw_rad):.0f} deg"
        if not matches:
            return None, f"{where} is on no lane or lane connector of {self.path} (tolerance {cfg.lane_tolerance_m} m)"
        worst = min(m.heading_error_rad for m in matches)
        return None, f"{where}: the {len(matches)} lane(s) there point {math.degrees(worst):.0f} deg or more away"

    def _match(self, token: str, xy_m: np.ndarray, yaw_rad: float) -> LaneMatch:
        xy, yaw = self.centreline(token)
        d = np.hypot(xy[:, 0] - xy_m[0], xy[:, 1] - xy_m[1])
        k = int(np.argmin(d))
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        return LaneMatch(token, float(s[k]), float(d[k]), abs(float(wrap_angle(yaw_rad - yaw[k]))))

    def shortest_path(self, start: LaneMatch, goal: LaneMatch) -> list[str] | None:
        """Lanes from the start lane to the goal lane (both included) along the connectivity, shortest
        in length; a goal behind the start on the same lane needs a loop. None when unreachable."""
        if start.token == goal.token and goal.s_m >= start.s_m:
            return [start.token]
        best = {start.token: 0.0}
        parent: dict[str, str] = {}
        heap = [(0.0, start.token)]
        while heap:
            cost, lane = heapq.heappop(heap)
            if cost > best.get(lane, math.inf):
                continue
            for nxt in self.outgoing[lane]:
                c = cost + self.length_m[nxt]
                if nxt == goal.token:
                    path = [lane]
                    while path[-1] != start.token:
                        path.append(parent[path[-1]])
                    return [*path[::-1], nxt]
                if c < best.get(nxt, math.inf):
                    best[nxt] = c
                    parent[nxt] = lane
                    heapq.heappush(heap, (c, nxt))
        return None

    def continuation(self, token: str, length_m: float) -> list[str]:
        """Lanes after ``token``: at each step the successor whose start heading is closest to the
        current lane's end heading, until ``length_m`` is covered, a dead end or a repeated lane."""
        out, seen, covered = [], {token}, 0.0
        while covered < length_m:
            end_yaw = self.centreline(token)[1][-1]
            options = [t for t in self.outgoing[token] if t not in seen]
            if not options:
                break
            token = min(options, key=lambda t: abs(float(wrap_angle(self.centreline(t)[1][0] - end_yaw))))
            out.append(token)
            seen.add(token)
            covered += self.length_m[token]
        return out


@cache
def lane_graph(dataroot: str, location: str) -> LaneGraph:
    """The lane graph of ``<dataroot>/maps/expansion/<location>.json`` (read once per process)."""
    from nuscenes.map_expansion.map_api import NuScenesMap

    path = Path(dataroot) / "maps" / "expansion" / f"{location}.json"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            nmap = NuScenesMap(dataroot=dataroot, map_name=location)
    except AssertionError as e:  # the devkit only knows the four nuScenes locations
        raise DataError(f"{path}: NuScenesMap rejects location {location!r} ({e})") from e
    except (KeyError, ValueError, TypeError, OSError) as e:
        raise DataError(f"{path}: cannot read the map layers ({type(e).__name__}: {e})") from e
    for name in ("arcline_path_3", "connectivity"):
        if not getattr(nmap, name, None) and (nmap.lane or nmap.lane_connector):
            raise DataError(f"{path}: field '{name}' is missing or empty")
    return LaneGraph(path, nmap)


def lane_route(
    map_info: MapInfo, dataroot: str, start_pose: np.ndarray, goal_pose: np.ndarray, config: RouteConfig | None = None
) -> LaneRoute:
    """The route from ``start_pose`` to ``goal_pose`` ((3,) world x, y, yaw each) over the lanes of
    ``map_info``'s expansion (source "map_lanes"), or a route of source "none" with the reason."""
    cfg = config or RouteConfig()

    def none(reason: str) -> LaneRoute:
        return LaneRoute.none(reason, cfg.default_speed_limit_mps, cfg.spacing_m)

    if map_info.kind != "expansion":
        return none(f"map of {map_info.location} has no lanes (kind {map_info.kind!r}: {map_info.source})")
    graph = lane_graph(str(dataroot), map_info.location)
    start_pose, goal_pose = np.asarray(start_pose, np.float64), np.asarray(goal_pose, np.float64)
    start, why = graph.locate(start_pose[:2], float(start_pose[2]), cfg)
    if start is None:
        return none(f"start pose {why}")
    goal, why = graph.locate(goal_pose[:2], float(goal_pose[2]), cfg)
    if goal is None:
        return none(f"goal pose {why}")
    lanes = graph.shortest_path(start, goal)
    if lanes is None:
        return none(f"no lane path in {graph.path} from start lane {start.token} to goal lane {goal.token}")
    goal_index = len(lanes) - 1
    lanes += graph.continuation(goal.token, cfg.beyond_goal_m - (graph.length_m[goal.token] - goal.s_m))
    xy, limit = _join(graph, lanes, cfg)
    return LaneRoute("map_lanes", "", tuple(lanes), goal_index, xy, limit, cfg.spacing_m, cfg.default_speed_limit_mps)


def _join(graph: LaneGraph, lanes: list[str], cfg: RouteConfig) -> tuple[np.ndarray, np.ndarray]:
    """The lanes' centrelines joined and resampled every ``spacing_m`` (K, 2), with the speed limit
    of the lane each sample lies on (K,)."""
    pts, owner = [], []
    for i, token in enumerate(lanes):
        xy = graph.centreline(token)[0]
        if pts and np.hypot(*(xy[0] - pts[-1][-1])) < 1e-3:
            xy = xy[1:]
        pts.append(xy)
        owner.append(np.full(len(xy), i))
    xy, lane_of = np.concatenate(pts), np.concatenate(owner)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    s = np.arange(0.0, arc[-1] + 1e-9, cfg.spacing_m)
    if arc[-1] - s[-1] > 1e-6:
        s = np.append(s, arc[-1])
    dense = np.column_stack([np.interp(s, arc, xy[:, 0]), np.interp(s, arc, xy[:, 1])])
    limits = np.array([graph.speed_limit_mps[t] or cfg.default_speed_limit_mps for t in lanes])
    idx = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, len(arc) - 1)
    return dense, limits[lane_of[idx]]
