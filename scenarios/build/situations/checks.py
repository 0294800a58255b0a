"""Measurements on a generated scene that the situations' checks are made of: the staged actor's track,
the expert ego's longitudinal acceleration, the gap between the ego's and an actor's boxes, and the
LiDAR returns and camera pixels on an actor (re-cast from the logged ego poses with the scene's own
sensor rig, so the LiDAR returns are those the written sweeps carry)."""

from __future__ import annotations

import numpy as np
import shapely

from occplan.world.camera import pixel_rays
from occplan.world.generated import GeneratedWorld
from occplan.world.spec import AgentTrack, WorldSpec
from scenarios.build.boxes import box_corners
from scenarios.build.situations.base import Actor
from scenarios.build.world import ego_box_corners


def find_actor(spec: WorldSpec, actor: Actor, tol_m: float = 0.05) -> int | None:
    """Index in ``spec.agents`` of the track of ``actor`` (same category, first box centre within
    ``tol_m``); None when the world has no such track (the actor was dropped)."""
    for k, t in enumerate(spec.agents):
        if t.category == actor.category and np.linalg.norm(t.center_m[0, :2] - actor.start_xy_m) < tol_m:
            return k
    return None


def ego_accel_mps2(spec: WorldSpec) -> np.ndarray:
    """(T,) longitudinal acceleration of the expert ego (central differences of its logged speed)."""
    return np.gradient(spec.ego.speed_mps, spec.ego.times_us * 1e-6)


def track_accel_mps2(track: AgentTrack) -> np.ndarray:
    """(T,) acceleration of a track along its heading (differences of its speed along the heading)."""
    h = track.yaw_rad
    v = track.velocity_mps[:, 0] * np.cos(h) + track.velocity_mps[:, 1] * np.sin(h)
    return np.gradient(v, track.times_us * 1e-6)


def ego_centres_m(spec: WorldSpec) -> np.ndarray:
    """(T, 2) centres of the expert ego's box (``rear_axle_to_center_m`` ahead of the logged rear axle)."""
    return ego_box_corners(spec.ego).mean(axis=1)


def box_gaps_m(spec: WorldSpec, track: AgentTrack) -> np.ndarray:
    """(K,) BEV distance between the ego's box and the track's box at the K samples where the track
    exists (0 when they overlap)."""
    idx = np.searchsorted(spec.ego.times_us, track.times_us)
    ego = ego_box_corners(spec.ego)[np.clip(idx, 0, len(spec.ego.times_us) - 1)]
    other = box_corners(track.center_m[:, :2], track.yaw_rad, track.size_m[0], track.size_m[1])
    return shapely.distance(shapely.polygons(ego), shapely.polygons(other))


def lidar_returns(world: GeneratedWorld, agent: int, times_us: np.ndarray) -> np.ndarray:
    """(K,) number of LIDAR_TOP returns on agent ``agent`` (index in ``spec.agents``) in a sweep cast
    from the logged ego pose at each of ``times_us``."""
    out = np.zeros(len(times_us), np.int64)
    for k, t in enumerate(times_us):
        scan = world.lidar_scan(world.logged_world_from_ego(int(t)), int(t))
        out[k] = int(np.count_nonzero(scan.instance == agent))
    return out


def camera_pixels(
    world: GeneratedWorld, agent: int, times_us: np.ndarray, width_px: int = 128, height_px: int = 72
) -> np.ndarray:
    """(K,) number of pixels showing agent ``agent`` in the rig's six cameras (pixel-centre rays at
    ``width_px`` x ``height_px``, intrinsics scaled as ``SensorRig.intrinsics`` does) from the logged
    ego pose at each of ``times_us``."""
    rig = world.rig
    rays = {ch: pixel_rays(rig.intrinsics(ch, width_px, height_px), width_px, height_px) for ch in rig.camera_channels}
    out = np.zeros(len(times_us), np.int64)
    for k, t in enumerate(times_us):
        world_from_ego = world.logged_world_from_ego(int(t))
        for ch, dirs in rays.items():
            world_from_cam = world_from_ego @ rig.ego_from_cam(ch)
            hits = world.cast_rays(world_from_cam.translation_m[None], world_from_cam.transform_vectors(dirs), int(t))
            out[k] += int(np.count_nonzero(hits.instance == agent))
    return out


def check_times_us(spec: WorldSpec, rate_hz: float = 10.0) -> np.ndarray:
    """Times (int64 us) at ``rate_hz`` over the scene, at which checks sample the sensors."""
    step = round(1e6 / rate_hz)
    return np.arange(spec.start_time_us, int(spec.ego.times_us[-1]) + 1, step, dtype=np.int64)


def seconds(spec: WorldSpec, times_us: np.ndarray) -> np.ndarray:
    """Scene time (s) of ``times_us``."""
    return (np.asarray(times_us) - spec.start_time_us) * 1e-6
