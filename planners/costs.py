"""Cost terms of candidate trajectories against a ``SceneForecast`` and a route, all vectorised.

``poses`` are (N, M, 3) rear-axle poses (x, y, yaw) in the ego frame of the planning time; ``steps``
(M,) gives the forecast step at which each pose column is evaluated (pose column m lies at time
``steps[m] * scene.dt_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.types import wrap_angle
from planners.footprint import Footprint, footprint_hits, place
from planners.route import Path
from planners.scene import SceneForecast


def collisions(scene: SceneForecast, poses: np.ndarray, steps: np.ndarray, footprint: Footprint) -> np.ndarray:
    """(N, M) bool: the ego box at pose column m covers an obstacle cell of forecast ``steps[m]``."""
    return footprint_hits(
        poses, footprint.points_m, scene.obstacles, np.asarray(steps, np.int64), scene.min_xy_m, scene.cell_m
    )


def at_fault_collisions(
    scene: SceneForecast,
    poses: np.ndarray,
    steps: np.ndarray,
    speeds_mps: np.ndarray,
    footprint: Footprint,
    out_of_lane: np.ndarray,
    front_depth_m: float = 0.5,
    stopped_mps: float = 0.05,
) -> np.ndarray:
    """(N, M) bool: contacts the ego would be at fault for (nuPlan's rule, as ``sim/at_fault_collision_rate``
    decides it): while the ego moves (``speeds_mps`` (N, M) above ``stopped_mps``), its front (the box's
    front ``front_depth_m``) touching any obstacle, any part touching a static obstacle, or any part
    touching anything when the proposal leaves its lane (``out_of_lane`` (N,) bool). Moving obstacles
    touching the sides or the rear of an ego in its lane are theirs."""
    pts = footprint.points_m
    front = pts[pts[:, 0] >= pts[:, 0].max() - front_depth_m]
    args = (np.asarray(steps, np.int64), scene.min_xy_m, scene.cell_m)
    hit_front = footprint_hits(poses, front, scene.obstacles, *args)
    hit_static = footprint_hits(poses, pts, scene.static_obstacles, *args)
    hit_any = footprint_hits(poses, pts, scene.obstacles, *args) & np.asarray(out_of_lane)[:, None]
    return (hit_front | hit_static | hit_any) & (speeds_mps > stopped_mps)


def clearance_m(scene: SceneForecast, poses: np.ndarray, steps: np.ndarray, footprint: Footprint) -> np.ndarray:
    """(N, M) free distance between the ego disc cover and the nearest obstacle (negative = overlap, at
    the grid's resolution: an obstacle cell counts from its centre minus half a cell)."""
    d = scene.clearance_at(place(poses, footprint.disc_centers_m), steps)
    return d.min(axis=2) - footprint.disc_radius_m - 0.5 * scene.cell_m


def offroad_m(scene: SceneForecast, poses: np.ndarray, footprint: Footprint) -> np.ndarray:
    """(N, M) largest distance of a box corner from the drivable area (0 when all corners are on it),
    a drivable cell counting to its edge (half a cell)."""
    d = scene.offroad_at(place(poses, footprint.corners_m)).max(axis=2)
    return np.maximum(d - 0.5 * scene.cell_m, 0.0)


def sidewalk_share(scene: SceneForecast, poses: np.ndarray, footprint: Footprint) -> np.ndarray:
    """(N, M) share of the box's disc centres that stand on sidewalk cells."""
    return scene.sidewalk_at(place(poses, footprint.disc_centers_m)).mean(axis=2)


def time_to_collision_violated(
    scene: SceneForecast,
    poses: np.ndarray,
    steps: np.ndarray,
    speeds_mps: np.ndarray,
    footprint: Footprint,
    ttc_s: float = 0.95,
    n_probe: int = 3,
    min_speed_mps: float = 0.5,
) -> np.ndarray:
    """(N, M) bool, the PDMS TTC term: projecting the ego from a pose along its heading at its speed for
    up to ``ttc_s`` (``n_probe`` probes) hits an obstacle of the forecast step nearest to the probe
    time. A stopped ego (below ``min_speed_mps``) never violates."""
    n, m = poses.shape[:2]
    lead_s = ttc_s * (np.arange(n_probe) + 1) / n_probe  # (Q,)
    dist = speeds_mps[..., None] * lead_s  # (N, M, Q)
    probe = np.repeat(poses[:, :, None, :], n_probe, axis=2)
    probe[..., 0] += dist * np.cos(poses[..., 2])[..., None]
    probe[..., 1] += dist * np.sin(poses[..., 2])[..., None]
    t_probe = np.asarray(steps)[:, None] * scene.dt_s + lead_s[None, :]  # (M, Q)
    hits = footprint_hits(
        probe.reshape(n, m * n_probe, 3),
        footprint.points_m,
        scene.obstacles,
        scene.step_of(t_probe).ravel(),
        scene.min_xy_m,
        scene.cell_m,
    )
    return hits.reshape(n, m, n_probe).any(axis=2) & (speeds_mps >= min_speed_mps)


@dataclass(frozen=True)
class RouteProgress:
    """``progress_m`` (N,) arc length gained by the last pose; ``lateral_m`` (N, M) signed offset of each
    pose from the route; ``heading_error_rad`` (N, M) pose yaw minus route heading, wrapped. Without a
    route (``path`` None) progress is the forward displacement and the deviations are 0."""

    progress_m: np.ndarray
    lateral_m: np.ndarray
    heading_error_rad: np.ndarray


def route_progress(path: Path | None, poses: np.ndarray) -> RouteProgress:
    if path is None:
        zeros = np.zeros(poses.shape[:2])
        return RouteProgress(poses[:, -1, 0], zeros, zeros)
    s0, _ = path.project(np.zeros((1, 2)))
    s, lat = path.project(poses[..., :2])
    ref_yaw = np.interp(np.clip(s, path.s_m[0], path.s_m[-1]), path.s_m, path.yaw_rad)
    return RouteProgress(s[:, -1] - s0[0], lat, wrap_angle(poses[..., 2] - ref_yaw))
