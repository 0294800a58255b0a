"""Road networks: roads with kerb profiles and parking strips, lanes, junction connectors, crossings.

One layout per world, chosen by ``build_world`` (straight road, curve, 3-way and 4-way junctions,
parking lot). Right-hand traffic: each road carries one 3.5 m lane per direction, the lane of a
direction lies right of the centreline. All coordinates are world frame, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from scenarios.build.config import BuildConfig
from scenarios.build.path import Path, cubic_bezier


@dataclass(frozen=True)
class ParkingStrip:
    """Flat part of a parking strip: ``side`` +1 left / -1 right of the road centreline, arclengths on the road."""

    road: int
    side: int
    s_start_m: float
    s_end_m: float


@dataclass(frozen=True)
class Road:
    """A two-way road: centreline and kerb offsets (L,) on each side (lane + tapered parking strips)."""

    centre: Path
    left_edge_m: np.ndarray
    right_edge_m: np.ndarray
    is_arm: bool  # starts at a junction edge (s = 0 at the junction)

    def edge(self, side: int) -> np.ndarray:
        return self.left_edge_m if side > 0 else self.right_edge_m

    def polygon(self) -> shapely.Polygon:
        left = self.centre.offset_points(self.left_edge_m)
        right = self.centre.offset_points(-self.right_edge_m)
        return shapely.Polygon(np.concatenate([left, right[::-1]])).buffer(0)


@dataclass(frozen=True)
class Lane:
    """A lane (``road`` >= 0) or a lane connector through ``junction`` (``road`` == -1)."""

    path: Path
    road: int
    successors: tuple[int, ...]
    junction: int

    @property
    def is_connector(self) -> bool:
        return self.road < 0


@dataclass(frozen=True)
class Junction:
    centre_xy_m: np.ndarray
    polygon: shapely.Polygon
    connectors: tuple[int, ...]


@dataclass(frozen=True)
class Crossing:
    """A zebra crossing across ``road`` centred at arclength ``s_m`` (the polygon spans kerb to kerb)."""

    polygon: shapely.Polygon
    road: int
    s_m: float


@dataclass(frozen=True)
class RoadNetwork:
    layout: str
    roads: tuple[Road, ...]
    lanes: tuple[Lane, ...]
    junctions: tuple[Junction, ...]
    crossings: tuple[Crossing, ...]
    parking: tuple[ParkingStrip, ...]
    carpark: shapely.Polygon | None
    driveway: shapely.Polygon | None
    entry_lanes: tuple[int, ...]


def _boundary_distance(origin: np.ndarray, direction: np.ndarray, lo: float, hi: float) -> float:
    """Distance from ``origin`` along unit ``direction`` to the border of the square [lo, hi]^2."""
    t = np.inf
    for k in range(2):
        if abs(direction[k]) > 1e-9:
            bound = hi if direction[k] > 0 else lo
            t = min(t, (bound - origin[k]) / direction[k])
    return float(t)


def _unit(angle_rad: float) -> np.ndarray:
    return np.array([np.cos(angle_rad), np.sin(angle_rad)])


def _through_road(centre: np.ndarray, heading_rad: float, cfg: BuildConfig, step: float) -> Path:
    u = _unit(heading_rad)
    lo, hi = cfg.road_end_margin_m, cfg.world_size_m - cfg.road_end_margin_m
    back, fwd = _boundary_distance(centre, -u, lo, hi), _boundary_distance(centre, u, lo, hi)
    return Path.from_points(np.array([centre - back * u, centre + fwd * u]), step)


def _curved_road(rng: np.random.Generator, centre: np.ndarray, cfg: BuildConfig, step: float) -> Path:
    radius = rng.uniform(40.0, 80.0)
    turn = rng.choice([-1.0, 1.0]) * np.deg2rad(rng.uniform(50.0, 110.0))
    h0 = rng.uniform(-np.pi, np.pi) - turn / 2
    heading = h0 + np.linspace(0.0, turn, 200)
    ds = radius * abs(turn) / 199
    arc = np.cumsum(np.column_stack([np.cos(heading), np.sin(heading)]) * ds, axis=0)
    arc += centre - arc[len(arc) // 2]
    lo, hi = cfg.road_end_margin_m, cfg.world_size_m - cfg.road_end_margin_m
    u0, u1 = _unit(h0), _unit(h0 + turn)
    start = arc[0] - _boundary_distance(arc[0], -u0, lo, hi) * u0
    end = arc[-1] + _boundary_distance(arc[-1], u1, lo, hi) * u1
    return Path.from_points(np.concatenate([[start], arc, [end]]), step)


def _arm_angles(rng: np.random.Generator, n_arms: int) -> np.ndarray:
    base = rng.uniform(0, 2 * np.pi)
    if n_arms == 4:
        offsets = np.deg2rad([0.0, 90.0, 180.0, 270.0])
    else:
        offsets = np.deg2rad([0.0, 90.0, 180.0] if rng.random() < 0.6 else [0.0, 120.0, 240.0])
    return np.sort(np.mod(base + offsets + np.deg2rad(rng.uniform(-12.0, 12.0, n_arms)), 2 * np.pi))


def _junction_radius(angles: np.ndarray, cfg: BuildConfig) -> float:
    gaps = np.diff(np.r_[angles, angles[0] + 2 * np.pi])
    half = np.minimum(gaps / 2, np.deg2rad(89.0))
    return float(max(10.0, np.max((cfg.lane_width_m + cfg.sidewalk_width_m) / np.tan(half)) + 1.5))


def _edge_profile(s: np.ndarray, strips: list[tuple[float, float]], cfg: BuildConfig) -> np.ndarray:
    """Kerb offset (L,): lane width plus parking strips with linear tapers."""
    ramp = np.zeros_like(s)
    for a, b in strips:
        up = np.clip((s - (a - cfg.parking_taper_m)) / cfg.parking_taper_m, 0, 1)
        down = np.clip(((b + cfg.parking_taper_m) - s) / cfg.parking_taper_m, 0, 1)
        ramp = np.maximum(ramp, np.minimum(up, down))
    return cfg.lane_width_m + cfg.parking_width_m * ramp


def _free_intervals(lo: float, hi: float, blocked: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out, cur = [], lo
    for a, b in sorted(blocked):
        if a > cur:
            out.append((cur, min(a, hi)))
        cur = max(cur, b)
    if cur < hi:
        out.append((cur, hi))
    return [(a, b) for a, b in out if b - a > 0]


def _parking_strips(
    rng: np.random.Generator, length_m: float, s_min_m: float, blocked: list[tuple[float, float]], cfg: BuildConfig
) -> list[tuple[float, float]]:
    """Flat parking intervals on one road side, clear of ``blocked`` intervals and the road ends."""
    if rng.random() < 0.35:
        return []
    pad = cfg.parking_taper_m + 3.0
    grown = [(a - pad, b + pad) for a, b in blocked]
    strips = []
    for a, b in _free_intervals(s_min_m + pad, length_m - 10.0 - pad, grown):
        if b - a >= 20.0:
            start = a + rng.uniform(0.0, min(20.0, (b - a) - 20.0))
            strips.append((float(start), float(b)))
    return strips


def _crossing_polygon(road_centre: Path, left: np.ndarray, right: np.ndarray, s_m: float, width_m: float):
    ss = np.array([s_m - width_m / 2, s_m + width_m / 2])
    xy, h = road_centre.sample(ss)
    n = np.column_stack([-np.sin(h), np.cos(h)])
    el = np.interp(ss, road_centre.s_m, left)
    er = np.interp(ss, road_centre.s_m, right)
    pts = [xy[0] + el[0] * n[0], xy[1] + el[1] * n[1], xy[1] - er[1] * n[1], xy[0] - er[0] * n[0]]
    return shapely.Polygon(pts)


def _centrelines(
    rng: np.random.Generator, layout: str, centre: np.ndarray, cfg: BuildConfig
) -> tuple[list[Path], list[list[float]], int]:
    """The road centrelines of ``layout`` around ``centre``, the crossing arclengths on each road, and the
    number of junction arms (0 without a junction; arms start at the junction's edge)."""
    step = cfg.path_step_m
    centres: list[Path] = []
    crossing_s: list[list[float]] = []
    junction_arms = 0
    if layout in ("t_junction", "crossroad"):
        junction_arms = 3 if layout == "t_junction" else 4
        angles = _arm_angles(rng, junction_arms)
        radius = _junction_radius(angles, cfg)
        lo, hi = cfg.road_end_margin_m, cfg.world_size_m - cfg.road_end_margin_m
        for a in angles:
            u = _unit(a)
            p0 = centre + radius * u
            centres.append(Path.from_points(np.array([p0, p0 + _boundary_distance(p0, u, lo, hi) * u]), step))
            crossing_s.append([1.5 + cfg.crossing_width_m / 2])
    else:
        if layout == "curve":
            road = _curved_road(rng, centre, cfg, step)
        else:
            road = _through_road(centre, rng.uniform(-np.pi, np.pi), cfg, step)
        centres.append(road)
        s_mid = float(road.project(centre[None])[0])
        n_cross = int(rng.integers(1, 3))
        options = np.arange(60.0, road.length_m - 60.0, 40.0)
        options = options[np.abs(options - s_mid) > 45.0] if layout == "parking_lot" else options
        crossing_s.append(sorted(float(x + rng.uniform(-8, 8)) for x in rng.choice(options, n_cross, replace=False)))
    return centres, crossing_s, junction_arms


def _roads(
    rng: np.random.Generator,
    centres: list[Path],
    crossing_s: list[list[float]],
    carpark_side: int,
    centre: np.ndarray,
    is_arm: bool,
    cfg: BuildConfig,
) -> tuple[list[Road], list[ParkingStrip]]:
    """Roads with their kerb profiles and parking strips, clear of the crossings and of the car park's side
    near ``centre`` (``carpark_side`` +1 left / -1 right, 0 none)."""
    roads, parking = [], []
    for r, c in enumerate(centres):
        edges = {}
        for side in (1, -1):
            blocked = [(s - 8.0, s + 8.0) for s in crossing_s[r]]
            if side == carpark_side:
                s_mid = float(c.project(centre[None])[0])
                blocked.append((s_mid - 45.0, s_mid + 45.0))
            strips = _parking_strips(rng, c.length_m, 25.0 if is_arm else 10.0, blocked, cfg)
            parking += [ParkingStrip(r, side, a, b) for a, b in strips]
            edges[side] = _edge_profile(c.s_m, strips, cfg)
        roads.append(Road(c, edges[1], edges[-1], is_arm=is_arm))
    return roads, parking


def _road_lanes(roads: list[Road], has_junction: bool, lane_width_m: float) -> tuple[list[Lane], tuple[int, ...]]:
    """Per road the forward lane (outgoing for arms) then the backward lane (incoming for arms), and the
    lanes vehicles enter the world on."""
    lanes: list[Lane] = []
    for r, rd in enumerate(roads):
        lanes.append(Lane(rd.centre.offset(-lane_width_m / 2), r, (), -1))
        lanes.append(Lane(rd.centre.reversed().offset(-lane_width_m / 2), r, (), 0 if has_junction else -1))
    entry = tuple(range(1, len(lanes), 2)) if has_junction else tuple(range(len(lanes)))
    return lanes, entry


def _junction(lanes: list[Lane], roads: list[Road], centre: np.ndarray, cfg: BuildConfig) -> Junction:
    """The junction of the arms ``roads``: appends to ``lanes`` a connector from each arm's incoming lane to
    every other arm's outgoing lane, sets the incoming lanes' successors; the junction polygon is the hull
    of the arms' lane edges at their start."""
    lw = cfg.lane_width_m
    succ: dict[int, list[int]] = {}
    for i in range(len(roads)):
        incoming = lanes[2 * i + 1].path
        for j in range(len(roads)):
            if i == j:
                continue
            outgoing = lanes[2 * j].path
            conn = cubic_bezier(
                incoming.xy_m[-1], incoming.heading_rad[-1], outgoing.xy_m[0], outgoing.heading_rad[0], cfg.path_step_m
            )
            succ.setdefault(2 * i + 1, []).append(len(lanes))
            lanes.append(Lane(conn, -1, (2 * j,), 0))
    for k, succs in succ.items():
        lanes[k] = Lane(lanes[k].path, lanes[k].road, tuple(succs), 0)
    corners = []
    for rd in roads:
        p, h = rd.centre.xy_m[0], rd.centre.heading_rad[0]
        n = np.array([-np.sin(h), np.cos(h)])
        corners += [p + lw * n, p - lw * n]
    hull = shapely.MultiPoint(np.array(corners)).convex_hull
    return Junction(centre, hull, tuple(k for k, ln in enumerate(lanes) if ln.is_connector))


def _carpark(
    rng: np.random.Generator, rd: Road, side: int, centre: np.ndarray, cfg: BuildConfig
) -> tuple[shapely.Polygon, shapely.Polygon, Crossing]:
    """The car park beside road ``rd`` (on ``side``) near ``centre``, its driveway, and the crossing where
    the driveway cuts the sidewalk."""
    lw = cfg.lane_width_m
    s_mid = float(rd.centre.project(centre[None])[0])
    xy, h = rd.centre.sample(np.array([s_mid - 30.0, s_mid + 30.0, s_mid - 3.5, s_mid + 3.5]))
    n = side * np.array([-np.sin(h[0]), np.cos(h[0])])
    near, depth = lw + cfg.sidewalk_width_m, rng.uniform(30.0, 40.0)
    carpark = shapely.Polygon(
        [xy[0] + near * n, xy[1] + near * n, xy[1] + (near + depth) * n, xy[0] + (near + depth) * n]
    )
    driveway = shapely.Polygon([xy[2] + lw * n, xy[3] + lw * n, xy[3] + (near + 0.5) * n, xy[2] + (near + 0.5) * n])
    return carpark, driveway, Crossing(driveway.intersection(_band(rd, side, lw, near)), 0, s_mid)


def build_network(rng: np.random.Generator, layout: str, cfg: BuildConfig) -> RoadNetwork:
    """Generate the road network of ``layout`` (one of ``config.LAYOUTS``)."""
    centre = np.full(2, cfg.world_size_m / 2) + rng.uniform(-20.0, 20.0, 2)
    centres, crossing_s, junction_arms = _centrelines(rng, layout, centre, cfg)
    carpark_side = int(rng.choice([-1, 1])) if layout == "parking_lot" else 0
    roads, parking = _roads(rng, centres, crossing_s, carpark_side, centre, junction_arms > 0, cfg)
    crossings = tuple(
        Crossing(_crossing_polygon(rd.centre, rd.left_edge_m, rd.right_edge_m, s, cfg.crossing_width_m), r, s)
        for r, rd in enumerate(roads)
        for s in crossing_s[r]
    )
    lanes, entry = _road_lanes(roads, junction_arms > 0, cfg.lane_width_m)
    junctions = (_junction(lanes, roads, centre, cfg),) if junction_arms else ()
    carpark = driveway = None
    if layout == "parking_lot":
        carpark, driveway, drive_crossing = _carpark(rng, roads[0], carpark_side, centre, cfg)
        crossings += (drive_crossing,)
    return RoadNetwork(
        layout, tuple(roads), tuple(lanes), junctions, crossings, tuple(parking), carpark, driveway, entry
    )


def _band(road: Road, side: int, inner_m: float, outer_m: float) -> shapely.Polygon:
    """The strip between lateral offsets ``inner_m`` and ``outer_m`` on one side of ``road``."""
    a = road.centre.offset_points(side * inner_m)
    b = road.centre.offset_points(side * outer_m)
    return shapely.Polygon(np.concatenate([a, b[::-1]])).buffer(0)


def path_crossings(path: Path, crossings: tuple[Crossing, ...]) -> list[tuple[int, float, float]]:
    """(crossing index, entry arclength, exit arclength) of every crossing ``path`` runs through, in order."""
    out = []
    for c, cr in enumerate(crossings):
        inside = shapely.contains_xy(cr.polygon, path.xy_m[:, 0], path.xy_m[:, 1])
        if inside.any():
            idx = np.flatnonzero(inside)
            out.append((c, float(path.s_m[idx[0]]), float(path.s_m[idx[-1]])))
    return sorted(out, key=lambda x: x[1])
