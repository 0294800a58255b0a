"""``python -m occplan.bench evaluate --data ROOT [--pred-dir DIR] [--split S] [--workers N] [--full-val N]``.

End-to-end figures of the standalone evaluator (``python -m occplan.evaluate``, each run a fresh
process: imports, tables, scenarios, decoding of the GT and prediction files, mIoU with its three
mask variants, RayIoU, flow mAVE), measured side by side in one run:

* ``plain``: the reference-style path: one sample after the other, GT and prediction cast together
  along all 8 x 14,040 rays (numba-parallel walk), no cache (``--workers 1 --no-cache``);
* ``cold``: ``--workers N`` sample threads with an empty RayIoU GT cache (the run fills it);
* ``warm``: the same with the cache filled: the GT rays are read, the prediction is cast along the
  counted GT rays only.

Each mode reports wall seconds, CPU seconds of the process (user + system), samples per wall second
and per CPU second, end to end and after the start-up (a process that only imports the evaluator and
opens the dataroot's tables, timed in the same run), the one-minute load average before and after
(the machine may be shared: wall rates fall with load, CPU rates much less), and the projected wall
time of full nuScenes val (``--full-val`` keyframes, 6,019): this start-up plus the keyframes at the
after-start-up rate (the trainval tables take longer to open than a small dataroot's). Beside the
measured figures, a projection for the same machine idle: the scoring threads are CPU-bound and
release the GIL in decoding, walking and counting, so each of ``min(workers, cpus)`` of them is
taken to keep a core busy (the ``plain`` mode one; its numba-parallel walk is not counted): samples
per second = that many cores x samples per CPU second after the start-up, and full val = the
start-up's CPU seconds plus the keyframes at that rate. The three
results must agree on every metric key (``results_identical``). Without ``--pred-dir``, predictions
are written first (not timed): the GT shifted one voxel along x with a block relabelled, flow x 0.9
(imperfect, so every count is exercised).
Numba kernels are compiled (and cached) in this process before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from occplan.data import NuScenesSource
from occplan.data.dataroot import resolve_dataroot
from occplan.evaluate import DEFAULT_WORKERS, evaluate

FULL_VAL_KEYFRAMES = 6019
"""Keyframes of nuScenes v1.0-trainval val (150 scenes)."""
NOT_METRICS = ("rayiou_gt_cache", "data")
STARTUP = (
    "import sys; import occplan.evaluate; from occplan.data import NuScenesSource; "
    "NuScenesSource(sys.argv[1], sys.argv[2])"
)
"""What every evaluator process does before scoring: imports and the dataroot's tables."""


def write_predictions(source: NuScenesSource, folder: Path, split: str | None) -> int:
    """Imperfect predictions from the GT of every keyframe of ``split``: shifted one voxel along x, a
    20 x 20 x 2 block relabelled car, flow shifted likewise and scaled by 0.9. Returns their count."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for name in source.scene_names(split):
        for frame in source.scenario(name).frames:
            gt = source.occupancy(frame)
            if gt is None:
                continue
            pred = np.roll(gt.semantics, 1, axis=0)
            pred[90:110, 90:110, 4:6] = 4
            extra = {} if gt.flow is None else {"flow": np.roll(gt.flow, 1, axis=0) * np.float32(0.9)}
            np.savez_compressed(folder / f"{frame.sample_token}.npz", pred=pred, **extra)
            n += 1
    return n


def _warm_up(source: NuScenesSource, pred_dir: Path, split: str | None, workers: int) -> None:
    """Compile every kernel of both paths (numba caches them on disk) on the first two predictions."""
    with tempfile.TemporaryDirectory() as tmp:
        few = Path(tmp) / "pred"
        few.mkdir()
        for p in sorted(pred_dir.glob("*.npz"))[:2]:
            (few / p.name).symlink_to(p.resolve())
        evaluate(source, few, allow_missing=True, split=split, workers=1, cache_dir=None)
        for _ in range(2):
            evaluate(source, few, allow_missing=True, split=split, workers=workers, cache_dir=Path(tmp) / "cache")


def _timed(command: list[str]) -> dict:
    """Wall and CPU seconds (user + system) of one child process, with the load before and after."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load_before": load, "load_after": os.getloadavg()[0]}


