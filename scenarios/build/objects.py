"""Parked vehicles (parking strips, car park) and work zones of traffic cones and barriers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from scenarios.build.categories import KINDS, kind_rgb
from scenarios.build.config import BuildConfig
from scenarios.build.network import RoadNetwork

PARKED = 2  # index of vehicle.parked in VEHICLE_ATTRIBUTES
NO_ATTRIBUTE = -1


@dataclass(frozen=True)
class StaticObject:
    """An annotated object that does not move: ``xy_m`` box centre, ``z_m`` ground height under it."""

    kind: str
    size_m: np.ndarray
    xy_m: np.ndarray
    z_m: float
    yaw_rad: float
    attribute: int
    rgb: np.ndarray


def _work_zone(rng, rd, side: int, s0: float, s1: float, cfg: BuildConfig) -> list[StaticObject]:
    out = []
    lw = cfg.lane_width_m
    for s in np.arange(s0, s1, 3.0):
        xy, h = rd.centre.sample(s)
        n = side * np.array([-np.sin(h[0]), np.cos(h[0])])
        size = KINDS["cone"].sample_size(rng)
        out.append(
            StaticObject("cone", size, xy[0] + (lw + 0.35) * n, 0.0, float(h[0]), NO_ATTRIBUTE, kind_rgb(rng, "cone"))
        )
    for s in np.arange(s0 + 2.0, s1 - 1.5, 2.8):
        xy, h = rd.centre.sample(s)
        n = side * np.array([-np.sin(h[0]), np.cos(h[0])])
        size = KINDS["barrier"].sample_size(rng)
        yaw = float(h[0] + np.pi / 2)  # the barrier's width (2.5 m) runs along the road
        out.append(
            StaticObject("barrier", size, xy[0] + (lw + 1.5) * n, 0.0, yaw, NO_ATTRIBUTE, kind_rgb(rng, "barrier"))
        )
    return out


def _parked(rng, xy: np.ndarray, yaw: float, allow_truck: bool = True) -> StaticObject:
    kind = "truck" if allow_truck and rng.random() < 0.1 else "car"
    size = KINDS[kind].sample_size(rng)
    if kind == "truck":
        size[0] = min(size[0], 2.2)  # fits the 2.4 m strip
    yaw_noise = float(np.clip(rng.normal(0.0, 0.01), -0.015, 0.015))
    return StaticObject(kind, size, xy, 0.0, yaw + yaw_noise, PARKED, kind_rgb(rng, kind))


def place_objects(rng: np.random.Generator, net: RoadNetwork, cfg: BuildConfig) -> list[StaticObject]:
    """Fill parking strips with parked vehicles (one strip may hold a work zone) and the car park's bays."""
    out: list[StaticObject] = []
    zone = int(rng.integers(len(net.parking))) if net.parking and rng.random() < 0.7 else -1
    for k, strip in enumerate(net.parking):
        rd = net.roads[strip.road]
        s = strip.s_start_m + 1.0
        if k == zone:
            length = min(rng.uniform(15.0, 25.0), strip.s_end_m - s)
            out += _work_zone(rng, rd, strip.side, s, s + length, cfg)
            s += length + 2.0
        while s + 5.5 < strip.s_end_m:
            pitch = rng.uniform(6.0, 7.2)
            if rng.random() < 0.65:
                xy, h = rd.centre.sample(s + pitch / 2)
                n = strip.side * np.array([-np.sin(h[0]), np.cos(h[0])])
                # on a curve a straight box's ends leave the arc by (l/2)^2 |k| / 2: keep that off the lane
                curvature = abs(float(np.interp(s + pitch / 2, rd.centre.s_m, rd.centre.curvature_1pm)))
                bulge = 2.4**2 * curvature / 2
                lateral = cfg.lane_width_m + cfg.parking_width_m / 2 + bulge + rng.uniform(0.0, 0.08)
                yaw = float(h[0] if strip.side < 0 else h[0] + np.pi)
                out.append(_parked(rng, xy[0] + lateral * n, yaw, allow_truck=curvature < 1e-3))
            s += pitch
    if net.carpark is not None:
        out += _carpark(rng, net.carpark)
    return out


def _carpark(rng: np.random.Generator, lot: shapely.Polygon) -> list[StaticObject]:
    """Rows of 2.6 m x 5 m bays perpendicular to the lot's long (road-side) edge, 6 m aisles."""
    xy = shapely.get_coordinates(lot)[:4]
    along = xy[1] - xy[0]
    length = float(np.linalg.norm(along))
    t = along / length
    across = xy[3] - xy[0]
    depth = float(np.linalg.norm(across))
    n = across / depth
    out = []
    rows = [r for r in (8.5, 13.5, 24.5, 29.5) if r + 2.5 <= depth]
    for r in rows:
        for a in np.arange(2.0, length - 2.0, 2.6):
            if rng.random() < 0.7:
                centre = xy[0] + (a + 1.3) * t + r * n
                out.append(_parked(rng, centre, float(np.arctan2(n[1], n[0])) + np.pi * (rng.random() < 0.5)))
    return out
