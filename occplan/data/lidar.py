"""LIDAR_TOP point clouds: reading ``.pcd.bin`` files, multi-sweep aggregation in the keyframe ego frame and
padding to the requested number of sweeps where fewer exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nuscenes.nuscenes import NuScenes

from occplan.data.tables import get_row, pose_of
from occplan.errors import DataError, ValidationError
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


def sweep_chain(nusc: NuScenes, key_sd_token: str, n_sweeps: int) -> list[dict]:
    """The keyframe's LIDAR_TOP ``sample_data`` row followed by up to ``n_sweeps - 1`` earlier sweeps.

    Earlier rows come from the ``prev`` chain. The walk stops at the start of the chain (the start of
    the log) and at a keyframe whose ``prev`` is directly another keyframe: no sweeps were recorded in
    between (as in an extract without ``sweeps/``). So at most ``n_sweeps`` rows, at least one.
    """
    if n_sweeps < 1:
        raise ValueError(f"n_sweeps: must be >= 1, got {n_sweeps}")
    rows = [get_row(nusc, "sample_data", key_sd_token, "LiDAR keyframe")]
    while len(rows) < n_sweeps and rows[-1]["prev"]:
        cur = rows[-1]
        prev = get_row(nusc, "sample_data", cur["prev"], f"sample_data {cur['token']}.prev")
        if cur["is_key_frame"] and prev["is_key_frame"]:
            break
        rows.append(prev)
    return rows


def pad_sweeps(sweep: LidarSweep, n_sweeps: int) -> LidarSweep:
    """``sweep`` with exactly ``n_sweeps`` sweeps: when it holds fewer, its earliest sweep (the last
    index) is repeated, each copy with its own ``sweep_index`` and a copy of that sweep's origin,
    points and time lags. A sweep with ``n_sweeps`` or more is returned as it is.

    This generalises the rule of the common multi-sweep loaders at the start of a log. mmdet3d's
    ``LoadPointsFromMultiSweeps`` (the same loader in BEVDet and BEVFusion) with ``pad_empty_sweeps``
    repeats the keyframe cloud as many times as sweeps were configured when no earlier sweep exists,
    and takes the sweeps that exist when there are some but fewer; its ``remove_close`` option drops
    the returns within 1 m of the sensor in both x and y from every sweep, those copies included.
    OpenOccupancy's LiDAR configs enable neither option and take the sweeps that exist. OccPlan
    always hands a model the number of sweeps it asked for, repeating the earliest sweep that exists
    (the keyframe itself at a log's first keyframe or in a dataroot without ``sweeps/``), and keeps
    every return of every sweep (no ``remove_close``), so the copies are exact. The keyframe sweep's
    points are those with ``sweep_index == 0``; copies of it have a zero time lag too.
    """
    have = len(sweep.origins_m)
    if have >= n_sweeps:
        return sweep
    if have == 0:
        raise ValidationError("pad_sweeps: the sweep holds no sweep to repeat")
    earliest = sweep.sweep_index == have - 1
    copies = n_sweeps - have
    n_points = int(np.count_nonzero(earliest))
    return LidarSweep(
        points=np.concatenate([sweep.points, np.tile(sweep.points[earliest], (copies, 1))]),
        time_lag_s=np.concatenate([sweep.time_lag_s, np.tile(sweep.time_lag_s[earliest], copies)]),
        origins_m=np.concatenate([sweep.origins_m, np.repeat(sweep.origins_m[-1:], copies, axis=0)]),
        sweep_index=np.concatenate([sweep.sweep_index, np.repeat(np.arange(have, n_sweeps, dtype=np.int16), n_points)]),
    )


def load_lidar(nusc: NuScenes, key_sd_token: str, ego_from_world: Pose, n_sweeps: int = 1) -> LidarSweep:
    """``n_sweeps`` LIDAR_TOP sweeps in the keyframe ego frame with ego-motion compensation.

    Each sweep's points go sensor -> its ego (calibrated_sensor) -> world (its ego_pose) -> keyframe
    ego (``ego_from_world``). ``time_lag_s`` = keyframe time - sweep time; ``origins_m`` are the sensor
    origins per sweep (keyframe first); ``sweep_index`` points into them. Where fewer than ``n_sweeps``
    sweeps exist (``sweep_chain``), the earliest one is repeated (``pad_sweeps``).
    """
    rows = sweep_chain(nusc, key_sd_token, n_sweeps)
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
    sweep = LidarSweep(
        points=np.concatenate(points),
        time_lag_s=np.concatenate(lags),
        origins_m=np.stack(origins),
        sweep_index=np.concatenate(index),
    )
    return pad_sweeps(sweep, n_sweeps)
