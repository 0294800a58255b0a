"""``python -m occplan.bench metrics [--frames N] [--ray-samples N] [--occ3d-sample PATH]``.

Figures, on Occ3D-size frames (200x200x16; the real Occ3D sample ``labels.npz`` when present beside
the repo, else a synthetic street scene), measured side by side in one run:

* ``occ/miou`` compute-only frames/s: the numba accumulator (camera mask, and all three mask
  variants) and the reference-style path (CVPR2023 ``Metric_mIoU``: boolean indexing + bincount);
* RayIoU samples/s (prediction + GT, 8 origins x 14,040 rays, counting included): the parallel
  early-exit numba walk and the reference-style path (single-thread numba walk recording the full
  path per ray, as the CUDA kernel does, then numpy counting as ``calc_rayiou``).

The one-minute load average is reported with the figures: the machine may be shared. Each figure
also comes per CPU second of this process (single-thread runs), which a busy machine distorts
much less than wall time; on two idle cores the parallel RayIoU walk approaches twice its
single-thread per-CPU-second rate.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from occplan.metrics.confusion import confusion_bincount, iou_per_class
from occplan.metrics.occupancy import OccupancyMetric, OccupancyMetricConfig
from occplan.metrics.rayiou import (
    RayIoUMetric,
    lidar_ray_directions,
    to_voxel_units,
    trace_reference_all,
)
from occplan.types import GridSpec, LabelSet

OCC3D_SAMPLE = (
    Path(
        os.environ.get(
            "OCCPLAN_REAL_MINI", Path(__file__).resolve().parents[2].parent / "shared/data/nuscenes-real-mini"
        )
    )
    / "extras/occ3d_sample/29796060110c4163b07f06eff4af0753/labels.npz"
)
LIDAR_MOUNT_M = np.array([0.9858, 0.0, 1.8402])


def _synthetic_frame(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A street: ground at z index 2 (road / sidewalk / terrain), buildings, trees, cars; masks."""
    sem = np.full((200, 200, 16), 17, dtype=np.uint8)
    y = np.arange(200)
    sem[:, :, 2] = np.where(np.abs(y - 100) < 20, 11, np.where(np.abs(y - 100) < 30, 13, 14))[None, :]
    sem[:, :45, 3:12] = 15
    sem[:, 160:, 3:10] = 16
    for _ in range(25):
        x0, y0 = rng.integers(0, 190), rng.integers(80, 115)
        sem[x0 : x0 + 10, y0 : y0 + 5, 3:7] = 4
    lidar = np.zeros_like(sem, dtype=bool)
    lidar[:, :, :8] = rng.random((200, 200, 8)) < 0.15
    lidar |= sem != 17
    camera = lidar & (rng.random(sem.shape) < 0.75)
    return sem, camera.astype(np.uint8), lidar.astype(np.uint8)


def _rate(fn: Callable[[int], None], n: int) -> tuple[float, float]:
    """(calls per wall second, calls per CPU second of this process) after one warm-up call."""
    fn(0)  # warm-up (numba compile / caches)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def _reference_rayiou_sample(gt: np.ndarray, pred: np.ndarray, origins: np.ndarray, grid: GridSpec) -> tuple:
    """Reference-style RayIoU of one sample: single-thread full-path walk + calc_rayiou counting."""
    dirs = lidar_ray_directions()
    ov = to_voxel_units(origins, grid)
    ev = to_voxel_units(origins[:, None, :] + dirs[None].astype(np.float64), grid)
    recs = []
    for sem in (gt, pred):
        occ = (sem != 17).reshape(-1).view(np.uint8)
        d = np.empty((len(origins), len(dirs)), dtype=np.float32)
        c = np.empty((len(origins), len(dirs), 3), dtype=np.int64)
        trace_reference_all(occ, np.asarray(grid.shape), ov, ev, d, c)
        c = c.reshape(-1, 3)
        recs.append(np.stack([sem[c[:, 0], c[:, 1], c[:, 2]].astype(np.float32), d.reshape(-1) * np.float32(0.4)], 1))
    g, p = recs
    valid = g[:, 0] != 17
    g, p = g[valid], p[valid]
    tp = np.zeros((3, 18))
    for j, thr in enumerate((1, 2, 4)):
        close = np.abs(p[:, 1] - g[:, 1]) < thr
        for c in range(18):
            tp[j, c] += np.sum((g[:, 0] == c) & (p[:, 0] == c) & close)
    return tp


