"""The drivable area of a location: map expansion, else drivable-area polygons, else "no map"."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from occplan.errors import DataError
from occplan.types import MapInfo


def load_map(dataroot: Path, location: str) -> MapInfo:
    """Drivable area of ``location`` in the world frame, from the first source that exists.

    1. ``maps/expansion/<location>.json`` read by the devkit's ``NuScenesMap`` (union of the
       ``drivable_area`` layer's polygons) -> kind "expansion";
    2. ``maps/drivable_area/<location>.json`` (GeoJSON Polygon / MultiPolygon, world metres) -> "polygons";
    3. neither -> kind "none" with ``source`` saying what was looked for.
    """
    expansion = dataroot / "maps" / "expansion" / f"{location}.json"
    polygons = dataroot / "maps" / "drivable_area" / f"{location}.json"
    if expansion.is_file():
        area, lanes = _expansion_layers(dataroot, location, expansion)
        return MapInfo(location, "expansion", shapely.to_wkb(area), str(expansion), shapely.to_wkb(lanes))
    if polygons.is_file():
        return MapInfo(location, "polygons", shapely.to_wkb(_geojson_drivable_area(polygons)), str(polygons))
    return MapInfo(location, "none", None, f"neither {expansion} nor {polygons} exists")


def _expansion_layers(dataroot: Path, location: str, path: Path):
    """(drivable area (Multi)Polygon, GeometryCollection of the lane and lane-connector polygons)."""
    from nuscenes.map_expansion.map_api import NuScenesMap

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            nmap = NuScenesMap(dataroot=str(dataroot), map_name=location)
            parts = [nmap.extract_polygon(t) for rec in nmap.drivable_area for t in rec["polygon_tokens"]]
            lanes = [nmap.extract_polygon(r["polygon_token"]) for r in (*nmap.lane, *nmap.lane_connector)]
    except AssertionError as e:  # the devkit only knows the four nuScenes locations
        raise DataError(f"{path}: NuScenesMap rejects location {location!r} ({e})") from e
    except (KeyError, ValueError, TypeError, OSError) as e:
        raise DataError(f"{path}: cannot read the drivable_area layer ({type(e).__name__}: {e})") from e
    if not parts:
        raise DataError(f"{path}: field 'drivable_area' has no polygons")
    # generated maps can hold self-touching polygons; union_all raises on invalid input
    area = shapely.make_valid(shapely.union_all(shapely.make_valid(parts)))
    return area, shapely.GeometryCollection([shapely.make_valid(p) for p in lanes if not p.is_empty])


def _geojson_drivable_area(path: Path) -> Polygon | MultiPolygon:
    try:
        obj = json.loads(path.read_text())
        geom = shape(obj)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{path}: not a GeoJSON geometry ({type(e).__name__}: {e})") from e
    if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
        raise DataError(f"{path}: field 'type' must be a non-empty Polygon or MultiPolygon, got {geom.geom_type}")
    return geom if geom.is_valid else shapely.make_valid(geom)
