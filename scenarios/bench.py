"""``python -m occplan.bench generate [--preset mini | --scenes N --duration S --cam-res WxH] [--workers W]``

Generates a dataroot into a temporary folder (deleted afterwards) and reports wall time, seconds per
scene (worker time), rays per second (LiDAR beams x azimuths + camera pixels, per worker and over
the wall clock) and the size on disk.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20


def run(args: list[str]) -> dict:
    from scenarios.datasets import PRESETS
    from scenarios.generate import GenerateConfig, generate_dataroot, parse_resolution

    p = argparse.ArgumentParser(prog="python -m occplan.bench generate")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None, help="generate a named preset")
    p.add_argument("--scenes", type=int, default=2)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--cam-res", type=parse_resolution, default=(800, 450))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(args)
    if a.preset:
        cfg = dataclasses.replace(PRESETS[a.preset].config, workers=a.workers)
    else:
        cfg = GenerateConfig(a.scenes, a.seed, a.duration, *a.cam_res, workers=a.workers)
    with tempfile.TemporaryDirectory(prefix="occplan-bench-") as tmp:
        root = Path(tmp) / "dataroot"
        report = generate_dataroot(root, cfg, progress=False)
        size_mb = _size_mb(root)
    return {
        "preset": a.preset,
        "config": dataclasses.asdict(cfg),
        **report.summary(),
        "size_mb": round(size_mb, 1),
        "size_mb_per_scene": round(size_mb / cfg.n_scenes, 1),
    }
