"""Drivable area as a world-frame raster with the distance to the drivable area (for off-road
checks and the planner's drivable BEV), rasterised once per scenario."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from shapely import wkb
from shapely.geometry import MultiPolygon, Polygon, box

from occplan.types import GridSpec, Pose


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
        """Rasterise the drivable area over the bounding box of ``center_xy_m`` (N, 2) grown by ``margin_m``."""
        lo = np.min(center_xy_m, axis=0) - margin_m
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

    def distance_outside(self, xy_m: np.ndarray) -> np.ndarray:
        """(N, 2) world points -> (N,) distance to the drivable area (inf off the raster)."""
        idx = np.floor((np.asarray(xy_m)[:, :2] - self.origin_m) / self.cell_m).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < self.outside_m.shape), axis=1)
        out = np.full(len(idx), np.inf, dtype=np.float64)
        out[ok] = self.outside_m[idx[ok, 0], idx[ok, 1]]
        return out

    def bev(self, world_from_ego: Pose, grid: GridSpec) -> np.ndarray:
        """(X, Y) bool drivable mask on the xy cells of ``grid`` (ego frame) at the pose."""
        g = grid.all_centers()[:, :, 0, :2].reshape(-1, 2)
        world = g @ world_from_ego.rotation[:2, :2].T + world_from_ego.translation_m[:2]
        return (self.distance_outside(world) == 0).reshape(grid.shape[:2])
