"""Static scenery beside the roads: buildings, walls, hedges, trees, street-light poles, paved plazas."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from scenarios.build.areas import Areas
from scenarios.build.categories import MANMADE, VEGETATION
from scenarios.build.config import BuildConfig
from scenarios.build.mesh import MeshBuilder
from scenarios.build.network import RoadNetwork

BUILDING_RGB = np.array(
    [[190, 170, 140], [150, 85, 65], [160, 160, 165], [205, 205, 200], [105, 120, 140], [175, 150, 120]], np.float64
)
WALL_RGB = np.array([[140, 135, 130], [150, 90, 70]], np.float64)
TRUNK_RGB = np.array([95, 70, 45], np.float64)
POLE_RGB = np.array([85, 85, 90], np.float64)


class FreeSpace:
    """A raster (``cell_m`` cells) of the world marking where scenery may still be placed."""

    def __init__(self, size_m: float, blocked: shapely.Geometry, cell_m: float = 1.0) -> None:
        self.cell_m = cell_m
        self.n = round(size_m / cell_m)
        c = (np.arange(self.n) + 0.5) * cell_m
        self._cx, self._cy = np.meshgrid(c, c, indexing="ij")
        shapely.prepare(blocked)
        self.free = ~shapely.contains_xy(blocked, self._cx, self._cy)

    def _cells(self, geom: shapely.Geometry) -> tuple[np.ndarray, np.ndarray] | None:
        x0, y0, x1, y1 = geom.bounds
        i0, j0 = int(np.floor(x0 / self.cell_m)) - 1, int(np.floor(y0 / self.cell_m)) - 1
        i1, j1 = int(np.ceil(x1 / self.cell_m)) + 1, int(np.ceil(y1 / self.cell_m)) + 1
        if i0 < 0 or j0 < 0 or i1 > self.n or j1 > self.n:
            return None
        sub = (slice(i0, i1), slice(j0, j1))
        inside = shapely.contains_xy(geom, self._cx[sub], self._cy[sub])
        ii, jj = np.nonzero(inside)
        return ii + i0, jj + j0

    def try_take(self, geom: shapely.Geometry) -> bool:
        """Mark ``geom`` as used if it lies inside the world on free cells; return whether it did."""
        cells = self._cells(geom.buffer(self.cell_m * 0.75))
        if cells is None or not self.free[cells].all():
            return False
        self.free[self._cells(geom)] = False
        return True


@dataclass(frozen=True)
class SceneryLayout:
    """Ground patches decided by the scenery (``plazas``: flat.other), needed before the ground mesh."""

    plazas: tuple[shapely.Polygon, ...]


def _frame(rd, s_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xy, h = rd.centre.sample(s_m)
    return xy[0], np.array([np.cos(h[0]), np.sin(h[0])]), np.array([-np.sin(h[0]), np.cos(h[0])])


def _rect(p: np.ndarray, t: np.ndarray, n: np.ndarray, along: tuple[float, float], across: tuple[float, float]):
    a0, a1 = along
    b0, b1 = across
    return shapely.Polygon([p + a0 * t + b0 * n, p + a1 * t + b0 * n, p + a1 * t + b1 * n, p + a0 * t + b1 * n])


def place_scenery(
    rng: np.random.Generator, net: RoadNetwork, areas: Areas, cfg: BuildConfig, builder: MeshBuilder
) -> SceneryLayout:
    """Add buildings, walls, hedges, trees and poles to ``builder``; return the plaza patches."""
    blocked = shapely.union_all([areas.drivable, areas.sidewalk]).buffer(0.5)
    space = FreeSpace(cfg.world_size_m, blocked)
    sw = cfg.sidewalk_width_m
    plazas: list[shapely.Polygon] = []
    for rd in net.roads:
        start = 12.0 if rd.is_arm else 5.0
        for side in (1, -1):
            edge = rd.edge(side)
            kerb = float(edge.max())
            # street-light poles on the outer sidewalk edge
            for s in np.arange(start + rng.uniform(0, 10), rd.centre.length_m - 5, rng.uniform(25.0, 35.0)):
                p, _, n = _frame(rd, s)
                off = float(np.interp(s, rd.centre.s_m, edge)) + sw - 0.4
                builder.add_cylinder([*(p + side * off * n), 0.0], 0.12, rng.uniform(6.0, 8.0), MANMADE, POLE_RGB)
            # street trees on the verge
            for s in np.arange(start + rng.uniform(0, 6), rd.centre.length_m - 5, rng.uniform(9.0, 16.0)):
                p, _, n = _frame(rd, s)
                xy = p + side * (float(np.interp(s, rd.centre.s_m, edge)) + sw + 1.3) * n
                if rng.random() < 0.75:
                    _tree(rng, builder, space, xy, crown_max_m=2.2, crown_clear=False)
            # frontage: buildings with plazas, hedges or walls in the gaps
            s = start + rng.uniform(0.0, 8.0)
            while s < rd.centre.length_m - 12.0:
                width = rng.uniform(10.0, 30.0)
                p, t, n = _frame(rd, s + width / 2)
                n = side * n
                setback = rng.uniform(3.0, 9.0)
                front = kerb + sw + setback
                depth = rng.uniform(10.0, 25.0)
                foot = _rect(p, t, n, (-width / 2, width / 2), (front, front + depth))
                if space.try_take(foot):
                    _building(rng, builder, foot, np.arctan2(t[1], t[0]))
                    behind = front + depth + rng.uniform(4.0, 12.0)  # a second row for the background
                    back = _rect(p, t, n, (-width / 2, width / 2), (behind, behind + rng.uniform(10.0, 25.0)))
                    if rng.random() < 0.6 and space.try_take(back):
                        _building(rng, builder, back, np.arctan2(t[1], t[0]))
                    verge = _rect(p, t, n, (-width / 2 + 1, width / 2 - 1), (kerb + sw + 2.2, front - 0.5))
                    r = rng.random()
                    if r < 0.3 and setback > 4.0 and space.try_take(verge):
                        plazas.append(verge)
                    elif r < 0.55:
                        hedge = _rect(p, t, n, (-width / 2 + 1, width / 2 - 1), (front - 1.6, front - 0.8))
                        if space.try_take(hedge):
                            _prism(builder, hedge, rng.uniform(0.9, 1.5), VEGETATION, [45, 85, 40])
                gap = rng.uniform(2.0, 10.0)
                if rng.random() < 0.3:
                    p, t, n = _frame(rd, s + width + gap / 2)
                    n = side * n
                    wall = _rect(p, t, n, (-gap / 2, gap / 2), (front + 1.0, front + 1.3))
                    if space.try_take(wall):
                        _prism(builder, wall, rng.uniform(1.6, 2.6), MANMADE, WALL_RGB[rng.integers(len(WALL_RGB))])
                s += width + gap
    # scattered trees and hedges in open terrain
    for _ in range(120):
        _tree(rng, builder, space, rng.uniform(5.0, cfg.world_size_m - 5.0, 2), crown_max_m=3.0, crown_clear=True)
    return SceneryLayout(tuple(plazas))


def _building(rng: np.random.Generator, builder: MeshBuilder, foot: shapely.Polygon, yaw_rad: float) -> None:
    c = np.asarray(foot.centroid.coords[0])
    xy = shapely.get_coordinates(foot)
    length = float(np.linalg.norm(xy[1] - xy[0]))
    depth = float(np.linalg.norm(xy[2] - xy[1]))
    height = rng.uniform(5.0, 24.0)
    builder.add_box([*c, 0.0], [length, depth, height], yaw_rad, MANMADE, BUILDING_RGB[rng.integers(len(BUILDING_RGB))])


def _prism(builder: MeshBuilder, foot: shapely.Polygon, height_m: float, label: int, rgb) -> None:
    xy = shapely.get_coordinates(foot)
    t = xy[1] - xy[0]
    length, depth = float(np.linalg.norm(t)), float(np.linalg.norm(xy[2] - xy[1]))
    c = np.asarray(foot.centroid.coords[0])
    builder.add_box([*c, 0.0], [length, depth, height_m], float(np.arctan2(t[1], t[0])), label, rgb)


def _tree(
    rng: np.random.Generator,
    builder: MeshBuilder,
    space: FreeSpace,
    xy: np.ndarray,
    crown_max_m: float,
    crown_clear: bool,
) -> None:
    """A trunk and an ellipsoid crown whose underside is at the trunk top (>= 2.3 m, above pedestrians).

    The trunk needs free ground; with ``crown_clear`` the whole crown footprint does (street trees may
    overhang the sidewalk)."""
    r = rng.uniform(1.5, crown_max_m)
    trunk_h = rng.uniform(2.3, 3.5)
    r_z = r * rng.uniform(0.9, 1.3)
    green = np.array([rng.uniform(40, 75), rng.uniform(95, 140), rng.uniform(35, 60)])
    if not space.try_take(shapely.Point(xy).buffer(r if crown_clear else 0.5)):
        return
    builder.add_cylinder([xy[0], xy[1], 0.0], rng.uniform(0.15, 0.25), trunk_h + 0.5, VEGETATION, TRUNK_RGB)
    builder.add_ellipsoid([xy[0], xy[1], trunk_h + r_z], [r, r, r_z], VEGETATION, green)
