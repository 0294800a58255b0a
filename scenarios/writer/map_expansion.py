"""The map of a generated world in nuScenes map-expansion format (``NuScenesMap`` v1.3), written with its
rasters (``scenarios.writer.map_rasters``).

- ``maps/expansion/<location>.json``: geometric tables (node, line, polygon), the layers drivable_area,
  road_segment, road_block, lane, lane_connector, ped_crossing, walkway, stop_line, carpark_area,
  road_divider, lane_divider, traffic_light, and ``arcline_path_3`` / ``connectivity`` so that
  ``NuScenesMap.discretize_lanes``, ``get_arcline_path`` and ``get_outgoing_lane_ids`` work.
  Lane centrelines become chains of straight arcline paths (shape "LSL", segment_length [0, L, 0]).
- ``maps/basemap/<location>.png`` and ``maps/<map_token>.png``: the basemap and the semantic-prior mask.

Scenes sharing a location (placed at distinct origins) share one map: ``merge_layers``.
Map coordinates are the world frame; nuScenes maps start at the origin, so every map vertex must have
x >= 0 and y >= 0. The canvas spans [0, max + margin] on each axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import shapely
from PIL import Image
from shapely.geometry import LineString, Polygon

from occplan.errors import ValidationError
from occplan.world.spec import MapLayers
from scenarios.writer.map_names import basemap_filename, expansion_filename, mask_filename
from scenarios.writer.map_rasters import rasters
from scenarios.writer.map_wkt import line, polygons
from scenarios.writer.tables import json_dumps
from scenarios.writer.tokens import make_token

MAP_VERSION = "1.3"
CANVAS_MARGIN_M = 50.0
CONNECT_TOLERANCE_M = 0.5
CONNECT_MAX_HEADING_RAD = np.deg2rad(60.0)


class _MapBuilder:
    """Accumulates the geometric and layer tables of one location with deterministic tokens."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.tables: dict[str, list[dict]] = {
            name: []
            for name in (
                "node", "line", "polygon", "drivable_area", "road_segment", "road_block", "lane", "lane_connector",
                "ped_crossing", "walkway", "stop_line", "carpark_area", "road_divider", "lane_divider", "traffic_light",
            )
        }  # fmt: skip

    def token(self, *parts: object) -> str:
        return make_token("map", self.location, *parts)

    def _nodes(self, coords: np.ndarray, key: str) -> list[str]:
        tokens = [self.token(key, "node", k) for k in range(len(coords))]
        self.tables["node"].extend(
            {"token": t, "x": float(x), "y": float(y)} for t, (x, y) in zip(tokens, coords[:, :2].tolist())
        )
        return tokens

    def polygon(self, poly: Polygon, key: str) -> str:
        poly = shapely.geometry.polygon.orient(poly, sign=1.0)
        token = self.token(key, "polygon")
        exterior = self._nodes(np.asarray(poly.exterior.coords)[:-1], f"{key}/ext")
        holes = [
            {"node_tokens": self._nodes(np.asarray(r.coords)[:-1], f"{key}/hole{h}")}
            for h, r in enumerate(poly.interiors)
        ]
        self.tables["polygon"].append({"token": token, "exterior_node_tokens": exterior, "holes": holes})
        return token

    def line(self, geom: LineString, key: str) -> tuple[str, list[str]]:
        token = self.token(key, "line")
        nodes = self._nodes(np.asarray(geom.coords), key)
        self.tables["line"].append({"token": token, "node_tokens": nodes})
        return token, nodes


def _arcline_paths(centreline: LineString) -> list[dict]:
    """Straight arcline paths along the centreline's segments (zero-length segments dropped)."""
    xy = np.asarray(centreline.coords)[:, :2]
    d = np.diff(xy, axis=0)
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > 1e-6
    yaw = np.arctan2(d[:, 1], d[:, 0])
    return [
        {
            "start_pose": [float(x0), float(y0), float(h)],
            "end_pose": [float(x1), float(y1), float(h)],
            "shape": "LSL",
            "radius": 999.0,
            "segment_length": [0.0, float(n), 0.0],
        }
        for (x0, y0), (x1, y1), h, n in zip(xy[:-1][keep], xy[1:][keep], yaw[keep], length[keep])
    ]


def _end_poses(centrelines: list[LineString]) -> tuple[np.ndarray, np.ndarray]:
    """(L, 3) start and end poses (x, y, heading) of each centreline."""
    starts, ends = [], []
    for c in centrelines:
        xy = np.asarray(c.coords)[:, :2]
        h0 = np.arctan2(*(xy[1] - xy[0])[::-1])
        h1 = np.arctan2(*(xy[-1] - xy[-2])[::-1])
        starts.append((*xy[0], h0))
        ends.append((*xy[-1], h1))
    return np.asarray(starts).reshape(-1, 3), np.asarray(ends).reshape(-1, 3)


