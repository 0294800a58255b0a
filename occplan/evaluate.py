"""Standalone evaluator over a nuScenes-format dataroot, as users of the reference devkits expect.

    python -m occplan.evaluate --data ROOT [--version V] --pred-dir DIR [--label-set occ3d|openocc]
        [--plan-file FILE] [--split S] [--out FILE] [--allow-missing]

Predictions are ``<pred-dir>/<sample_token>.npz`` with key ``pred`` (uint8 200x200x16 in the chosen
label set) and optionally ``flow`` (200x200x16x2 float32 m/s), as SparseOcc's standalone tool. The
plan file is JSON ``{sample_token: [[x, y], ... 6 waypoints]}`` in the ego frame of the sample.
Every sample with occupancy GT is scored (occupancy mIoU variants, RayIoU, flow mAVE and the Occ
score when both sides carry flow); every keyframe is scored for planning when a plan file is given.
A prediction set that misses GT samples is refused unless ``--allow-missing``. The result is a flat
JSON of METRICS.md keys plus the protocol version, label set, grid and sample counts (NaN -> null).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from occplan import PROTOCOL_VERSION
from occplan.errors import DataError, ValidationError
from occplan.io import json_safe, load_npz
from occplan.metrics.occupancy import OccupancyMetric, OccupancyMetricConfig
from occplan.metrics.planning import PlanningMetric, planning_sample
from occplan.metrics.rayiou import RayIoUConfig, RayIoUMetric, scenario_rayiou_origins
from occplan.types import UNMAPPED, Frame, GridSpec, LabelSet, OccupancyFrame, OccupancyPrediction, Trajectory

LABEL_SETS = {"occ3d": LabelSet.occ3d, "openocc": LabelSet.openocc_v2}
NUM_WAYPOINTS = 6


def prediction_files(pred_dir: str | Path) -> dict[str, Path]:
    """``{sample_token: path}`` of the ``*.npz`` files in ``pred_dir``."""
    d = Path(pred_dir)
    if not d.is_dir():
        raise DataError(f"{d}: prediction directory not found")
    return {p.stem: p for p in sorted(d.glob("*.npz"))}


def read_prediction(path: Path, grid: GridSpec, pred_labels: LabelSet, target: LabelSet) -> OccupancyPrediction:
    """Read ``pred`` (+ optional ``flow``) of one file and convert the labels to ``target`` by name."""
    z = load_npz(path, ("pred",), optional=("flow",))
    pred = z["pred"]
    if pred.shape != grid.shape or pred.dtype != np.uint8:
        raise DataError(f"{path}: field 'pred' must be uint8 {grid.shape}, got {pred.dtype} {pred.shape}")
    if pred.size and int(pred.max()) >= pred_labels.num_classes:
        raise DataError(f"{path}: field 'pred' has labels >= {pred_labels.num_classes} ({pred_labels.name})")
    if pred_labels != target:
        pred = pred_labels.table_to(target)[pred]
        if np.any(pred == UNMAPPED):
            raise DataError(f"{path}: field 'pred' has {pred_labels.name} classes absent from {target.name}")
    flow = z.get("flow")
    if flow is not None and (flow.shape != (*grid.shape, 2) or not np.isfinite(flow).all()):
        raise DataError(f"{path}: field 'flow' must be finite {(*grid.shape, 2)}, got {flow.dtype} {flow.shape}")
    flow = None if flow is None else flow.astype(np.float32)
    return OccupancyPrediction(pred, grid, target, flow=flow)


def read_plans(path: str | Path) -> dict[str, np.ndarray]:
    """``{sample_token: (6, 2) float64}`` from the plan JSON; DataError naming the file and token."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{p}: cannot read plan JSON ({e})") from e
    if not isinstance(raw, dict):
        raise DataError(f"{p}: expected an object {{sample_token: [[x, y], ...]}}")
    plans = {}
    for token, xy in raw.items():
        try:
            a = np.asarray(xy, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise DataError(f"{p}: plan of {token} is not numeric ({e})") from e
        if a.shape != (NUM_WAYPOINTS, 2):
            raise DataError(f"{p}: plan of {token} must be {NUM_WAYPOINTS} [x, y] waypoints, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise DataError(f"{p}: plan of {token} has non-finite (NaN/inf) waypoints")
        plans[token] = a
    return plans


def _refuse_missing(kind: str, missing: list[str], total: int, allow: bool) -> None:
    if missing and not allow:
        raise DataError(
            f"{kind}: {len(missing)} of {total} samples have no prediction (e.g. {missing[:3]}); "
            "pass --allow-missing to score the others only"
        )


def evaluate(
    source,
    pred_dir: str | Path | None,
    label_set: str = "occ3d",
    plan_file: str | Path | None = None,
    allow_missing: bool = False,
    split: str | None = None,
) -> dict:
    """Score ``pred_dir`` (and ``plan_file``) against a ``NuScenesSource``; returns the flat result dict."""
    if label_set not in LABEL_SETS:
        raise ValidationError(f"--label-set {label_set!r}: expected one of {', '.join(LABEL_SETS)}")
    pred_labels = LABEL_SETS[label_set]()
    scenes = [source.scenario(name) for name in source.scene_names(split)]
    frames = [(sc, i) for sc in scenes for i in range(len(sc.frames))]
    gt_cache: dict[str, OccupancyFrame | None] = {}

    def gt_of(frame: Frame) -> OccupancyFrame | None:
        if frame.sample_token not in gt_cache:
            gt_cache[frame.sample_token] = source.occupancy(frame)
        return gt_cache[frame.sample_token]

    out: dict = {"protocol_version": PROTOCOL_VERSION, "data": str(source.dataroot), "version": source.version}
    if pred_dir is not None:
        out.update(_evaluate_occupancy(frames, gt_of, pred_dir, pred_labels, allow_missing))
    if plan_file is not None:
        out.update(_evaluate_plans(frames, gt_of, plan_file, allow_missing))
    return out


def _evaluate_occupancy(frames, gt_of, pred_dir, pred_labels: LabelSet, allow_missing: bool) -> dict:
    files = prediction_files(pred_dir)
    with_gt = [(sc, i, gt) for sc, i in frames if (gt := gt_of(sc.frames[i])) is not None]
    if not with_gt:
        raise DataError(f"{frames[0][0].dataroot if frames else 'dataroot'}: no sample has occupancy GT")
    missing = [sc.frames[i].sample_token for sc, i, _ in with_gt if sc.frames[i].sample_token not in files]
    _refuse_missing(f"{pred_dir}", missing, len(with_gt), allow_missing)
    gt0 = with_gt[0][2]
    masks = ("camera", "lidar", "none") if gt0.mask_camera is not None and gt0.mask_lidar is not None else ("none",)
    occ = OccupancyMetric(OccupancyMetricConfig(gt0.grid, gt0.labels, masks))
    ray = RayIoUMetric(RayIoUConfig(gt0.grid, gt0.labels))
    use_flow = None
    for sc, i, gt in with_gt:
        path = files.get(sc.frames[i].sample_token)
        if path is None:
            continue
        pred = read_prediction(path, gt.grid, pred_labels, gt.labels)
        occ.update((gt, pred))
        has_flow = gt.flow is not None and pred.flow is not None
        if use_flow is None:
            use_flow = has_flow
        elif use_flow != has_flow:
            raise DataError(f"{path}: flow present in some samples and absent in others (prediction or GT)")
        flows = (gt.flow, pred.flow) if has_flow else (None, None)
        ray.update_arrays(gt.semantics, pred.semantics, scenario_rayiou_origins(sc, i), *flows)
    return {
        **occ.compute(),
        **ray.compute(),
        "label_set": pred_labels.name,
        "gt_label_set": gt0.labels.name,
        "grid": {
            "name": gt0.grid.name,
            "range_min_m": gt0.grid.range_min_m,
            "voxel_size_m": gt0.grid.voxel_size_m,
            "shape": gt0.grid.shape,
            "frame": gt0.grid.frame,
        },
        "n_samples": occ.n_frames,
        "n_samples_gt": len(with_gt),
        "n_missing": len(missing),
        "n_predictions_without_gt": len(set(files) - {sc.frames[i].sample_token for sc, i, _ in with_gt}),
    }


def _evaluate_plans(frames, gt_of, plan_file, allow_missing: bool) -> dict:
    plans = read_plans(plan_file)
    missing = [sc.frames[i].sample_token for sc, i in frames if sc.frames[i].sample_token not in plans]
    _refuse_missing(f"{plan_file}", missing, len(frames), allow_missing)
    metric = PlanningMetric()
    for sc, i in frames:
        xy = plans.get(sc.frames[i].sample_token)
        if xy is not None:
            metric.update(planning_sample(sc, i, Trajectory.from_xy(xy), gt_of))
    return {**metric.compute(), "plan/n_missing": float(len(missing))}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m occplan.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="nuScenes-format dataroot")
    ap.add_argument("--version", default=None, help="table version (default: the dataroot's only v1.0-* folder)")
    ap.add_argument("--pred-dir", default=None, help="directory of <sample_token>.npz predictions")
    ap.add_argument(
        "--label-set", default="occ3d", choices=sorted(LABEL_SETS), help="labels of the predictions (mapped by name)"
    )
    ap.add_argument("--plan-file", default=None, help="JSON {sample_token: [[x, y] x 6]} in the ego frame")
    ap.add_argument("--split", default=None, help="scene split (splits.json or devkit splits); default all")
    ap.add_argument("--out", default=None, help="write the JSON result here (missing parent folders are created)")
    ap.add_argument("--allow-missing", action="store_true", help="score only the samples that have predictions")
    args = ap.parse_args(argv)
    if args.pred_dir is None and args.plan_file is None:
        ap.error("give --pred-dir and/or --plan-file")
    from occplan.data import NuScenesSource
    from occplan.data.dataroot import resolve_dataroot

    out = prepare_output(args.out) if args.out else None
    source = NuScenesSource(*resolve_dataroot(args.data, args.version))
    result = json_safe(evaluate(source, args.pred_dir, args.label_set, args.plan_file, args.allow_missing, args.split))
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.write_text(text + "\n")
    return 0


def prepare_output(path: str | Path) -> Path:
    """Check ``--out`` before any scoring: create its missing parent folders; ValidationError naming
    the path when it is a folder or cannot be written."""
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValidationError(f"--out {out}: cannot create its folder {out.parent} ({e.strerror})") from e
    if out.is_dir():
        raise ValidationError(f"--out {out}: is a folder; give a file name")
    if not os.access(out if out.exists() else out.parent, os.W_OK):
        raise ValidationError(f"--out {out}: not writable")
    return out


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DataError, ValidationError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
