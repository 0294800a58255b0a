"""``python -m occplan.labels``: Occ3D-format occupancy labels for every keyframe of a nuScenes-format dataroot.

    python -m occplan.labels --data ROOT --out DIR [--version V] [--scenes S ...] [--split S]
        [--grid occ3d_nuscenes|openoccupancy] [--sweeps N|all] [--no-densify] [--degraded]
        [--workers N] [--ray-address ADDR] [--resume]

Writes ``DIR/<scene>/<sample_token>/labels.npz`` (give ``--out ROOT/gts`` to add them to a dataroot) and
``DIR/<scene>/labels_done.json`` per finished scene. Method and measured quality: docs/LABELS.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from occplan.errors import DataError, ValidationError
from occplan.labels.config import GRIDS, LabelConfig
from occplan.labels.writer import read_done


def _sweeps(text: str) -> int | None:
    if text == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}") from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m occplan.labels", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="nuScenes-format dataroot")
    ap.add_argument("--out", required=True, help="output folder (<scene>/<sample_token>/labels.npz)")
    ap.add_argument("--version", default=None, help="table version (default: the dataroot's only v1.0-* folder)")
    ap.add_argument("--scenes", nargs="+", default=None, help="scene names (default: all, or --split)")
    ap.add_argument("--split", default=None, help="scene split (splits.json or devkit splits)")
    ap.add_argument("--grid", default="occ3d_nuscenes", choices=sorted(GRIDS), help="target grid")
    ap.add_argument(
        "--sweeps", type=_sweeps, default=None, help="sweeps per keyframe: N (keyframe + N-1 earlier) or all"
    )
    ap.add_argument("--no-densify", action="store_true", help="no hole filling of the static scene")
    ap.add_argument("--degraded", action="store_true", help="keyframes only, geometric classes (no sweeps/lidarseg)")
    ap.add_argument("--workers", type=int, default=None, help="scenes in parallel on a local Ray runtime")
    ap.add_argument("--ray-address", default=None, help="join an existing Ray cluster (e.g. auto)")
    ap.add_argument("--resume", action="store_true", help="skip scenes already finished with the same settings")
    return ap.parse_args(argv)


def config_of(args: argparse.Namespace) -> LabelConfig:
    return LabelConfig(grid=GRIDS[args.grid](), sweeps=args.sweeps, densify=not args.no_densify, degraded=args.degraded)


def _label_one(data: str, version: str, scene: str, config: LabelConfig, out: str) -> dict:
    """One scene, in a fresh process or Ray worker (opens the dataroot itself)."""
    from occplan.data import NuScenesSource
    from occplan.labels.pipeline import label_scene

    return label_scene(NuScenesSource(data, version), scene, config, out)


def pending_scenes(out: Path, scenes: list[str], config: LabelConfig, resume: bool) -> list[str]:
    """Scenes still to label. With ``resume``, finished scenes are skipped; one finished with other
    settings is a ValidationError naming its record. Without it, an ``out`` holding finished scenes
    is refused (nothing is overwritten silently)."""
    todo = []
    for scene in scenes:
        done = read_done(out, scene)
        if done is None:
            todo.append(scene)
            continue
        if not resume:
            raise ValidationError(f"{out / scene}: already labelled; pass --resume to skip finished scenes")
        if (done.get("config"), done.get("grid")) != (config.tag, config.grid.name):
            raise ValidationError(
                f"{out / scene / 'labels_done.json'}: labelled with {done.get('config')} on {done.get('grid')}, "
                f"not {config.tag} on {config.grid.name}; use another --out"
            )
    return todo


def run_local(data: str, version: str, scenes: list[str], config: LabelConfig, out: str, on_done: Callable) -> None:
    from occplan.data import NuScenesSource
    from occplan.labels.pipeline import label_scene

    source = NuScenesSource(data, version)
    for scene in scenes:
        on_done(label_scene(source, scene, config, out))


def run_ray(
    args: argparse.Namespace,
    data: str,
    version: str,
    scenes: list[str],
    config: LabelConfig,
    out: str,
    on_done: Callable,
) -> None:
    """One Ray task per scene (a local runtime of ``--workers`` CPUs, or the cluster at ``--ray-address``)."""
    try:
        import ray
    except ImportError:
        raise ValidationError("--workers / --ray-address need Ray: pip install 'ray[default]'") from None
    started = not ray.is_initialized()
    if started:
        if args.ray_address:
            ray.init(address=args.ray_address, logging_level="ERROR", log_to_driver=False)
        else:
            ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    task = ray.remote(num_cpus=1, max_retries=0)(_label_one)
    in_flight = args.workers or len(scenes)
    queue, pending = list(scenes), []
    try:
        while queue or pending:
            while queue and len(pending) < in_flight:
                pending.append(task.remote(data, version, queue.pop(0), config, out))
            done, pending = ray.wait(pending, num_returns=1)
            on_done(ray.get(done[0]))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workers is not None and args.workers < 1:
        raise ValidationError(f"--workers: must be >= 1, got {args.workers}")
    from occplan.data import NuScenesSource
    from occplan.data.dataroot import resolve_dataroot
    from occplan.labels.pipeline import check_inputs

    root, version = resolve_dataroot(args.data, args.version)
    config = config_of(args)
    source = NuScenesSource(root, version)
    scenes = args.scenes or source.scene_names(args.split)
    unknown = [s for s in scenes if s not in source.scene_names()]
    if unknown:
        raise ValidationError(f"--scenes: {unknown} not in {root}; it has {source.scene_names()}")
    out = Path(args.out).expanduser().resolve()
    todo = pending_scenes(out, scenes, config, args.resume)
    for scene in todo:
        check_inputs(source, scene, config)  # fail before any work, naming the dataroot and field
    bar = tqdm(total=len(scenes), initial=len(scenes) - len(todo), desc="scenes", unit="scene", file=sys.stderr)

    def on_done(record: dict) -> None:
        bar.update(1)
        bar.set_postfix_str(f"{record['scene']}: {record['seconds_per_keyframe']:.2f} s/keyframe")

    if args.workers or args.ray_address:
        run_ray(args, str(root), version, todo, config, str(out), on_done)
    else:
        run_local(str(root), version, todo, config, str(out), on_done)
    bar.close()
    print(
        f"{len(scenes)} scenes labelled ({len(scenes) - len(todo)} already done) in {out} "
        f"[{config.tag}, {config.grid.name}]"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DataError, ValidationError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