def _connectivity(tokens: list[str], centrelines: list[LineString]) -> dict[str, dict[str, list[str]]]:
    """Lane B follows lane A when B starts within tolerance of A's end with a compatible heading."""
    starts, ends = _end_poses(centrelines)
    dist = np.linalg.norm(ends[:, None, :2] - starts[None, :, :2], axis=-1)
    dh = np.abs((ends[:, None, 2] - starts[None, :, 2] + np.pi) % (2 * np.pi) - np.pi)
    follows = (dist <= CONNECT_TOLERANCE_M) & (dh <= CONNECT_MAX_HEADING_RAD)
    np.fill_diagonal(follows, False)
    return {
        t: {
            "incoming": [tokens[j] for j in np.flatnonzero(follows[:, i])],
            "outgoing": [tokens[j] for j in np.flatnonzero(follows[i])],
        }
        for i, t in enumerate(tokens)
    }


def _edge_line(b: _MapBuilder, poly: Polygon, centreline: LineString, at_end: bool, key: str) -> str:
    """A line across the lane at its start or end (half width = area / length / 2)."""
    xy = np.asarray(centreline.coords)[:, :2]
    p, q = (xy[-1], xy[-2]) if at_end else (xy[0], xy[1])
    t = (p - q) if at_end else (q - p)
    n = np.array([-t[1], t[0]]) / max(np.hypot(*t), 1e-9)
    half_w = poly.area / max(centreline.length, 1e-6) / 2.0
    return b.line(LineString([p + n * half_w, p - n * half_w]), key)[0]


def _check_extent(layers: MapLayers, location: str) -> tuple[float, float]:
    geoms = [shapely.from_wkt(w) for w in (*layers.drivable_area, *layers.walkway, *layers.road_segment)]
    geoms += [shapely.from_wkt(p) for p, _ in (*layers.lane, *layers.lane_connector)]
    if not geoms:
        raise ValidationError(f"map {location}: MapLayers has no drivable_area/road_segment/lane geometry")
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
    if minx < 0 or miny < 0:
        raise ValidationError(
            f"map {location}: nuScenes maps start at the origin, but MapLayers reaches ({minx:.1f}, {miny:.1f}) m; "
            "the world builder must place worlds at x, y >= 0"
        )
    return float(maxx + CANVAS_MARGIN_M), float(maxy + CANVAS_MARGIN_M)


def _containing(records: list[dict], polys: list[Polygon], point: shapely.Point) -> str:
    for rec, poly in zip(records, polys):
        if poly.buffer(1e-6).contains(point):
            return rec["token"]
    return ""


def _drivable_areas(b: _MapBuilder, layers: MapLayers) -> list[Polygon]:
    """Add the drivable_area records; returns each record's union of polygons."""
    da_polys: list[Polygon] = []
    for i, wkt in enumerate(layers.drivable_area):
        polys = polygons(wkt, f"drivable_area[{i}]")
        tokens = [b.polygon(p, f"drivable_area/{i}/{k}") for k, p in enumerate(polys)]
        b.tables["drivable_area"].append({"token": b.token("drivable_area", i), "polygon_tokens": tokens})
        da_polys.append(shapely.union_all(polys))
    return da_polys


def _road_segments(b: _MapBuilder, layers: MapLayers, da_polys: list[Polygon]) -> list[Polygon]:
    """Add the road_segment records (an intersection holds a connector's midpoint); returns their polygons."""
    connector_mid = [
        line(c, f"lane_connector[{i}]").interpolate(0.5, normalized=True)
        for i, (_, c) in enumerate(layers.lane_connector)
    ]
    rs_polys: list[Polygon] = []
    for i, wkt in enumerate(layers.road_segment):
        poly = shapely.union_all(polygons(wkt, f"road_segment[{i}]"))
        poly = poly if isinstance(poly, Polygon) else max(poly.geoms, key=lambda g: g.area)
        rs_polys.append(poly)
        b.tables["road_segment"].append(
            {
                "token": b.token("road_segment", i),
                "polygon_token": b.polygon(poly, f"road_segment/{i}"),
                "is_intersection": bool(any(poly.contains(m) for m in connector_mid)),
                "drivable_area_token": _containing(b.tables["drivable_area"], da_polys, poly.representative_point()),
            }
        )
    return rs_polys


def _lanes(b: _MapBuilder, layers: MapLayers) -> tuple[list[str], list[LineString], dict[str, list[dict]]]:
    """Add the lane and lane_connector records; returns their tokens, centrelines and arcline paths."""
    lane_tokens: list[str] = []
    centrelines: list[LineString] = []
    arclines: dict[str, list[dict]] = {}
    for layer, rows in (("lane", layers.lane), ("lane_connector", layers.lane_connector)):
        for i, (poly_wkt, line_wkt) in enumerate(rows):
            poly = polygons(poly_wkt, f"{layer}[{i}]")[0]
            centre = line(line_wkt, f"{layer}[{i}] centreline")
            token = b.token(layer, i)
            row = {"token": token, "polygon_token": b.polygon(poly, f"{layer}/{i}")}
            if layer == "lane":
                row |= {
                    "lane_type": "CAR",
                    "from_edge_line_token": _edge_line(b, poly, centre, False, f"lane/{i}/from"),
                    "to_edge_line_token": _edge_line(b, poly, centre, True, f"lane/{i}/to"),
                    "left_lane_divider_segments": [],
                    "right_lane_divider_segments": [],
                }
            b.tables[layer].append(row)
            lane_tokens.append(token)
            centrelines.append(centre)
            arclines[token] = _arcline_paths(centre)
    return lane_tokens, centrelines, arclines


