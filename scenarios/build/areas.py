"""Ground areas (drivable, sidewalk, crossings, road paint) and the vector map layers derived from a RoadNetwork."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import shapely

from occplan.world.spec import MapLayers
from scenarios.build.config import BuildConfig
from scenarios.build.network import RoadNetwork, path_crossings
from scenarios.build.path import Path

STOP_LINE_DEPTH_M = 0.4
MAP_GRID_M = 1e-3  # map coordinates are written with 1 mm precision
MAP_LANE_SEGMENT_M = 50.0
PAINT_WHITE = (225, 225, 220)
PAINT_YELLOW = (220, 180, 40)


@dataclass(frozen=True)
class Areas:
    """World-frame ground regions. ``paint`` holds (polygon, rgb) road markings lying on the drivable area."""

    square: shapely.Polygon
    drivable: shapely.Geometry
    sidewalk: shapely.Geometry
    crossings: tuple[shapely.Polygon, ...]
    stop_lines: tuple[shapely.Polygon, ...]
    paint: tuple[tuple[shapely.Geometry, tuple[int, int, int]], ...]


def _stop_lines(net: RoadNetwork, cfg: BuildConfig) -> list[shapely.Polygon]:
    """A stop line 1 m before every crossing on every lane (the junction stop line is the last one)."""
    out = []
    for lane in net.lanes:
        if lane.is_connector:
            continue
        for _, s_in, _ in path_crossings(lane.path, net.crossings):
            s = s_in - 1.0
            if s <= STOP_LINE_DEPTH_M:
                continue
            xy, h = lane.path.sample(np.array([s - STOP_LINE_DEPTH_M, s]))
            n = np.column_stack([-np.sin(h), np.cos(h)]) * (cfg.lane_width_m / 2)
            out.append(shapely.Polygon([xy[0] + n[0], xy[1] + n[1], xy[1] - n[1], xy[0] - n[0]]))
    return out


def _zebra(net: RoadNetwork, crossing_index: int) -> shapely.Geometry:
    """Zebra bars (0.5 m wide, 1 m pitch) along the road direction inside a crossing."""
    cr = net.crossings[crossing_index]
    rd = net.roads[cr.road]
    ss = np.array([cr.s_m - 1.5, cr.s_m + 1.5])
    xy, h = rd.centre.sample(ss)
    n = np.column_stack([-np.sin(h), np.cos(h)])
    left, right = (
        float(np.interp(cr.s_m, rd.centre.s_m, rd.left_edge_m)),
        float(np.interp(cr.s_m, rd.centre.s_m, rd.right_edge_m)),
    )
    bars = []
    for off in np.arange(-right + 0.5, left - 0.5, 1.0):
        a, b = off, off + 0.5
        bars.append(shapely.Polygon([xy[0] + a * n[0], xy[1] + a * n[1], xy[1] + b * n[1], xy[0] + b * n[0]]))
    return shapely.intersection(shapely.union_all(bars), cr.polygon)


def build_areas(net: RoadNetwork, cfg: BuildConfig) -> Areas:
    """Union the network into ground regions; the sidewalk rings the drivable area."""
    size = cfg.world_size_m
    square = shapely.box(0.0, 0.0, size, size)
    parts = [rd.polygon() for rd in net.roads]
    parts += [j.polygon for j in net.junctions]
    parts += [
        ln.path.linestring().buffer(cfg.lane_width_m / 2 + 0.6, cap_style="flat") for ln in net.lanes if ln.is_connector
    ]
    parts += [p for p in (net.carpark, net.driveway) if p is not None]
    drivable = _without_slivers(shapely.union_all(parts))
    sidewalk = _without_slivers(
        shapely.difference(drivable.buffer(cfg.sidewalk_width_m, quad_segs=4), drivable).intersection(square)
    )
    for g in (drivable, sidewalk):
        shapely.prepare(g)
    stop_lines = _stop_lines(net, cfg)
    road_crossings = [k for k, cr in enumerate(net.crossings) if cr.polygon.within(drivable.buffer(0.01))]
    keep_out = shapely.union_all([cr.polygon.buffer(1.0) for cr in net.crossings] + [j.polygon for j in net.junctions])
    centre_lines = [
        shapely.difference(rd.centre.linestring().buffer(0.1, cap_style="flat"), keep_out) for rd in net.roads
    ]
    paint = [(g, PAINT_YELLOW) for g in centre_lines]
    paint += [(_zebra(net, k), PAINT_WHITE) for k in road_crossings if net.crossings[k].polygon.area > 0]
    paint += [(p, PAINT_WHITE) for p in stop_lines]
    return Areas(square, drivable, sidewalk, tuple(cr.polygon for cr in net.crossings), tuple(stop_lines), tuple(paint))


def _without_slivers(geom: shapely.Geometry, min_area_m2: float = 1.0) -> shapely.Geometry:
    """``geom`` snapped to a 1 mm grid (the map's WKT precision) without holes or parts under ``min_area_m2``."""
    parts = []
    for poly in shapely.get_parts(shapely.set_precision(geom, MAP_GRID_M)):
        if isinstance(poly, shapely.Polygon) and poly.area >= min_area_m2:
            holes = [r for r in poly.interiors if shapely.Polygon(r).area >= min_area_m2]
            parts.append(shapely.Polygon(poly.exterior, holes))
    return shapely.set_precision(shapely.union_all(parts), MAP_GRID_M)


def _polygons(geom: shapely.Geometry) -> list[shapely.Polygon]:
    return [g for g in shapely.get_parts(geom) if isinstance(g, shapely.Polygon) and not g.is_empty]


def _segments(path: Path, max_length_m: float = MAP_LANE_SEGMENT_M) -> list[shapely.LineString]:
    """The path cut into equal consecutive pieces of at most ``max_length_m`` (nuScenes map lanes are
    short segments chained by connectivity), each ending exactly where the next begins."""
    n = max(1, int(np.ceil(path.length_m / max_length_m)))
    cuts = np.linspace(0.0, path.length_m, n + 1)
    pieces = []
    for a, b in itertools.pairwise(cuts):
        inner = (path.s_m > a) & (path.s_m < b)
        ends, _ = path.sample(np.array([a, b]))
        pieces.append(shapely.LineString(np.concatenate([ends[:1], path.xy_m[inner], ends[1:]])))
    return pieces


def to_map_wkt(geom: shapely.Geometry) -> str:
    """WKT of ``geom`` snapped to the map's 1 mm grid (valid after rounding)."""
    return shapely.to_wkt(shapely.set_precision(geom, MAP_GRID_M), rounding_precision=3)


def map_layers(net: RoadNetwork, areas: Areas, cfg: BuildConfig) -> MapLayers:
    """The NuScenesMap layers of the world as WKT (world frame)."""
    half = cfg.lane_width_m / 2

    def lane_pair(line: shapely.LineString) -> tuple[str, str]:
        return to_map_wkt(line.buffer(half, cap_style="flat")), to_map_wkt(line)

    def w(g: shapely.Geometry) -> str:
        return to_map_wkt(g)

    road_dividers = [w(rd.centre.linestring()) for rd in net.roads]
    lane_dividers = [
        w(shapely.LineString(rd.centre.offset_points(side * cfg.lane_width_m))) for rd in net.roads for side in (1, -1)
    ]
    segments = [w(rd.polygon()) for rd in net.roads] + [w(j.polygon) for j in net.junctions]
    return MapLayers(
        drivable_area=tuple(w(p) for p in _polygons(areas.drivable)),
        road_segment=tuple(segments),
        lane=tuple(lane_pair(piece) for ln in net.lanes if not ln.is_connector for piece in _segments(ln.path)),
        lane_connector=tuple(lane_pair(ln.path.linestring()) for ln in net.lanes if ln.is_connector),
        ped_crossing=tuple(w(p) for p in areas.crossings),
        walkway=tuple(w(p) for p in _polygons(areas.sidewalk)),
        stop_line=tuple(w(p) for p in areas.stop_lines),
        lane_divider=tuple(lane_dividers),
        road_divider=tuple(road_dividers),
        carpark_area=(w(net.carpark),) if net.carpark is not None else (),
    )
