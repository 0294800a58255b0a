"""Ego motion of a scene: states by finite differences, ego history, logged future and driving command."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from nuscenes.nuscenes import NuScenes

from occplan.data.tables import get_row, pose_of
from occplan.errors import DataError
from occplan.types import Command, EgoState, Pose, Trajectory, TrajectorySampling


@dataclass(frozen=True)
class EgoTrack:
    """World-frame ego poses along a scene's LIDAR_TOP ``sample_data`` chain (sweeps when the dataroot
    has them, else keyframes), time-ordered: ``time_us`` (M,) int64, ``xy_m`` (M, 2), ``yaw_rad`` (M,)."""

    time_us: np.ndarray
    xy_m: np.ndarray
    yaw_rad: np.ndarray

    def states(self, times_us: Sequence[int]) -> list[EgoState]:
        """Ego states at chain times ``times_us`` (each must be a chain time).

        Speed (signed, along the heading), acceleration and yaw rate are second-order finite
        differences over the whole chain (``np.gradient`` with the real time stamps; one-sided at the
        ends); all zero for a single-pose chain.
        """
        idx = np.searchsorted(self.time_us, np.asarray(times_us, dtype=np.int64))
        if np.any(idx >= len(self.time_us)) or np.any(self.time_us[np.minimum(idx, len(self.time_us) - 1)] != times_us):
            raise DataError(f"EgoTrack.states: times {list(times_us)[:3]}... are not all on the LIDAR_TOP chain")
        speed, accel, yaw_rate = np.zeros((3, len(self.time_us)))
        if len(self.time_us) > 1:
            t_s = (self.time_us - self.time_us[0]) * 1e-6
            vx, vy = np.gradient(self.xy_m[:, 0], t_s), np.gradient(self.xy_m[:, 1], t_s)
            speed = vx * np.cos(self.yaw_rad) + vy * np.sin(self.yaw_rad)
            accel = np.gradient(speed, t_s)
            yaw_rate = np.gradient(np.unwrap(self.yaw_rad), t_s)
        return [
            EgoState(
                time_us=int(self.time_us[i]),
                x_m=float(self.xy_m[i, 0]),
                y_m=float(self.xy_m[i, 1]),
                yaw_rad=float(self.yaw_rad[i]),
                speed_mps=float(speed[i]),
                accel_mps2=float(accel[i]),
                yaw_rate_radps=float(yaw_rate[i]),
            )
            for i in idx
        ]


def ego_track(nusc: NuScenes, key_sd_token: str, scene_token: str) -> EgoTrack:
    """The ego track of the LIDAR_TOP chain through ``key_sd_token``, limited to rows of ``scene_token``."""
    first = get_row(nusc, "sample_data", key_sd_token, f"scene {scene_token}")
    rows = [first]
    for direction in ("prev", "next"):
        cur = first
        while cur[direction]:
            cur = get_row(nusc, "sample_data", cur[direction], f"sample_data {cur['token']}.{direction}")
            sample = get_row(nusc, "sample", cur["sample_token"], f"sample_data {cur['token']}")
            if sample["scene_token"] != scene_token:
                break
            rows.append(cur)
    rows.sort(key=lambda r: r["timestamp"])
    refs = [(r["ego_pose_token"], f"sample_data {r['token']}") for r in rows]
    poses = [pose_of(get_row(nusc, "ego_pose", token, ref), "ego_pose") for token, ref in refs]
    return EgoTrack(
        time_us=np.array([r["timestamp"] for r in rows], dtype=np.int64),
        xy_m=np.array([p.translation_m[:2] for p in poses], dtype=np.float64).reshape(-1, 2),
        yaw_rad=np.array([p.yaw_rad for p in poses], dtype=np.float64),
    )


def relative_xy_yaw(ego_from_world: Pose, world_from_others: Sequence[Pose]) -> np.ndarray:
    """(K, 3) float64 (x, y, yaw) of other ego poses in the ego frame given by ``ego_from_world``."""
    out = np.zeros((len(world_from_others), 3))
    for k, world_from_other in enumerate(world_from_others):
        rel = ego_from_world @ world_from_other
        out[k] = (rel.translation_m[0], rel.translation_m[1], rel.yaw_rad)
    return out


def logged_future(
    world_from_ego: Sequence[Pose], index: int, sampling: TrajectorySampling | None = None
) -> tuple[Trajectory, np.ndarray]:
    """Logged future of keyframe ``index``: the next ``sampling.num_poses`` keyframe ego poses (2 Hz)
    in its ego frame, and a (T,) bool validity mask (False past the scene's end).

    Invalid waypoints repeat the last valid one (the current pose when none is valid), so the
    trajectory stays finite; consumers must use the mask.
    """
    sampling = sampling or TrajectorySampling()
    ahead = list(world_from_ego[index + 1 : index + 1 + sampling.num_poses])
    valid = np.zeros(sampling.num_poses, dtype=bool)
    valid[: len(ahead)] = True
    poses = np.zeros((sampling.num_poses, 3))
    if ahead:
        poses[: len(ahead)] = relative_xy_yaw(world_from_ego[index].inverse(), ahead)
        poses[len(ahead) :] = poses[len(ahead) - 1]
    return Trajectory(poses, sampling), valid


def driving_command(future: Trajectory, valid: np.ndarray, threshold_m: float = 2.0) -> Command:
    """ST-P3 / UniAD command from the logged future's lateral offset at the horizon (METRICS.md).

    Our ego frame has y to the left, so y <= -threshold -> RIGHT, y >= threshold -> LEFT, else
    STRAIGHT. When the horizon waypoint is invalid (scene end) the last valid waypoint decides;
    with no valid waypoint the command is STRAIGHT.
    """
    if not np.any(valid):
        return Command.STRAIGHT
    lateral_m = future.poses[np.flatnonzero(valid)[-1], 1]
    if lateral_m <= -threshold_m:
        return Command.RIGHT
    if lateral_m >= threshold_m:
        return Command.LEFT
    return Command.STRAIGHT
