"""Occ3D visibility masks of generated labels, cast with the generator's voxel traversal.

- ``mask_lidar``: voxels that LiDAR rays pass through or end in, from each sweep's origin through its
  returns, for the keyframe sweep and the sweeps at the generator's 20 Hz offsets around it
  (``OccupancyConfig.mask_lidar_sweep_offsets``; sweeps that do not exist are skipped).
- ``mask_camera``: voxels of ``mask_lidar`` that the six cameras' pixel rays (at the generator's
  ``mask_camera_size_px``) pass through or end in, each ray stopping in the first occupied voxel of
  the labels themselves (or leaving the grid).
"""

from __future__ import annotations

import numpy as np

from occplan.metrics.rayiou import cast_rays
from occplan.types import CameraFrame, GridSpec, LabelSet, Pose
from occplan.world.camera import pixel_rays
from occplan.world.voxel_traversal import mark_segments

SWEEP_PERIOD_US = 50_000  # LIDAR_TOP at 20 Hz
_END_INSIDE_M = 1e-3  # a camera ray ends this far inside the exit face of the voxel it stops in


def mask_sweeps(times_us: np.ndarray, key_time_us: int, offsets: tuple[int, ...]) -> np.ndarray:
    """Indices of the sweeps (``times_us`` (S,) sorted) nearest to ``key_time_us + k * 50 ms`` for each
    offset k, kept when within half a sweep period (distinct, ascending)."""
    want = key_time_us + np.asarray(offsets, np.int64) * SWEEP_PERIOD_US
    near = np.clip(np.searchsorted(times_us, want), 1, max(len(times_us) - 1, 1))
    near = np.where(np.abs(times_us[near - 1] - want) <= np.abs(times_us[near] - want), near - 1, near)
    near = near[np.abs(times_us[near] - want) <= SWEEP_PERIOD_US // 2]
    return np.unique(near)


def lidar_mask(origins_m: list[np.ndarray], points_m: list[np.ndarray], grid: GridSpec) -> np.ndarray:
    """(X, Y, Z) bool: voxels crossed by the segments from each sweep's origin (3,) to its returns
    (N, 3), all in the grid frame."""
    out = np.zeros(grid.shape, np.bool_)
    for origin, points in zip(origins_m, points_m, strict=True):
        if len(points):
            mark_segments(np.asarray(origin, np.float64)[None], points, grid, out)
    return out


def camera_rays(
    camera: CameraFrame, width_px: int, height_px: int, grid_from_ego: Pose
) -> tuple[np.ndarray, np.ndarray]:
    """(origin (3,), unit directions (H * W, 3)) in the grid frame of ``camera``'s pixel rays at
    ``width_px`` x ``height_px`` (its intrinsics scaled from the image size)."""
    scale = np.diag([width_px / camera.width_px, height_px / camera.height_px, 1.0])
    grid_from_cam = grid_from_ego @ camera.ego_from_cam
    dirs = grid_from_cam.transform_vectors(pixel_rays(scale @ camera.intrinsics, width_px, height_px))
    return grid_from_cam.translation_m, dirs


def camera_mask(
    semantics: np.ndarray,
    cameras: tuple[CameraFrame, ...],
    grid_from_ego: Pose,
    grid: GridSpec,
    size_px: tuple[int, int],
) -> np.ndarray:
    """(X, Y, Z) bool: voxels the cameras' pixel rays pass through up to and including the first
    occupied voxel of ``semantics`` (X, Y, Z) uint8 Occ3D (to the grid's edge when none)."""
    out = np.zeros(grid.shape, np.bool_)
    for camera in cameras:
        origin, dirs = camera_rays(camera, *size_px, grid_from_ego)
        rec = cast_rays([semantics], origin[None], grid, LabelSet.occ3d(), directions=dirs.astype(np.float32))[0]
        entered = rec.dist_m > 0
        ends = origin + dirs[entered] * (rec.dist_m[entered, None].astype(np.float64) - _END_INSIDE_M)
        mark_segments(origin[None], ends, grid, out)
    return out
