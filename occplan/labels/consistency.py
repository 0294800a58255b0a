"""Self-consistency of labels on logs without exact truth: leave one keyframe out.

    python -m occplan.labels.consistency --data ROOT [--scenes S ...] [--every N] [--degraded] [--out FILE]

For a held-out keyframe, labels are built at its pose from every other keyframe (and their sweeps) and
its own LiDAR sweep is checked against them: the share of its returns inside the grid that fall in
occupied voxels, and the share of its rays (to returns inside the grid) that meet no occupied voxel
before the return: the first occupied voxel along the ray ends at most ``t`` before the return, for
``t`` in ``TOLERANCES_M`` (0 = strict: the return's own voxel or a later one). A ray grazing the ground
crosses the ground layer's voxels before its return (a 0.4 m layer seen from 1.8 m at 12 m starts
1.3 m before the return), so the strict share is low for any voxel labelling; ``--gt`` applies the
same test to the dataroot's own occupancy files (on generated data: the exact truth, the ceiling).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from occplan.errors import DataError, ValidationError
from occplan.labels.aggregate import grid_from_world
from occplan.labels.config import LabelConfig
from occplan.labels.pipeline import SceneLabeller
from occplan.metrics.rayiou import cast_rays
from occplan.types import LabelSet, Pose

TOLERANCES_M = (0.0, 0.4, 1.0, 2.0)


def held_out_counts(labeller: SceneLabeller, k: int, semantics: np.ndarray | None = None) -> np.ndarray:
    """(2 + len(TOLERANCES_M),) int64 for keyframe ``k`` left out: its returns in the grid, of them in
    occupied voxels, of them free before the return at each tolerance. ``semantics`` (X, Y, Z) replaces
    the leave-one-out labels (e.g. the dataroot's GT)."""
    sweeps, grid = labeller.sweeps, labeller.config.grid
    if semantics is None:
        semantics = labeller.keyframe(k, exclude=(k,)).semantics
    frame = labeller.scenario.frames[k]
    grid_from_w = grid_from_world(frame.world_from_ego, frame.ego_from_lidar, grid.frame)
    grid_from_rel = grid_from_w @ Pose(np.eye(3), sweeps.origin_m)  # scene-relative world -> grid
    s = int(sweeps.keyframe_sweep[k])
    points = grid_from_rel.transform_points(sweeps.sweep_points(s).astype(np.float64))
    origin = grid_from_rel.transform_points(sweeps.sensor_m[s][None])[0]
    idx = grid.index_of(points)
    inside = grid.in_bounds(idx)
    free = LabelSet.occ3d().free_index
    occupied = semantics[tuple(idx[inside].T)] != free
    offset = points[inside] - origin
    range_m = np.linalg.norm(offset, axis=1)
    dirs = (offset / range_m[:, None]).astype(np.float32)
    hit = cast_rays([semantics], origin[None], grid, LabelSet.occ3d(), directions=dirs)[0]
    clear = [np.count_nonzero(hit.dist_m >= range_m - t - 1e-4) for t in TOLERANCES_M]
    return np.array([inside.sum(), occupied.sum(), *clear], np.int64)


def scene_consistency(source, scene: str, config: LabelConfig, every: int = 1, gt: bool = False) -> dict:
    """Leave-one-out counts over every ``every``-th keyframe of ``scene`` and their shares (%); with
    ``gt`` the dataroot's occupancy files take the place of the labels."""
    labeller = SceneLabeller(source, scene, dataclasses.replace(config, with_masks=False))
    ks = range(0, len(labeller.scenario.frames), every)
    rows = []
    for k in ks:
        semantics = None
        if gt:
            occ = source.occupancy(labeller.scenario.frames[k])
            if occ is None:
                raise DataError(f"{source.dataroot}: --gt but keyframe {k} of {scene} has no occupancy file")
            semantics = occ.semantics
        rows.append(held_out_counts(labeller, k, semantics))
    counts = np.sum(rows, axis=0)
    n = max(int(counts[0]), 1)
    return {
        "scene": scene,
        "keyframes": len(ks),
        "returns_in_grid": int(counts[0]),
        "returns_in_occupied_pct": 100.0 * counts[1] / n,
        **{f"rays_free_before_return_pct@{t}m": 100.0 * c / n for t, c in zip(TOLERANCES_M, counts[2:], strict=True)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m occplan.labels.consistency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--version", default=None)
    ap.add_argument("--scenes", nargs="+", default=None)
    ap.add_argument("--every", type=int, default=1, help="hold out every N-th keyframe")
    ap.add_argument("--degraded", action="store_true", help="keyframes only, geometric classes")
    ap.add_argument("--no-densify", action="store_true")
    ap.add_argument("--gt", action="store_true", help="test the dataroot's occupancy files instead of the labels")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    if args.every < 1:
        raise ValidationError(f"--every: must be >= 1, got {args.every}")
    from occplan.data import NuScenesSource
    from occplan.data.dataroot import resolve_dataroot

    source = NuScenesSource(*resolve_dataroot(args.data, args.version))
    config = LabelConfig(degraded=args.degraded, densify=not args.no_densify)
    rows = [scene_consistency(source, s, config, args.every, args.gt) for s in args.scenes or source.scene_names()]
    free = " | ".join(f"free before return, {t} m (%)" for t in TOLERANCES_M)
    print(f"| scene | held-out keyframes | returns in grid | in occupied voxels (%) | {free} |")
    print("|---|" + "---:|" * (3 + len(TOLERANCES_M)))
    for r in rows:
        shares = " | ".join(f"{r[f'rays_free_before_return_pct@{t}m']:.1f}" for t in TOLERANCES_M)
        head = f"| {r['scene']} | {r['keyframes']} | {r['returns_in_grid']} | {r['returns_in_occupied_pct']:.1f}"
        print(f"{head} | {shares} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DataError, ValidationError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
