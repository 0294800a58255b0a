"""``python -m occplan.bench labels --data D [--version V] [--scene S] [--keyframes N] [--sweeps N|all]
[--degraded]``: seconds per keyframe of the label pipeline (``occplan.labels``), masks included.

Figures: the scene's one-off cost (read its sweeps, split them by boxes, pool the static points), the
median seconds per keyframe (voxelise, densify, place objects, flow, ``mask_lidar``, ``mask_camera``)
and the total per keyframe with the one-off cost shared over the scene's keyframes, each as wall time
and as this process's CPU time (the figure that holds on a shared machine), plus the numba thread
count (run with ``NUMBA_NUM_THREADS=1`` for one core). Nothing is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numba
import numpy as np

from occplan.data import NuScenesSource
from occplan.data.dataroot import resolve_dataroot
from occplan.labels import LabelConfig, SceneLabeller


def run(args: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m occplan.bench labels")
    parser.add_argument(
        "--data", "--dataroot", dest="dataroot", type=Path, required=True, help="nuScenes-format dataroot"
    )
    parser.add_argument("--version", default=None)
    parser.add_argument("--scene", default=None, help="default: the dataroot's first scene")
    parser.add_argument("--keyframes", type=int, default=0, help="time only the first N keyframes (0 = all)")
    parser.add_argument("--sweeps", default="all", help="sweeps per keyframe: N or all")
    parser.add_argument("--degraded", action="store_true")
    ns = parser.parse_args(args)
    source = NuScenesSource(*resolve_dataroot(ns.dataroot, ns.version))
    scene = ns.scene or source.scene_names()[0]
    config = LabelConfig(sweeps=None if ns.sweeps == "all" else int(ns.sweeps), degraded=ns.degraded)
    source.scenario(scene)  # table reads are not the pipeline's

    t0, c0 = time.perf_counter(), time.process_time()
    labeller = SceneLabeller(source, scene, config)
    setup_s, setup_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    n_frames = len(labeller.scenario.frames)
    labeller.keyframe(0)  # compiles the kernels on a cold numba cache
    times, cpu = [], []
    for k in range(min(ns.keyframes or n_frames, n_frames)):
        t0, c0 = time.perf_counter(), time.process_time()
        labeller.keyframe(k)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    per_keyframe, per_keyframe_cpu = float(np.median(times)), float(np.median(cpu))
    return {
        "dataroot": str(source.dataroot),
        "scene": scene,
        "config": config.tag,
        "grid": config.grid.name,
        "numba_threads": numba.get_num_threads(),
        "sweeps_read": int(labeller.sweeps.num_sweeps),
        "points": len(labeller.sweeps.points_m),
        "keyframes_in_scene": n_frames,
        "keyframes_timed": len(times),
        "scene_setup_s": round(setup_s, 2),
        "keyframe_s_median": round(per_keyframe, 3),
        "keyframe_s_with_setup": round(per_keyframe + setup_s / n_frames, 3),
        "scene_setup_cpu_s": round(setup_cpu_s, 2),
        "keyframe_cpu_s_median": round(per_keyframe_cpu, 3),
        "keyframe_cpu_s_with_setup": round(per_keyframe_cpu + setup_cpu_s / n_frames, 3),
    }