def _area_layers(b: _MapBuilder, layers: MapLayers, rs_polys: list[Polygon]) -> None:
    """Add the ped_crossing (on the road segment holding its centroid), walkway, stop_line and carpark_area
    records."""
    for i, wkt in enumerate(layers.ped_crossing):
        poly = polygons(wkt, f"ped_crossing[{i}]")[0]
        b.tables["ped_crossing"].append(
            {
                "token": b.token("ped_crossing", i),
                "polygon_token": b.polygon(poly, f"ped_crossing/{i}"),
                "road_segment_token": _containing(b.tables["road_segment"], rs_polys, poly.centroid),
            }
        )
    for i, wkt in enumerate(layers.walkway):
        for k, poly in enumerate(polygons(wkt, f"walkway[{i}]")):
            b.tables["walkway"].append(
                {"token": b.token("walkway", i, k), "polygon_token": b.polygon(poly, f"walkway/{i}/{k}")}
            )
    for i, wkt in enumerate(layers.stop_line):
        poly = polygons(wkt, f"stop_line[{i}]")[0]
        b.tables["stop_line"].append(
            {
                "token": b.token("stop_line", i),
                "polygon_token": b.polygon(poly, f"stop_line/{i}"),
                "stop_line_type": "STOP_SIGN",
                "ped_crossing_tokens": [],
                "traffic_light_tokens": [],
                "road_block_token": "",
            }
        )
    for i, wkt in enumerate(layers.carpark_area):
        poly = polygons(wkt, f"carpark_area[{i}]")[0]
        b.tables["carpark_area"].append(
            {
                "token": b.token("carpark_area", i),
                "polygon_token": b.polygon(poly, f"carpark_area/{i}"),
                "orientation": 0.0,
                "road_block_token": "",
            }
        )


def _dividers(b: _MapBuilder, layers: MapLayers) -> None:
    """Add the road_divider and lane_divider records."""
    for i, wkt in enumerate(layers.road_divider):
        line_token, _ = b.line(line(wkt, f"road_divider[{i}]"), f"road_divider/{i}")
        b.tables["road_divider"].append(
            {"token": b.token("road_divider", i), "line_token": line_token, "road_segment_token": ""}
        )
    for i, wkt in enumerate(layers.lane_divider):
        line_token, nodes = b.line(line(wkt, f"lane_divider[{i}]"), f"lane_divider/{i}")
        b.tables["lane_divider"].append(
            {
                "token": b.token("lane_divider", i),
                "line_token": line_token,
                "lane_divider_segments": [{"node_token": n, "segment_type": "DOUBLE_DASHED_WHITE"} for n in nodes],
            }
        )


def expansion_json(layers: MapLayers, location: str) -> dict:
    """The ``maps/expansion/<location>.json`` object for ``layers`` (world-frame WKT)."""
    canvas = _check_extent(layers, location)
    b = _MapBuilder(location)
    da_polys = _drivable_areas(b, layers)
    rs_polys = _road_segments(b, layers, da_polys)
    lane_tokens, centrelines, arclines = _lanes(b, layers)
    _area_layers(b, layers, rs_polys)
    _dividers(b, layers)
    return {
        "version": MAP_VERSION,
        "canvas_edge": [canvas[0], canvas[1]],
        **b.tables,
        "arcline_path_3": arclines,
        "connectivity": _connectivity(lane_tokens, centrelines),
    }


def merge_layers(parts: Sequence[MapLayers]) -> MapLayers:
    """One location's map from the maps of the scenes placed there (disjoint areas), layer by layer."""
    return MapLayers(**{f.name: tuple(g for m in parts for g in getattr(m, f.name)) for f in fields(MapLayers)})


def write_map(dataroot: Path, layers: MapLayers, location: str) -> None:
    """Write the expansion JSON, the basemap and the semantic-prior mask of one location."""
    obj = expansion_json(layers, location)
    r = rasters(layers, tuple(obj["canvas_edge"]))
    for rel in (expansion_filename(location), basemap_filename(location), mask_filename(location)):
        (dataroot / rel).parent.mkdir(parents=True, exist_ok=True)
    (dataroot / expansion_filename(location)).write_text(json_dumps(obj))
    Image.fromarray(r.basemap, mode="RGB").save(dataroot / basemap_filename(location), format="PNG")
    Image.fromarray(r.semantic_prior, mode="L").save(dataroot / mask_filename(location), format="PNG")
