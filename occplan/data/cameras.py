"""Camera frames of a keyframe: intrinsics, extrinsics into the keyframe ego frame, lazy images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nuscenes.nuscenes import NuScenes

from occplan.data.tables import get_row, pose_of
from occplan.errors import DataError
from occplan.types import CAMERA_CHANNELS, CameraFrame, Pose


def camera_frames(nusc: NuScenes, sample: dict, ego_from_world: Pose) -> tuple[CameraFrame, ...]:
    """The sample's cameras (``CAMERA_CHANNELS`` order, those present) with lazily loaded images.

    ``ego_from_cam`` maps the camera frame at the image's timestamp into the keyframe ego frame
    (``ego_from_world``): keyframe_ego <- world <- ego at image time <- camera. The ego motion between
    the LiDAR and camera timestamps is thereby compensated, as in the devkit's ``map_pointcloud_to_image``.
    """
    frames = []
    for channel in CAMERA_CHANNELS:
        if channel not in sample["data"]:
            continue
        sd = get_row(nusc, "sample_data", sample["data"][channel], f"sample {sample['token']} {channel}")
        ref = f"sample_data {sd['token']}"
        cs = get_row(nusc, "calibrated_sensor", sd["calibrated_sensor_token"], ref)
        pose = get_row(nusc, "ego_pose", sd["ego_pose_token"], ref)
        intrinsics = np.asarray(cs.get("camera_intrinsic") or [], dtype=np.float64)
        if intrinsics.shape != (3, 3) or sd["width"] <= 0 or sd["height"] <= 0:
            raise DataError(
                f"{Path(nusc.dataroot) / nusc.version / 'calibrated_sensor.json'}: {channel} row {cs['token']}: "
                f"camera_intrinsic must be 3x3 and the image size positive (got {intrinsics.shape}, "
                f"{sd['width']}x{sd['height']})"
            )
        frames.append(
            CameraFrame(
                channel=channel,
                intrinsics=intrinsics,
                ego_from_cam=ego_from_world @ pose_of(pose, "ego_pose") @ pose_of(cs, "calibrated_sensor"),
                width_px=int(sd["width"]),
                height_px=int(sd["height"]),
                image_path=str(Path(nusc.dataroot) / sd["filename"]),
            )
        )
    return tuple(frames)
