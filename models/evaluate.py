"""Evaluate a perception model (or the trivial baseline) on a split with ``occplan.metrics``.

``python -m models.evaluate --model NAME|height_majority --data ROOT --split val
[--config tiny|base] [--weights auto|random|PATH] [--max-frames N] [--out report.json]``
(``--config`` default: the checkpoint's own config with ``--weights PATH``, else ``tiny``).

``height_majority`` is the trivial baseline: every voxel gets the most frequent GT class of its
height level inside ``mask_camera`` on ``--baseline-split`` (default train). Points are labelled with
their voxel's class (METRICS.md rule for occupancy-only models) for ``lidarseg/miou``.
Metrics: ``occplan.metrics.occupancy.OccupancyMetric`` and ``occplan.metrics.lidarseg.LidarSegMetric``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from occplan.errors import DataError, OccPlanError
from occplan.evaluate import prepare_output
from occplan.metrics.lidarseg import LidarSegMetric
from occplan.metrics.occupancy import OccupancyMetric
from occplan.types import GridSpec, LabelSet, OccupancyPrediction

BASELINE = "height_majority"


def open_source(dataroot: str | Path, version: str | None = None):
    """NuScenesSource on ``dataroot``; version None = its only ``v1.0-*`` table folder (``resolve_dataroot``)."""
    from occplan.data import NuScenesSource
    from occplan.data.dataroot import resolve_dataroot

    return NuScenesSource(*resolve_dataroot(dataroot, version))


def height_majority(source, split: str, grid: GridSpec, labels: LabelSet, max_frames: int | None) -> np.ndarray:
    """(X, Y, Z) uint8 volume of the per-height majority GT class over ``split``."""
    from models.dataset import height_counts, keyframes

    counts = height_counts(source, keyframes(source, split, max_frames), labels.num_classes)
    per_z = counts.argmax(1).astype(np.uint8)
    return np.broadcast_to(per_z, grid.shape).copy()


def evaluate(
    model, source, split: str, max_frames: int | None = None, progress: bool = True, no_history: bool = False
) -> dict[str, float]:
    """Run ``model`` (a PerceptionModel, or an (X, Y, Z) uint8 constant volume for the baseline) over the
    keyframes of ``split`` in scene and time order (``reset`` at each new scene, or before every frame with
    ``no_history``: a temporal model's ablation without its memory); returns occupancy and lidarseg metrics plus
    ``runtime/model_ms``."""
    from models.dataset import keyframes

    frames = keyframes(source, split, max_frames)
    occ_metric = OccupancyMetric()
    seg = LidarSegMetric()
    times_ms = []
    scene = None
    for frame in tqdm(frames, desc="evaluate", disable=not progress, dynamic_ncols=True):
        if not isinstance(model, np.ndarray) and (frame.scene_name != scene or no_history):
            scene = frame.scene_name
            model.reset(scene)
        gt = source.occupancy(frame)
        if gt is None:
            raise DataError(
                f"{source.dataroot}: no occupancy GT for scene {frame.scene_name} sample {frame.sample_token}"
            )
        if isinstance(model, np.ndarray):
            pred = OccupancyPrediction(model, gt.grid, gt.labels)
        else:
            sensor = source.sensor_frame(frame, model.sensor_request())
            if model.privileged:
                sensor = replace(sensor, ground_truth=gt)
            t0 = time.perf_counter()
            pred = model.predict(sensor)
            times_ms.append((time.perf_counter() - t0) * 1e3)
        occ_metric.update((gt, pred))
        gt_points = source.lidarseg(frame)  # general classes
        if gt_points is not None:
            if pred.point_labels is not None:  # the keyframe points of sensor.lidar, in file order
                seg.update((gt_points, pred.point_labels))
            else:
                points = source.lidar(frame, 1).points
                seg.update_from_voxels(points, gt_points, pred.semantics, pred.grid, pred.labels)
    out = occ_metric.compute()
    if seg.n_points_gt:
        out.update(seg.compute())
    out["runtime/model_ms"] = float(np.median(times_ms)) if times_ms else 0.0
    out["n_frames"] = float(len(frames))
    return out


def main(argv: list[str] | None = None) -> int:
    from models import MODELS

    ap = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=[*MODELS.names(), BASELINE])
    ap.add_argument("--data", required=True)
    ap.add_argument("--version", default=None, help="table version (default: the dataroot's only v1.0-* folder)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--config", default=None, help="preset (default: the --weights checkpoint's config, else tiny)")
    ap.add_argument("--weights", default="auto", help="auto (shipped) | random (untrained) | PATH.safetensors")
    ap.add_argument("--baseline-split", default="train")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="write the metrics JSON here")
    ap.add_argument("--no-history", action="store_true", help="reset the model before every frame (no memory)")
    args = ap.parse_args(argv)

    out = prepare_output(args.out) if args.out else None
    source = open_source(args.data, args.version)
    if args.model == BASELINE:
        model = height_majority(source, args.baseline_split, GridSpec.occ3d_nuscenes(), LabelSet.occ3d(), None)
    else:
        from models import model_class

        given = {"weights": args.weights, "device": args.device} | ({"config": args.config} if args.config else {})
        takes = model_class(args.model).option_names
        model = MODELS.create(args.model, **{k: v for k, v in given.items() if k in takes})
    metrics = evaluate(model, source, args.split, args.max_frames, no_history=args.no_history)
    report = {
        "model": args.model,
        "config": args.config,
        "weights": args.weights,
        "data": str(args.data),
        "split": args.split,
        **({"no_history": True} if args.no_history else {}),
        **metrics,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except OccPlanError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
