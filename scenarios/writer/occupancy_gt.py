"""Occ3D-format occupancy ground truth: ``gts/<scene_name>/<sample_token>/labels.npz``.

Keys (as Occ3D-nuScenes, plus OpenOcc-v2-style flow): ``semantics`` (200, 200, 16) uint8 Occ3D labels
(17 = free), ``mask_lidar`` / ``mask_camera`` (200, 200, 16) uint8 0/1, ``flow`` (200, 200, 16, 2) float32
m/s in the ego frame of the keyframe. Grid: ``GridSpec.occ3d_nuscenes()`` indexed [x, y, z].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from occplan.errors import ValidationError
from occplan.types import GridSpec, LabelSet, OccupancyFrame


def occupancy_filename(scene_name: str, sample_token: str) -> str:
    return f"gts/{scene_name}/{sample_token}/labels.npz"


def write_occ3d(dataroot: Path, rel: str, occ: OccupancyFrame) -> None:
    """Write one keyframe's GT. Requires the Occ3D grid and labels, both masks and flow."""
    occ.validate()
    GridSpec.occ3d_nuscenes().require(occ.grid, f"{rel}: grid")
    LabelSet.occ3d().require(occ.labels, f"{rel}: labels")
    if occ.flow is None or occ.mask_lidar is None or occ.mask_camera is None:
        raise ValidationError(f"{rel}: OccupancyFrame needs flow, mask_lidar and mask_camera to be written")
    path = dataroot / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        semantics=occ.semantics,
        mask_lidar=occ.mask_lidar.astype(np.uint8),
        mask_camera=occ.mask_camera.astype(np.uint8),
        flow=occ.flow,
    )
