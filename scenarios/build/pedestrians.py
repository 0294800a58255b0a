"""Pedestrians walking along sidewalks and across zebra crossings (scripted, non-reactive)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from scenarios.build.areas import Areas
from scenarios.build.categories import KINDS, kind_rgb
from scenarios.build.config import BuildConfig
from scenarios.build.network import RoadNetwork
from scenarios.build.path import Path

MIN_SEPARATION_M = 1.05  # > 2 x half-diagonal of a pedestrian box: circles this far apart never overlap
MOVING, STANDING = 0, 1


@dataclass(frozen=True)
class PedestrianMotion:
    """``xy_m`` (T, 2), ``heading_rad`` (T,), ``velocity_mps`` (T, 2) sampled at the simulation steps
    (the velocity is the central difference of the positions)."""

    kind: str
    size_m: np.ndarray
    xy_m: np.ndarray
    heading_rad: np.ndarray
    velocity_mps: np.ndarray
    rgb: np.ndarray


@dataclass(frozen=True)
class SidewalkLine:
    """The walking line along one side of a road: points ``xy_m`` (L, 2) at road-centre arclengths
    ``road_s_m`` (L,), and the resampled ``path`` through them."""

    road: int
    side: int
    xy_m: np.ndarray
    road_s_m: np.ndarray
    path: Path


def sidewalk_lines(net: RoadNetwork, areas: Areas, cfg: BuildConfig) -> list[SidewalkLine]:
    """Mid-sidewalk lines per road side, trimmed to the longest stretch that stays 0.4 m inside the walkway."""
    inner = areas.sidewalk.buffer(-0.4)
    shapely.prepare(inner)
    out = []
    for r, rd in enumerate(net.roads):
        for side in (1, -1):
            pts = rd.centre.offset_points(side * (rd.edge(side) + cfg.sidewalk_width_m / 2))
            ok = shapely.contains_xy(inner, pts[:, 0], pts[:, 1])
            runs = np.split(np.arange(len(ok)), np.flatnonzero(np.diff(ok.astype(np.int8))) + 1)
            best = max((run for run in runs if ok[run[0]]), key=len, default=None)
            if best is not None and len(best) > 40:
                out.append(
                    SidewalkLine(r, side, pts[best], rd.centre.s_m[best], Path.from_points(pts[best], cfg.path_step_m))
                )
    return out


def _follow(path: Path, s0: float, speed: float, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk ``path`` from ``s0`` at ``speed`` and stop at its end: positions, headings, velocities."""
    xy, h = path.sample(s0 + speed * times_s)
    return xy, h, np.gradient(xy, times_s, axis=0)


def _walker(rng, line: SidewalkLine, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    kind = "child" if rng.random() < 0.12 else "adult"
    path = line.path if rng.random() < 0.5 else line.path.reversed()
    speed = 0.0 if rng.random() < 0.15 else rng.uniform(*KINDS[kind].speed_mps)
    xy, h, v = _follow(path, rng.uniform(0.0, path.length_m), speed, times_s)
    return xy, h, v, kind


def _crosser(rng, lines: list[SidewalkLine], net: RoadNetwork, crossing: int, early: bool, times_s: np.ndarray):
    """Walk along one side towards ``crossing``, cross it, walk on along the far side; None if impossible.

    An ``early`` crosser starts 0.5-1.5 m from the crossing (it crosses in the first seconds), others up to 25 m away.
    """
    cr = net.crossings[crossing]
    sides = {ln.side: ln for ln in lines if ln.road == cr.road}
    if len(sides) < 2:
        return None
    a, b = (sides[1], sides[-1]) if rng.random() < 0.5 else (sides[-1], sides[1])
    ka, kb = np.argmin(np.abs(a.road_s_m - cr.s_m)), np.argmin(np.abs(b.road_s_m - cr.s_m))
    if abs(a.road_s_m[ka] - cr.s_m) > 0.5 or abs(b.road_s_m[kb] - cr.s_m) > 0.5:
        return None
    approach = int(rng.integers(1, 4) if early else rng.integers(4, 50)) * (1 if rng.random() < 0.5 else -1)
    leave = int(rng.integers(20, 80)) * (1 if rng.random() < 0.5 else -1)
    ia = np.clip(ka + approach, 0, len(a.road_s_m) - 1)
    ib = np.clip(kb + leave, 0, len(b.road_s_m) - 1)
    seg_a = a.xy_m[ia:ka:-1] if ia > ka else a.xy_m[ia:ka]
    seg_b = b.xy_m[kb:ib] if ib > kb else b.xy_m[kb:ib:-1]
    pts = np.concatenate([seg_a, a.xy_m[ka : ka + 1], b.xy_m[kb : kb + 1], seg_b])
    path = Path.from_points(pts, 0.5)
    kind = "adult"
    xy, h, v = _follow(path, 0.0, rng.uniform(*KINDS[kind].speed_mps), times_s)
    return xy, h, v, kind


def place_pedestrians(
    rng: np.random.Generator,
    net: RoadNetwork,
    areas: Areas,
    cfg: BuildConfig,
    times_s: np.ndarray,
    early_crossings: frozenset[int] = frozenset(),
    excluded_crossings: frozenset[int] = frozenset(),
) -> list[PedestrianMotion]:
    """Sidewalk walkers and crossing pedestrians that keep ``MIN_SEPARATION_M`` from each other at all times.

    Pedestrians on ``early_crossings`` (those on the ego's route) cross at the start of the scene, so that
    the expert yields to them and still has time to drive its route; nobody uses ``excluded_crossings``."""
    lines = sidewalk_lines(net, areas, cfg)
    if not lines:
        return []
    weights = np.array([ln.path.length_m for ln in lines])
    n_cross = int(rng.integers(cfg.crossing_pedestrians[0], cfg.crossing_pedestrians[1] + 1))
    n_walk = int(rng.integers(cfg.pedestrians[0], cfg.pedestrians[1] + 1))
    accepted: list[np.ndarray] = []
    out = []
    # at most one pedestrian per crossing, so that traffic is not held for the whole scene
    order = [c for c in rng.permutation(len(net.crossings)) if c not in excluded_crossings][:n_cross]
    for k in range(len(order) + n_walk):
        for _ in range(30):
            if k < len(order):
                cand = _crosser(rng, lines, net, int(order[k]), int(order[k]) in early_crossings, times_s)
                if cand is None:
                    break
            else:
                cand = _walker(rng, lines[int(rng.choice(len(lines), p=weights / weights.sum()))], times_s)
            xy, h, v, kind = cand
            if accepted:
                d = np.linalg.norm(np.stack(accepted) - xy[None], axis=-1)
                if d.min() < MIN_SEPARATION_M:
                    continue
            accepted.append(xy)
            out.append(PedestrianMotion(kind, KINDS[kind].sample_size(rng), xy, h, v, kind_rgb(rng, kind)))
            break
    return out
