"""Candidate trajectories for sampling planners: speed profiles x curvatures (ST-P3 style), plus
route-following candidates (speed profiles x lateral offsets from the route centreline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.types import EgoState, TrajectorySampling, wrap_angle
from planners.kinematics import fine_times, integrate_curvature, speed_profiles
from planners.route import Path, blend_lateral


@dataclass(frozen=True)
class LatticeConfig:
    """Accelerations (m/s^2, reached from the current one after ``accel_ramp_s``) x final curvatures
    (1/m, reached from the current curvature after ``curvature_ramp_s``); route candidates use the
    same accelerations x ``route_offsets_m``, reached after ``max(min_blend_m, blend_time_s * speed)``
    of travel. Speeds stay in
    [0, max(speed_limit_mps, current speed)]. Candidates are integrated with ``integration_steps``
    steps per waypoint interval and kept at ``check_steps`` poses per interval (a divisor of it)."""

    accels_mps2: tuple[float, ...] = (-6.0, -4.0, -2.5, -1.0, 0.0, 0.7, 1.5)
    curvatures_1pm: tuple[float, ...] = (
        -0.2, -0.12, -0.07, -0.04, -0.02, -0.01, 0.0, 0.01, 0.02, 0.04, 0.07, 0.12, 0.2,
    )  # fmt: skip
    curvature_ramp_s: float = 1.0
    accel_ramp_s: float = 0.8
    route_offsets_m: tuple[float, ...] = (0.0, -0.75, 0.75, -1.5, 1.5, -3.0, 3.0)
    min_blend_m: float = 8.0
    blend_time_s: float = 2.0
    speed_limit_mps: float = 11.0
    integration_steps: int = 4
    check_steps: int = 2


@dataclass(frozen=True)
class Candidates:
    """N candidates at ``per_waypoint`` poses per waypoint interval (M = T * per_waypoint):
    ``poses`` (N, M, 3) rear-axle (x, y, yaw) at times (1..M) * interval / per_waypoint;
    ``speeds_mps`` (N, M); ``accel_mps2`` (N,) the profile's acceleration."""

    poses: np.ndarray
    speeds_mps: np.ndarray
    accel_mps2: np.ndarray
    per_waypoint: int

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def waypoints(self) -> np.ndarray:
        """(N, T, 3) poses at the sampling's waypoint times."""
        return self.poses[:, self.per_waypoint - 1 :: self.per_waypoint]


def current_curvature(ego: EgoState, min_speed_mps: float = 1.0) -> float:
    """Curvature implied by the yaw rate (0 when nearly stopped)."""
    return ego.yaw_rate_radps / ego.speed_mps if ego.speed_mps > min_speed_mps else 0.0


def curvature_lattice(ego: EgoState, sampling: TrajectorySampling, cfg: LatticeConfig) -> Candidates:
    """All (acceleration, curvature) pairs, integrated as a unicycle."""
    t = fine_times(sampling, cfg.integration_steps)
    keep = slice(cfg.integration_steps // cfg.check_steps, None, cfg.integration_steps // cfg.check_steps)
    acc, kap = (g.ravel() for g in np.meshgrid(cfg.accels_mps2, cfg.curvatures_1pm, indexing="ij"))
    _, v = speed_profiles(max(ego.speed_mps, 0.0), ego.accel_mps2, acc, cfg.speed_limit_mps, t, cfg.accel_ramp_s)
    poses = integrate_curvature(v, current_curvature(ego), kap, t, cfg.curvature_ramp_s)[:, keep]
    poses[..., 2] = wrap_angle(poses[..., 2])
    return Candidates(poses, v[:, keep], acc, cfg.check_steps)


def follow_path(
    path: Path, speed0_mps: float, travel_m: np.ndarray, offsets_m: np.ndarray, min_blend_m: float, blend_time_s: float
) -> np.ndarray:
    """Poses (N, M, 3) travelling ``travel_m`` (N, M) along ``path`` from the ego's projection, moving
    from its current lateral offset to ``offsets_m`` (N,) over ``max(min_blend_m, blend_time_s * speed0)``."""
    s0, lat0 = path.project(np.zeros((1, 2)))
    blend_m = max(min_blend_m, blend_time_s * speed0_mps)
    lat, dlat = blend_lateral(travel_m, float(lat0[0]), np.asarray(offsets_m)[:, None], blend_m)
    return path.offset_poses(s0[0] + travel_m, lat, dlat)


def route_candidates(ego: EgoState, path: Path, sampling: TrajectorySampling, cfg: LatticeConfig) -> Candidates:
    """Each acceleration profile along the route at each lateral offset."""
    t = fine_times(sampling, cfg.integration_steps)
    keep = slice(cfg.integration_steps // cfg.check_steps, None, cfg.integration_steps // cfg.check_steps)
    acc = np.repeat(np.asarray(cfg.accels_mps2), len(cfg.route_offsets_m))
    offsets = np.tile(np.asarray(cfg.route_offsets_m), len(cfg.accels_mps2))
    v0 = max(ego.speed_mps, 0.0)
    travel, v = speed_profiles(v0, ego.accel_mps2, acc, cfg.speed_limit_mps, t, cfg.accel_ramp_s)
    travel, v = travel[:, keep], v[:, keep]
    poses = follow_path(path, v0, travel, offsets, cfg.min_blend_m, cfg.blend_time_s)
    return Candidates(poses, v, acc, cfg.check_steps)


def lattice_with_route(
    ego: EgoState, path: Path | None, sampling: TrajectorySampling, cfg: LatticeConfig
) -> Candidates:
    """The curvature lattice, plus route-following candidates when a route path exists."""
    lat = curvature_lattice(ego, sampling, cfg)
    if path is None:
        return lat
    rc = route_candidates(ego, path, sampling, cfg)
    return Candidates(
        np.concatenate([lat.poses, rc.poses]),
        np.concatenate([lat.speeds_mps, rc.speeds_mps]),
        np.concatenate([lat.accel_mps2, rc.accel_mps2]),
        cfg.check_steps,
    )
