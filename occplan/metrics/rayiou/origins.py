"""RayIoU ray origins and directions (SparseOcc ``loaders/ego_pose_dataset.py`` and ``ray_metrics.py``):

* origins: LiDAR positions of the scene's keyframes (past and future, the sample itself included)
  in the sample's LiDAR frame rounded to float32, then in its ego frame, kept if ``|x|, |y| < 39`` m,
  at most 8 by ``round(linspace)``;
* 39 pitches x 360 azimuths = 14,040 float32 unit directions per origin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np

from occplan.types import Pose, Scenario
from occplan.types._check import check_array

MAX_ORIGINS = 8
ORIGIN_RANGE_XY_M = 39.0


@cache
def _directions() -> np.ndarray:
    pitch = [-(math.pi / 2 - math.atan(k + 1)) for k in range(10)]
    while pitch[-1] < 0.21:
        pitch.append(pitch[-1] + (pitch[-1] - pitch[-2]))
    p = np.asarray(pitch, dtype=np.float64)[:, None]
    a = np.deg2rad(np.arange(0, 360, 1))[None, :]
    dirs = np.stack([np.cos(p) * np.cos(a), np.cos(p) * np.sin(a), np.broadcast_to(np.sin(p), (len(pitch), 360))], -1)
    out = dirs.reshape(-1, 3).astype(np.float32)
    out.flags.writeable = False
    return out


def lidar_ray_directions() -> np.ndarray:
    """(14040, 3) float32 unit directions (39 pitches x 360 azimuths, pitch-major), SparseOcc §3.3."""
    return _directions()


def rayiou_origins(
    world_from_ego_ref: Pose,
    ego_from_lidar_ref: Pose,
    lidar_world_positions_m: np.ndarray,
    ref_index: int | None = None,
    max_origins: int = MAX_ORIGINS,
    range_xy_m: float = ORIGIN_RANGE_XY_M,
) -> np.ndarray:
    """Ray origins (T, 3) float64 in the reference sample's ego frame (SparseOcc ``EgoPoseDataset``).

    ``lidar_world_positions_m`` (K, 3): world positions of the LiDAR at every keyframe of the
    scene, in time order; ``ref_index`` marks the reference keyframe, whose origin is exactly the
    LiDAR mounting point (0 in its own LiDAR frame), as in the reference. As the reference does, each
    keyframe's position in the reference LiDAR frame (translation of ``inv(world_from_ego @
    ego_from_lidar) . world_from_lidar_k``) is rounded to float32, then padded with 1 and mapped to
    the ego frame by the (3, 4) float64 ``ego_from_lidar`` matrix, one keyframe at a time.
    """
    pos = check_array(np.asarray(lidar_world_positions_m, dtype=np.float64), "lidar_world_positions_m", (None, 3))
    lidar_from_world = np.linalg.inv(world_from_ego_ref.matrix @ ego_from_lidar_ref.matrix)
    homogeneous = np.column_stack([pos, np.ones(len(pos))])
    in_lidar = (homogeneous @ lidar_from_world[:3].T).astype(np.float32)
    if ref_index is not None:
        in_lidar[ref_index] = 0.0
    ego_from_lidar = ego_from_lidar_ref.matrix[:3]
    padded = np.ones(4)
    origins = np.empty((len(pos), 3))
    for k, p in enumerate(in_lidar):
        padded[:3] = p
        origins[k] = np.dot(ego_from_lidar, padded)
    keep = (np.abs(origins[:, 0]) < range_xy_m) & (np.abs(origins[:, 1]) < range_xy_m)
    origins = origins[keep]
    if len(origins) > max_origins:
        origins = origins[np.round(np.linspace(0, len(origins) - 1, max_origins)).astype(np.int64)]
    return origins


def lidar_world_positions(frames: Sequence) -> np.ndarray:
    """(K, 3) float64 world positions of the LiDAR at keyframes that carry ``world_from_ego`` and
    ``ego_from_lidar`` poses (``Frame`` or any object with both), in their order."""
    return np.stack([(f.world_from_ego @ f.ego_from_lidar).translation_m for f in frames])


def scenario_rayiou_origins(scenario: Scenario, index: int) -> np.ndarray:
    """``rayiou_origins`` for keyframe ``index`` of ``scenario`` (frames carry the poses)."""
    ref = scenario.frames[index]
    return rayiou_origins(ref.world_from_ego, ref.ego_from_lidar, lidar_world_positions(scenario.frames), index)
