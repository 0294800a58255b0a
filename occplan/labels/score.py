"""Score generated labels against a dataroot's exact occupancy GT with the Occ3D protocol.

    python -m occplan.labels.score --data ROOT --labels DIR [DIR ...] [--split S] [--names N ...] [--out FILE]

Each ``DIR`` (written by ``python -m occplan.labels``) is scored as predictions by ``occplan.evaluate``
(semantics and flow; the GT's camera mask), and its ``mask_lidar`` / ``mask_camera`` are compared with
the GT's. Prints one Markdown table, a column per ``DIR``: per-class IoU, mIoU and geometric IoU inside
the camera mask, mask agreement (IoU of the voxel sets), sample counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from occplan.errors import DataError, ValidationError
from occplan.evaluate import evaluate
from occplan.io import json_safe, load_npz
from occplan.labels.writer import labels_path
from occplan.types import LabelSet

MASKS = ("mask_lidar", "mask_camera")


def export_predictions(source, scenes: list[str], labels_dir: Path, pred_dir: Path) -> int:
    """Write ``pred_dir/<sample_token>.npz`` (``pred``, ``flow``) from the labels of ``scenes``; the
    number of samples written. DataError naming the first missing labels file."""
    n = 0
    for scene in scenes:
        for frame in source.scenario(scene).frames:
            z = load_npz(labels_path(labels_dir, scene, frame.sample_token), ("semantics", "flow"))
            np.savez(pred_dir / f"{frame.sample_token}.npz", pred=z["semantics"], flow=z["flow"])
            n += 1
    return n


def mask_agreement(source, scenes: list[str], labels_dir: Path) -> dict[str, float]:
    """IoU x100 of generated vs exact masks over all samples (pooled voxel counts), per mask, and the
    share of generated mask voxels inside the exact mask (precision) and of exact inside generated
    (recall)."""
    counts = {m: np.zeros(3, np.int64) for m in MASKS}  # intersection, generated, exact
    for scene in scenes:
        for frame in source.scenario(scene).frames:
            gt = source.occupancy(frame)
            ours = load_npz(labels_path(labels_dir, scene, frame.sample_token), MASKS)
            for m in MASKS:
                a, b = ours[m].astype(bool), getattr(gt, m)
                if b is None:
                    raise DataError(f"{source.dataroot}: GT of {frame.sample_token} has no {m}")
                counts[m] += [np.count_nonzero(a & b), np.count_nonzero(a), np.count_nonzero(b)]
    out = {}
    for m, (inter, ours_n, gt_n) in counts.items():
        out[f"{m}/iou"] = 100.0 * inter / max(ours_n + gt_n - inter, 1)
        out[f"{m}/precision"] = 100.0 * inter / max(ours_n, 1)
        out[f"{m}/recall"] = 100.0 * inter / max(gt_n, 1)
    return out


def score_labels(source, labels_dir: str | Path, split: str | None = None) -> dict:
    """``occplan.evaluate`` keys of the labels in ``labels_dir`` as predictions, plus mask agreement."""
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise DataError(f"{labels_dir}: labels folder not found")
    scenes = source.scene_names(split)
    with tempfile.TemporaryDirectory(prefix="occplan-labels-score-") as tmp:
        export_predictions(source, scenes, labels_dir, Path(tmp))
        result = evaluate(source, tmp, split=split)
    return {**result, **mask_agreement(source, scenes, labels_dir), "scenes": scenes}


def table(results: dict[str, dict]) -> str:
    """Markdown table: a row per metric, a column per scored labels folder."""
    names = list(results)
    classes = [c for c in LabelSet.occ3d().class_names if c != "free"]
    rows = [("mIoU (camera mask)", "occ/miou"), ("geometric IoU (camera mask)", "occ/iou_geo")]
    rows += [(f"IoU {c}", f"occ/iou/{c}") for c in classes]
    rows += [("mIoU (LiDAR mask)", "occ/miou_lidar_mask"), ("RayIoU", "occ/rayiou"), ("flow mAVE (m/s)", "flow/mave")]
    rows += [(f"{m} agreement IoU", f"{m}/iou") for m in MASKS]
    rows += [(f"{m} precision / recall", f"{m}/precision", f"{m}/recall") for m in MASKS]
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def cell(r: dict, keys: tuple[str, ...]) -> str:
        vals = [r.get(k) for k in keys]
        return " / ".join("-" if v is None or not np.isfinite(v) else f"{v:.1f}" for v in vals)

    for label, *keys in rows:
        if all(all(results[n].get(k) is None for k in keys) for n in names):
            continue
        lines.append(f"| {label} | " + " | ".join(cell(results[n], tuple(keys)) for n in names) + " |")
    lines.append("| samples | " + " | ".join(str(int(results[n].get("n_samples", 0))) for n in names) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m occplan.labels.score", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="nuScenes-format dataroot with exact GT (gts/)")
    ap.add_argument("--version", default=None)
    ap.add_argument("--labels", nargs="+", required=True, help="labels folders written by python -m occplan.labels")
    ap.add_argument("--names", nargs="+", default=None, help="column names (default: the folder names)")
    ap.add_argument("--split", default=None, help="scene split (default: all scenes)")
    ap.add_argument("--out", default=None, help="write all results as JSON here")
    args = ap.parse_args(argv)
    names = args.names or [Path(d).name for d in args.labels]
    if len(names) != len(args.labels):
        raise ValidationError(f"--names: {len(names)} names for {len(args.labels)} --labels folders")
    from occplan.data import NuScenesSource
    from occplan.data.dataroot import resolve_dataroot

    source = NuScenesSource(*resolve_dataroot(args.data, args.version))
    results = {n: score_labels(source, d, args.split) for n, d in zip(names, args.labels, strict=True)}
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(json_safe(results), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DataError, ValidationError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
