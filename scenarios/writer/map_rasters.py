"""The rasters of a location's map: an RGB basemap of the layers (``maps/basemap/<location>.png``, 2 px/m)
and the semantic-prior mask referenced by ``map.json`` (``maps/<map_token>.png``: 10 px/m, 255 on the
drivable area, row 0 at the top edge, the ``MapMask`` convention). Map coordinates are the world frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from occplan.world.spec import MapLayers
from scenarios.writer.map_wkt import line, polygons

MASK_PX_PER_M = 10.0
BASEMAP_PX_PER_M = 2.0

_BASEMAP_RGB = {
    "background": (60, 70, 55),
    "carpark_area": (110, 110, 120),
    "drivable_area": (95, 95, 100),
    "walkway": (170, 165, 150),
    "ped_crossing": (225, 225, 225),
    "stop_line": (240, 240, 240),
    "divider": (235, 210, 80),
}


@dataclass(frozen=True)
class MapRasters:
    """The two rasters of a location: ``basemap`` (H, W, 3) uint8 and ``semantic_prior`` (H, W) uint8."""

    basemap: np.ndarray
    semantic_prior: np.ndarray


def _draw_polygons(draw: ImageDraw.ImageDraw, wkts: tuple[str, ...], px_per_m: float, height_px: int, fill) -> None:
    """Fill polygons (metres -> pixels, y up -> row down); holes are filled with the background."""

    def px(coords) -> list[tuple[float, float]]:
        xy = np.asarray(coords)[:, :2] * px_per_m
        xy[:, 1] = height_px - xy[:, 1]
        return [tuple(p) for p in xy.tolist()]

    for wkt in wkts:
        for poly in polygons(wkt, "raster"):
            draw.polygon(px(poly.exterior.coords), fill=fill)
            for ring in poly.interiors:
                draw.polygon(px(ring.coords), fill=0 if isinstance(fill, int) else _BASEMAP_RGB["background"])


def rasters(layers: MapLayers, canvas_edge_m: tuple[float, float]) -> MapRasters:
    """Semantic-prior mask (10 px/m, 255 = drivable) and an RGB basemap of the layers."""
    w_m, h_m = canvas_edge_m
    mw, mh = round(w_m * MASK_PX_PER_M), round(h_m * MASK_PX_PER_M)
    mask = Image.new("L", (mw, mh), 0)
    _draw_polygons(ImageDraw.Draw(mask), layers.drivable_area, MASK_PX_PER_M, mh, 255)

    bw, bh = round(w_m * BASEMAP_PX_PER_M), round(h_m * BASEMAP_PX_PER_M)
    base = Image.new("RGB", (bw, bh), _BASEMAP_RGB["background"])
    draw = ImageDraw.Draw(base)
    for name in ("drivable_area", "carpark_area", "walkway", "ped_crossing", "stop_line"):
        _draw_polygons(draw, getattr(layers, name), BASEMAP_PX_PER_M, bh, _BASEMAP_RGB[name])
    for wkt in (*layers.lane_divider, *layers.road_divider):
        xy = np.asarray(line(wkt, "divider").coords)[:, :2] * BASEMAP_PX_PER_M
        xy[:, 1] = bh - xy[:, 1]
        draw.line([tuple(p) for p in xy.tolist()], fill=_BASEMAP_RGB["divider"], width=1)
    return MapRasters(np.asarray(base), np.asarray(mask))
