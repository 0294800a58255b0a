"""``python -m occplan.bench data [--data D] [--version V] [--scenes N]``: data-layer load times.

Figures: time to open the tables, scenario build time per keyframe (poses, cameras, boxes, ego
history/future, map), and LiDAR load time per keyframe with 1 and 10 sweeps (10 only where the
dataroot has sweeps; otherwise reported as unavailable with the reason).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from occplan.data import NuScenesSource
from occplan.data.lidar import sweep_chain
from occplan.errors import DataError

REAL_MINI = Path(
    os.environ.get(
        "OCCPLAN_REAL_MINI", Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nuscenes-real-mini"
    )
)


def run(args: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m occplan.bench data")
    parser.add_argument(
        "--data",
        "--dataroot",
        dest="dataroot",
        type=Path,
        default=REAL_MINI,
        help="default: the real extract beside the repo",
    )
    parser.add_argument("--version", default="v1.0-mini")
    parser.add_argument("--scenes", type=int, default=0, help="limit to the first N scenes (0 = all)")
    ns = parser.parse_args(args)

    t0 = time.perf_counter()
    source = NuScenesSource(ns.dataroot, ns.version)
    open_s = time.perf_counter() - t0
    names = source.scene_names()[: ns.scenes or None]

    t0 = time.perf_counter()
    frames = [f for name in names for f in source.scenario(name).frames]
    scenario_ms = (time.perf_counter() - t0) * 1e3 / len(frames)

    result = {
        "dataroot": str(ns.dataroot),
        "version": ns.version,
        "scenes": len(names),
        "keyframes": len(frames),
        "open_tables_s": round(open_s, 3),
        "scenario_ms_per_keyframe": round(scenario_ms, 2),
    }
    for n_sweeps in (1, 10):
        key = f"lidar_{n_sweeps}_sweeps"
        try:
            times_ms, points = _lidar_times(source, frames, n_sweeps)
        except DataError as e:
            result[f"{key}_ms_per_keyframe"] = f"unavailable: {e}"
            continue
        result[f"{key}_ms_per_keyframe"] = round(float(np.median(times_ms)), 2)
        result[f"{key}_points_median"] = int(np.median(points))
        result[f"keyframe_{n_sweeps}_sweeps_ms"] = round(scenario_ms + float(np.median(times_ms)), 2)
    return result


def _lidar_times(source: NuScenesSource, frames: list, n_sweeps: int) -> tuple[list[float], list[int]]:
    """Per-keyframe LiDAR load times (ms) and point counts over the keyframes that have ``n_sweeps``
    recorded sweeps (padded loads at the start of each scene are skipped); DataError when none has."""
    times_ms, points = [], []
    for frame in frames:
        if len(sweep_chain(source.nusc, frame.lidar_token, n_sweeps)) < n_sweeps:
            continue
        t0 = time.perf_counter()
        sweep = source.lidar(frame, n_sweeps)
        times_ms.append((time.perf_counter() - t0) * 1e3)
        points.append(sweep.num_points)
    if not times_ms:
        raise DataError(f"{source.dataroot}: no keyframe has {n_sweeps} LIDAR_TOP sweeps recorded")
    return times_ms, points
