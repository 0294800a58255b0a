"""Flow of generated labels: voxels holding an object's points carry its box velocity; all others zero."""

from __future__ import annotations

import numpy as np

from occplan.labels.voxelise import voxel_keys
from occplan.types import AgentBox, GridSpec, Pose


def object_flow(
    points_m: np.ndarray, box_index: np.ndarray, boxes: tuple[AgentBox, ...], grid_from_ego: Pose, grid: GridSpec
) -> np.ndarray:
    """(X, Y, Z, 2) float32 m/s in the grid frame: the (vx, vy) of ``boxes`` (ego frame, as
    ``Frame.agents``) rotated into the grid frame, at the voxels of the object points ``points_m``
    (N, 3) grid frame, whose boxes are ``box_index`` (N,) int64."""
    flow = np.zeros((grid.num_voxels, 2), np.float32)
    if len(boxes) and len(points_m):
        vel = np.array([[*b.velocity_mps, 0.0] for b in boxes])
        vel_grid = grid_from_ego.transform_vectors(vel)[:, :2].astype(np.float32)
        keys, inside = voxel_keys(points_m, grid)
        flow[keys] = vel_grid[box_index[inside]]
    return flow.reshape(*grid.shape, 2)