def _run(args: list[str], out: Path) -> tuple[dict, dict]:
    """One ``python -m occplan.evaluate`` process: its ``_timed`` figures and its JSON result."""
    figures = _timed([sys.executable, "-m", "occplan.evaluate", *args, "--out", str(out)])
    return figures, json.loads(out.read_text())


def run(args: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m occplan.bench evaluate")
    parser.add_argument("--data", required=True, help="nuScenes-format dataroot with occupancy GT")
    parser.add_argument("--version", default=None)
    parser.add_argument("--pred-dir", type=Path, default=None, help="predictions (default: written from the GT)")
    parser.add_argument("--split", default=None)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--full-val", type=int, default=FULL_VAL_KEYFRAMES, help="keyframes of the projection")
    ns = parser.parse_args(args)

    root, version = resolve_dataroot(ns.data, ns.version)
    source = NuScenesSource(root, version)
    with tempfile.TemporaryDirectory(prefix="occplan-bench-evaluate-") as tmp:
        tmp_dir = Path(tmp)
        pred_dir = ns.pred_dir
        if pred_dir is None:
            pred_dir = tmp_dir / "pred"
            write_predictions(source, pred_dir, ns.split)
        _warm_up(source, pred_dir, ns.split, ns.workers)
        common = ["--data", str(root), "--version", version, "--pred-dir", str(pred_dir)]
        if ns.split is not None:
            common += ["--split", ns.split]
        cache = tmp_dir / "cache"
        modes = {
            "plain": ["--workers", "1", "--no-cache"],
            "cold": ["--workers", str(ns.workers), "--cache-dir", str(cache)],
            "warm": ["--workers", str(ns.workers), "--cache-dir", str(cache)],
        }
        startup = _timed([sys.executable, "-c", STARTUP, str(root), version])
        figures, results = {}, {}
        for mode, extra in modes.items():
            figures[mode], results[mode] = _run([*common, *extra], tmp_dir / f"{mode}.json")
        cache_bytes = sum(p.stat().st_size for p in cache.rglob("*.bin"))

    n = results["plain"]["n_samples"]
    out: dict = {"data": str(root), "split": ns.split, "n_samples": n, "workers": ns.workers}
    out["startup"] = {k: round(v, 2) for k, v in startup.items()}
    for mode, f in figures.items():
        scoring_wall, scoring_cpu = f["wall_s"] - startup["wall_s"], f["cpu_s"] - startup["cpu_s"]
        cores = 1 if mode == "plain" else min(ns.workers, os.cpu_count() or 1)
        idle_rate = cores * n / scoring_cpu
        out[mode] = {
            "wall_s": round(f["wall_s"], 2),
            "cpu_s": round(f["cpu_s"], 2),
            "samples_per_s": round(n / f["wall_s"], 1),
            "samples_per_cpu_s": round(n / f["cpu_s"], 1),
            "samples_per_s_after_startup": round(n / scoring_wall, 1),
            "samples_per_cpu_s_after_startup": round(n / scoring_cpu, 1),
            "load_avg_1min_before": round(f["load_before"], 2),
            "load_avg_1min_after": round(f["load_after"], 2),
            "cpu_ms_per_sample_after_startup": round(1e3 * scoring_cpu / n, 1),
            f"full_val_{ns.full_val}_wall_min": round((startup["wall_s"] + ns.full_val * scoring_wall / n) / 60, 1),
            "idle_projection": {
                "cores": cores,
                "samples_per_s": round(idle_rate, 1),
                f"full_val_{ns.full_val}_wall_min": round((startup["cpu_s"] + ns.full_val / idle_rate) / 60, 1),
            },
            "gt_cache": results[mode]["rayiou_gt_cache"],
        }
    plain = {k: v for k, v in results["plain"].items() if k not in NOT_METRICS}
    out["results_identical"] = all(
        {k: v for k, v in results[m].items() if k not in NOT_METRICS} == plain for m in ("cold", "warm")
    )
    out |= {k: plain.get(k) for k in ("occ/miou", "occ/rayiou", "flow/mave")}
    out["gt_cache_bytes_per_sample"] = round(cache_bytes / n)
    out[f"gt_cache_gb_full_val_{ns.full_val}"] = round(cache_bytes / n * ns.full_val / 1e9, 2)
    return out