def run(args: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m occplan.bench metrics")
    parser.add_argument("--frames", type=int, default=300, help="frames timed per mIoU path")
    parser.add_argument("--ray-samples", type=int, default=30, help="samples timed for the fast RayIoU path")
    parser.add_argument("--ref-ray-samples", type=int, default=3, help="samples timed for the reference path")
    parser.add_argument("--occ3d-sample", type=Path, default=OCC3D_SAMPLE)
    ns = parser.parse_args(args)

    rng = np.random.default_rng(0)
    if ns.occ3d_sample.is_file():
        with np.load(ns.occ3d_sample, allow_pickle=False) as z:
            gt, cam, lidar = z["semantics"], z["mask_camera"], z["mask_lidar"]
        source = "real Occ3D sample"
    else:
        gt, cam, lidar = _synthetic_frame(rng)
        source = "synthetic street"
    preds = [np.roll(gt, s, axis=0) for s in (1, -1, 2)]
    cam_bool, lidar_bool = cam.astype(bool), lidar.astype(bool)

    camera_only = OccupancyMetric(OccupancyMetricConfig(masks=("camera",)))
    all_masks = OccupancyMetric()
    hist = np.zeros((18, 18), dtype=np.int64)

    def reference_miou(i: int) -> None:  # CVPR2023 evaluate_miou per sample
        hist[:] += confusion_bincount(gt, preds[i % 3], 18, cam_bool)

    fast, fast_cpu = _rate(lambda i: camera_only.update_arrays(gt, preds[i % 3], cam_bool), ns.frames)
    fast_all, _ = _rate(lambda i: all_masks.update_arrays(gt, preds[i % 3], cam_bool, lidar_bool), ns.frames)
    ref, ref_cpu = _rate(reference_miou, ns.frames)
    miou_fast = camera_only.compute()["occ/miou"]
    miou_ref = float(np.nanmean(np.delete(iou_per_class(hist), 17)) * 100)

    grid = GridSpec.occ3d_nuscenes()
    origins = LIDAR_MOUNT_M + np.array([[x, 0.3 * x, 0.0] for x in (-28.0, -20.0, -12.0, -4.0, 0.0, 8.0, 16.0, 24.0)])
    ray_metric = RayIoUMetric()
    threads = numba.get_num_threads()
    ray_fast, _ = _rate(lambda i: ray_metric.update_arrays(gt, preds[i % 3], origins), ns.ray_samples)
    numba.set_num_threads(1)
    _, ray_fast_cpu = _rate(lambda i: ray_metric.update_arrays(gt, preds[i % 3], origins), ns.ray_samples)
    numba.set_num_threads(threads)
    ray_ref, ray_ref_cpu = _rate(
        lambda i: _reference_rayiou_sample(gt, preds[i % 3], origins, grid), ns.ref_ray_samples
    )
    one = RayIoUMetric()
    one.update_arrays(gt, preds[0], origins)
    tp_ref = _reference_rayiou_sample(gt, preds[0], origins, grid)
    agree = bool(np.array_equal(one.tp_count, tp_ref.astype(np.int64)))

    return {
        "frame_source": source,
        "grid": list(grid.shape),
        "labels": LabelSet.occ3d().name,
        "numba_threads": threads,
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "occ_miou_fps_numba_camera_mask": round(fast, 1),
        "occ_miou_fps_numba_camera_mask_per_cpu_s": round(fast_cpu, 1),
        "occ_miou_fps_numba_all_three_masks": round(fast_all, 1),
        "occ_miou_fps_reference_bincount": round(ref, 1),
        "occ_miou_fps_reference_bincount_per_cpu_s": round(ref_cpu, 1),
        "occ_miou_speedup": round(fast / ref, 2),
        "occ_miou_paths_agree": bool(np.isclose(miou_fast, miou_ref)),
        "rayiou_samples_per_s_numba_parallel": round(ray_fast, 2),
        "rayiou_samples_per_cpu_s_numba_1_thread": round(ray_fast_cpu, 2),
        "rayiou_samples_per_s_reference_single_thread": round(ray_ref, 2),
        "rayiou_samples_per_cpu_s_reference": round(ray_ref_cpu, 2),
        "rayiou_speedup": round(ray_fast / ray_ref, 2),
        "rayiou_rays_per_sample": int(len(origins) * len(lidar_ray_directions())),
        "rayiou_paths_agree": agree,
    }
