"""LIDAR_TOP point clouds: reading ``.pcd.bin`` files and multi-sweep aggregation in the keyframe ego frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nuscenes.nuscenes import NuScenes

from occplan.data.tables import get_row, pose_of
from occplan.errors import DataError
from occplan.types import LidarSweep, Pose

POINT_COLUMNS = 5  # x, y, z, intensity, ring
_POINT_BYTES = POINT_COLUMNS * 4


def read_pcd_bin(path: str | Path) -> np.ndarray:
    """Read a nuScenes ``.pcd.bin``: (N, 5) float32 x, y, z (m, sensor frame), intensity, ring.

    The devkit's ``LidarPointCloud`` drops the ring column, so the file is read directly.
    """
    p = Path(path)
    points = np.fromfile(p, dtype=np.float32, count=pcd_num_points(p) * POINT_COLUMNS).reshape(-1, POINT_COLUMNS)
    if not np.all(np.isfinite(points)):
        raise DataError(f"{p}: points hold {int(np.count_nonzero(~np.isfinite(points)))} non-finite values")
    return points


def pcd_num_points(path: str | Path) -> int:
    """Number of points of a ``.pcd.bin`` from its size; DataError when missing or not whole points."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: LiDAR file not found")
    size = p.stat().st_size
    if size % _POINT_BYTES:
        raise DataError(f"{p}: size {size} B is not a multiple of {_POINT_BYTES} B (5 float32 per point); truncated?")
    return size // _POINT_BYTES


def sweep_chain(nusc: NuScenes, key_sd_token: str, n_sweeps: int, allow_fewer: bool = False) -> list[dict]:
    """The keyframe's LIDAR_TOP ``sample_data`` row followed by up to ``n_sweeps - 1`` earlier sweeps.

    Earlier rows come from the ``prev`` chain. A keyframe whose ``prev`` is directly another keyframe
    has no sweeps recorded in between (as in an extract without ``sweeps/``), so the walk stops
    there; the walk also stops at the start of the chain. Fewer than ``n_sweeps`` rows is a DataError
    naming the sample and the missing count unless ``allow_fewer``.
    """
    if n_sweeps < 1:
        raise ValueError(f"n_sweeps: must be >= 1, got {n_sweeps}")
    rows = [get_row(nusc, "sample_data", key_sd_token, "LiDAR keyframe")]
    stop = ""
    while len(rows) < n_sweeps:
        cur = rows[-1]
        if not cur["prev"]:
            stop = "the sample_data chain starts there"
            break
        prev = get_row(nusc, "sample_data", cur["prev"], f"sample_data {cur['token']}.prev")
        if cur["is_key_frame"] and prev["is_key_frame"]:
            stop = f"keyframe {cur['token']} links directly to keyframe {prev['token']}: no sweeps recorded between"
            break
        rows.append(prev)
    if len(rows) < n_sweeps and not allow_fewer:
        sample = get_row(nusc, "sample", rows[0]["sample_token"], f"sample_data {key_sd_token}")
        scene = get_row(nusc, "scene", sample["scene_token"], f"sample {sample['token']}")
        raise DataError(
            f"{Path(nusc.dataroot)}: scene {scene['name']} sample {sample['token']}: asked for {n_sweeps} LIDAR_TOP "
            f"sweeps, only {len(rows)} exist ({n_sweeps - len(rows)} missing; {stop})"
        )
    return rows


def load_lidar(
    nusc: NuScenes, key_sd_token: str, ego_from_world: Pose, n_sweeps: int = 1, allow_fewer: bool = False
) -> LidarSweep:
    """Aggregate ``n_sweeps`` LIDAR_TOP sweeps into the keyframe ego frame with ego-motion compensation.

    Each sweep's points go sensor -> its ego (calibrated_sensor) -> world (its ego_pose) -> keyframe
    ego (``ego_from_world``). ``time_lag_s`` = keyframe time - sweep time; ``origins_m`` are the sensor
    origins per sweep (keyframe first); ``sweep_index`` points into them.
    """
    rows = sweep_chain(nusc, key_sd_token, n_sweeps, allow_fewer)
    key_time_us = rows[0]["timestamp"]
    points, lags, origins, index = [], [], [], []
    for i, row in enumerate(rows):
        ref = f"sample_data {row['token']}"
        cs = get_row(nusc, "calibrated_sensor", row["calibrated_sensor_token"], ref)
        pose = get_row(nusc, "ego_pose", row["ego_pose_token"], ref)
        ego_from_sensor = ego_from_world @ pose_of(pose, "ego_pose") @ pose_of(cs, "calibrated_sensor")
        raw = read_pcd_bin(Path(nusc.dataroot) / row["filename"])
        xyz = ego_from_sensor.transform_points(raw).astype(np.float32)
        points.append(np.concatenate([xyz, raw[:, 3:]], axis=1))
        lags.append(np.full(len(raw), (key_time_us - row["timestamp"]) * 1e-6, dtype=np.float32))
        origins.append(ego_from_sensor.translation_m)
        index.append(np.full(len(raw), i, dtype=np.int16))
    return LidarSweep(
        points=np.concatenate(points),
        time_lag_s=np.concatenate(lags),
        origins_m=np.stack(origins),
        sweep_index=np.concatenate(index),
    )
