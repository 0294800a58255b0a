"""Sensor and label files of a nuScenes-format dataroot, byte-deterministic.

Paths are relative to the dataroot, as the ``filename`` fields of the tables hold them:

- LiDAR ``samples|sweeps/LIDAR_TOP/<log>__LIDAR_TOP__<t_us>.pcd.bin``: (N, 5) float32 x y z intensity ring,
  LiDAR sensor frame (the nuScenes ``.pcd.bin`` layout).
- Camera ``samples/<CAM>/<log>__<CAM>__<t_us>.jpg``: RGB JPEG.
- Camera semantics (an OccPlan extra) ``semantic/<CAM>/<log>__<CAM>__<t_us>.png``: 8-bit greyscale PNG of
  the nuScenes-lidarseg general class of each pixel (same size as the JPEG).
- lidarseg ``lidarseg/<version>/<lidar sample_data token>_lidarseg.bin``: (N,) uint8 general classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from occplan.errors import ValidationError
from occplan.types._check import check_array

JPEG_QUALITY = 92


def sensor_filename(folder: str, logfile: str, channel: str, time_us: int, ext: str) -> str:
    """``<folder>/<channel>/<logfile>__<channel>__<time_us>.<ext>`` (folder: samples, sweeps or semantic)."""
    return f"{folder}/{channel}/{logfile}__{channel}__{int(time_us)}.{ext}"


def semantic_filename(camera_filename: str) -> str:
    """The semantic PNG path that goes with a camera JPEG path (``samples/<CAM>/x.jpg`` -> ``semantic/<CAM>/x.png``)."""
    p = Path(camera_filename)
    return f"semantic/{p.parent.name}/{p.stem}.png"


def lidarseg_filename(version: str, lidar_sd_token: str) -> str:
    return f"lidarseg/{version}/{lidar_sd_token}_lidarseg.bin"


def _target(dataroot: Path, rel: str) -> Path:
    path = dataroot / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_pcd_bin(dataroot: Path, rel: str, points: np.ndarray) -> None:
    """Write (N, 5) float32 points as ``.pcd.bin``."""
    check_array(points, f"{rel}: points", (None, 5), np.float32, finite=True)
    _target(dataroot, rel).write_bytes(np.ascontiguousarray(points).tobytes())


def write_lidarseg_bin(dataroot: Path, rel: str, labels: np.ndarray, num_points: int) -> None:
    """Write (N,) uint8 general labels; N must match the LiDAR file's point count."""
    check_array(labels, f"{rel}: labels", (num_points,), np.uint8)
    if labels.size and labels.max() >= 32:
        raise ValidationError(f"{rel}: lidarseg label {int(labels.max())} >= 32")
    _target(dataroot, rel).write_bytes(labels.tobytes())


def write_jpeg(dataroot: Path, rel: str, rgb: np.ndarray) -> None:
    check_array(rgb, f"{rel}: image", (None, None, 3), np.uint8)
    Image.fromarray(rgb, mode="RGB").save(_target(dataroot, rel), format="JPEG", quality=JPEG_QUALITY)


def write_semantic_png(dataroot: Path, rel: str, semantic: np.ndarray) -> None:
    check_array(semantic, f"{rel}: semantic", (None, None), np.uint8)
    Image.fromarray(semantic, mode="L").save(_target(dataroot, rel), format="PNG")
