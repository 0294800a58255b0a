"""The off-road rule: an ego corner more than ``OFFROAD_TOLERANCE_M`` outside the drivable area.

The drivable area is rasterised once per scenario into a world-frame distance raster (0.2 m cells on a
lattice anchored at the world origin, so two rasters of the same map agree cell for cell wherever
both reach); the simulator's per-substep flag, the closed-loop metric and the planners' drivable BEV
all read it through ``outside_distance`` / ``DrivableRaster``."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numba as nb
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from shapely import wkb
from shapely.geometry import MultiPolygon, Polygon, box

from occplan.types import GridSpec, Pose

OFFROAD_TOLERANCE_M = 0.3
"""nuPlan's drivable-area compliance: a corner further than this outside the drivable area is off-road."""
RASTER_MARGIN_M = 60.0
"""Reach (m) of a scenario's drivable raster beyond its logged path: further away counts as off-road."""


@dataclass(frozen=True)
class DrivableRaster:
    """``outside_m`` (X, Y) float32: distance (m) from each cell centre to the drivable area (0 inside).

    Cell (i, j) covers ``origin_m + (i, j) * cell_m``; points off the raster count as far outside.
    """

    origin_m: np.ndarray
    cell_m: float
    outside_m: np.ndarray

    @classmethod
    def from_wkb(cls, drivable_wkb: bytes, center_xy_m: np.ndarray, margin_m: float, cell_m: float = 0.2):
        """Rasterise the drivable area over the bounding box of ``center_xy_m`` (N, 2) grown by ``margin_m``,
        with the raster's corner on the world lattice of ``cell_m``."""
        lo = np.floor((np.min(center_xy_m, axis=0) - margin_m) / cell_m) * cell_m
        hi = np.max(center_xy_m, axis=0) + margin_m
        shape = np.ceil((hi - lo) / cell_m).astype(int)
        geom = wkb.loads(drivable_wkb).intersection(box(*lo, *(lo + shape * cell_m)))
        polys = [geom] if isinstance(geom, Polygon) else list(getattr(geom, "geoms", []))
        img = Image.new("1", (int(shape[0]), int(shape[1])), 0)  # PIL (x=i, y=j)
        draw = ImageDraw.Draw(img)

        def px(coords) -> list[tuple[float, float]]:
            c = (np.asarray(coords)[:, :2] - lo) / cell_m - 0.5
            return [tuple(p) for p in c]

        for poly in polys:
            if isinstance(poly, MultiPolygon | Polygon) and not poly.is_empty:
                for part in [poly] if isinstance(poly, Polygon) else poly.geoms:
                    draw.polygon(px(part.exterior.coords), fill=1)
                    for hole in part.interiors:
                        draw.polygon(px(hole.coords), fill=0)
        inside = np.asarray(img, dtype=bool).T  # -> (X, Y)
        outside = ndimage.distance_transform_edt(~inside).astype(np.float32) * cell_m
        return cls(lo.astype(np.float64), float(cell_m), outside)

    @classmethod
    def around_path(cls, drivable_wkb: bytes, path_xy_m: np.ndarray) -> DrivableRaster:
        """The scenario raster of the off-road rule: ``RASTER_MARGIN_M`` around the logged path (N, 2)."""
        return cls.from_wkb(drivable_wkb, path_xy_m, RASTER_MARGIN_M)

    def distance_outside(self, xy_m: np.ndarray) -> np.ndarray:
        """(N, 2) world points -> (N,) distance to the drivable area (inf off the raster)."""
        idx = np.floor((np.asarray(xy_m)[:, :2] - self.origin_m) / self.cell_m).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < self.outside_m.shape), axis=1)
        out = np.full(len(idx), np.inf, dtype=np.float64)
        out[ok] = self.outside_m[idx[ok, 0], idx[ok, 1]]
        return out

    def bev(self, world_from_ego: Pose, grid: GridSpec) -> np.ndarray:
        """(X, Y) bool drivable mask on the xy cells of ``grid`` (ego frame) at the pose."""
        layer = replace(grid, shape=(*grid.shape[:2], 1))  # the xy cells only
        g = layer.all_centers()[:, :, 0, :2].reshape(-1, 2)
        world = g @ world_from_ego.rotation[:2, :2].T + world_from_ego.translation_m[:2]
        return (self.distance_outside(world) == 0).reshape(grid.shape[:2])


@nb.njit(cache=True)
def outside_distance(outside_m: np.ndarray, origin_m: np.ndarray, cell_m: float, xy: np.ndarray) -> float:
    """Largest distance (m) to the drivable area over points (N, 2), from a ``DrivableRaster``'s
    ``outside_m`` (inf off the raster); above ``OFFROAD_TOLERANCE_M`` for an ego corner = off-road."""
    worst = 0.0
    for p in range(xy.shape[0]):
        i = math.floor((xy[p, 0] - origin_m[0]) / cell_m)
        j = math.floor((xy[p, 1] - origin_m[1]) / cell_m)
        if 0 <= i < outside_m.shape[0] and 0 <= j < outside_m.shape[1]:
            worst = max(worst, np.float64(outside_m[i, j]))
        else:
            return np.inf
    return worst
