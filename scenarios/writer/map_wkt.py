"""The geometries of ``MapLayers`` WKT strings, checked to be of the kind a layer holds."""

from __future__ import annotations

import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

from occplan.errors import ValidationError


def polygons(wkt: str, field: str) -> list[Polygon]:
    """The polygons of a (Multi)Polygon WKT of layer entry ``field`` (named in the error)."""
    geom = shapely.from_wkt(wkt)
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    raise ValidationError(f"MapLayers.{field}: expected (Multi)Polygon WKT, got {geom.geom_type}")


def line(wkt: str, field: str) -> LineString:
    """The LineString of a WKT of layer entry ``field`` (named in the error)."""
    geom = shapely.from_wkt(wkt)
    if not isinstance(geom, LineString):
        raise ValidationError(f"MapLayers.{field}: expected LineString WKT, got {geom.geom_type}")
    return geom
