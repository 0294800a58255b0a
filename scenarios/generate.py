"""Generate a nuScenes-format dataroot of procedural worlds.

``python -m scenarios.generate --out DIR --scenes N --seed S [--cam-res WxH] [--duration S]
[--val-fraction F] [--workers W] [--scenario-types T1,T2,...] [--sweeps-per-keyframe K] [--only-split SPLIT]``

Scene ``i`` is ``scene-<i:04d>``, built by ``scenarios.build.build_world`` with a seed derived from
``(S, i)`` and placed by ``scene_placement`` (one of the four nuScenes locations, its own origin);
scenes are generated in parallel worker processes (each writes its own files), and the
tables are merged in scene order, so the output bytes depend only on the arguments. The last
``round(N * F)`` scenes form the val split (``splits.json``).

With ``scenario_types``, every scene is built for one of them (``scenarios.build.situations``):
within each split scene ``k`` gets type ``k mod len(types)``, so each split is balanced across the
types when its size is a multiple of their number; the types and the facts their checks measured
go to ``scenario_types.json`` (``occplan.data.scenario_types``). ``sweeps_per_keyframe`` sets the
LiDAR sweep rate (keyframes stay at 2 Hz: 10 = nuScenes' 20 Hz, 5 = 10 Hz). ``only_split`` writes only
the scenes of one split (the other split is empty in ``splits.json`` and absent from the tables): each
of them, and the map of its location wherever no left-out scene shares it, is byte for byte the scene the
full set writes, so a run that reads one split needs only that split generated.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from occplan.data.scenario_types import SCENARIO_TYPES_FILE, ScenarioTag, scenario_types_json
from occplan.errors import ValidationError
from occplan.world.spec import MapLayers
from scenarios.build.situations.registry import build_scenario, scenario_type
from scenarios.writer import SceneStats, SceneTables, SensorCalibration, WriterConfig, write_scene, write_tables
from scenarios.writer.map_expansion import merge_layers, write_map
from scenarios.writer.tables import json_dumps
from scenarios.writer.tokens import make_token

LOCATIONS = ("boston-seaport", "singapore-onenorth", "singapore-queenstown", "singapore-hollandvillage")
SCENE_SPACING_M = 500.0  # origin spacing of scenes sharing a location (worlds are 400 m squares)
KEYFRAME_PERIOD_US = 500_000  # keyframes at 2 Hz


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate: ``n_scenes`` scenes of ``duration_s`` from ``seed``, cameras at the given size."""

    n_scenes: int
    seed: int
    duration_s: float = 20.0
    cam_width_px: int = 800
    cam_height_px: int = 450
    val_fraction: float = 1 / 3
    workers: int = 2
    scenario_types: tuple[str, ...] = ()
    sweeps_per_keyframe: int = 10
    only_split: str | None = None

    def __post_init__(self) -> None:
        if self.n_scenes < 1:
            raise ValidationError(f"GenerateConfig.n_scenes: must be >= 1, got {self.n_scenes}")
        if self.duration_s <= 0:
            raise ValidationError(f"GenerateConfig.duration_s: must be > 0, got {self.duration_s}")
        if self.cam_width_px < 16 or self.cam_height_px < 16:
            raise ValidationError(
                f"GenerateConfig cam res: at least 16x16, got {self.cam_width_px}x{self.cam_height_px}"
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValidationError(f"GenerateConfig.val_fraction: must be in [0, 1), got {self.val_fraction}")
        if self.workers < 1:
            raise ValidationError(f"GenerateConfig.workers: must be >= 1, got {self.workers}")
        if self.sweeps_per_keyframe < 1 or KEYFRAME_PERIOD_US % self.sweeps_per_keyframe:
            raise ValidationError(
                f"GenerateConfig.sweeps_per_keyframe: must divide {KEYFRAME_PERIOD_US} (us), "
                f"got {self.sweeps_per_keyframe}"
            )
        for name in self.scenario_types:
            scenario_type(name)  # an unknown name is an error listing the known ones
        if self.only_split not in (None, "train", "val"):
            raise ValidationError(f"GenerateConfig.only_split: 'train', 'val' or None, got {self.only_split!r}")

    def split_lists(self) -> dict[str, list[str]]:
        """The scenes written per split (``splits.json``): both splits, or ``only_split``'s with the other empty."""
        full = splits(scene_names(self.n_scenes), self.val_fraction)
        if self.only_split is None:
            return full
        return {k: (v if k == self.only_split else []) for k, v in full.items()}

    def writer(self) -> WriterConfig:
        """The writer's timeline: keyframes at 2 Hz, ``sweeps_per_keyframe`` LiDAR sweeps per keyframe."""
        k = self.sweeps_per_keyframe
        return WriterConfig(sweep_period_us=KEYFRAME_PERIOD_US // k, sweeps_per_keyframe=k)

    def scene_type(self, index: int) -> str | None:
        """The scenario type of scene ``index`` (balanced within each split), None without types."""
        if not self.scenario_types:
            return None
        n_train = len(splits(scene_names(self.n_scenes), self.val_fraction)["train"])
        k = index if index < n_train else index - n_train
        return self.scenario_types[k % len(self.scenario_types)]


@dataclass(frozen=True)
class GenerateReport:
    """Cost of a generation: wall seconds, per-scene worker seconds, and the rays cast."""

    wall_s: float
    scene_s: tuple[float, ...]
    lidar_rays: int
    camera_rays: int
    keyframes: int
    sweeps: int

    def summary(self) -> dict[str, float]:
        busy_s = sum(self.scene_s)
        return {
            "scenes": len(self.scene_s),
            "wall_s": round(self.wall_s, 2),
            "seconds_per_scene": round(busy_s / len(self.scene_s), 2),
            "wall_seconds_per_scene": round(self.wall_s / len(self.scene_s), 2),
            "keyframes": self.keyframes,
            "lidar_sweeps": self.sweeps,
            "lidar_rays": self.lidar_rays,
            "camera_rays": self.camera_rays,
            "rays_per_second_per_worker": round((self.lidar_rays + self.camera_rays) / busy_s),
            "rays_per_second_wall": round((self.lidar_rays + self.camera_rays) / self.wall_s),
        }


def scene_names(n_scenes: int) -> list[str]:
    return [f"scene-{i:04d}" for i in range(n_scenes)]


def scene_seed(seed: int, index: int) -> int:
    """The world seed of scene ``index`` of a dataset generated with ``seed`` (31-bit, hash-derived)."""
    return int(make_token("scene-seed", seed, index)[:8], 16) & 0x7FFFFFFF


def splits(names: list[str], val_fraction: float) -> dict[str, list[str]]:
    """The last ``round(n * val_fraction)`` scenes are val (at least one when the fraction is > 0 and n > 1)."""
    n_val = round(len(names) * val_fraction)
    if val_fraction > 0 and len(names) > 1:
        n_val = min(max(n_val, 1), len(names) - 1)
    return {"train": names[: len(names) - n_val], "val": names[len(names) - n_val :]}


def scene_placement(index: int) -> tuple[str, tuple[float, float]]:
    """Location and world origin of scene ``index``: scenes cycle over the four nuScenes locations
    (``NuScenesMap`` accepts no others) and sit side by side along x within a location."""
    slot = index // len(LOCATIONS)
    return LOCATIONS[index % len(LOCATIONS)], (slot * SCENE_SPACING_M, 0.0)


def _write_one(
    job: tuple[Path, GenerateConfig, int],
) -> tuple[SceneTables, SceneStats, float, MapLayers, ScenarioTag | None]:
    """Worker: build scene ``index`` (of its scenario type, checked, when the config has types), render
    and write its files; return its rows, cost, seconds, map and tag."""
    from occplan.world.generated import GeneratedWorld
    from occplan.world.rig import SensorRig
    from scenarios.build import build_world

    out, cfg, index = job
    t0 = time.perf_counter()
    location, origin = scene_placement(index)
    name = scene_names(cfg.n_scenes)[index]
    seed = scene_seed(cfg.seed, index)
    rig = SensorRig.nuscenes(cfg.cam_width_px, cfg.cam_height_px)
    kind, tag = cfg.scene_type(index), None
    if kind is None:
        spec = build_world(seed, name, cfg.duration_s, location=location, origin_xy_m=origin)
        world = GeneratedWorld(spec, rig=rig)
    else:
        spec, world, tag = build_scenario(
            seed, name, cfg.duration_s, scenario_type(kind), rig, location=location, origin_xy_m=origin
        )
    tables, stats = write_scene(spec, world, SensorCalibration.from_rig(rig), out, cfg.writer())
    return tables, stats, time.perf_counter() - t0, spec.map, tag


def generate_dataroot(out: Path, cfg: GenerateConfig, progress: bool = True) -> GenerateReport:
    """Write a complete dataroot into ``out`` (which must not exist or be empty)."""
    from tqdm import tqdm

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValidationError(f"{out}: output directory is not empty")
    out.mkdir(parents=True, exist_ok=True)
    split_lists = cfg.split_lists()
    written = {name for names in split_lists.values() for name in names}
    jobs = [(out, cfg, i) for i, name in enumerate(scene_names(cfg.n_scenes)) if name in written]
    t0 = time.perf_counter()
    bar = tqdm(total=len(jobs), desc=f"generating {out.name}", unit="scene", disable=not progress)
    results: list[tuple[SceneTables, SceneStats, float, MapLayers, ScenarioTag | None]] = []
    workers = min(cfg.workers, len(jobs))
    if workers == 1:
        for job in jobs:
            results.append(_write_one(job))
            bar.update(1)
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            for r in pool.imap(_write_one, jobs):
                results.append(r)
                bar.update(1)
    bar.close()
    tables = [r[0] for r in results]
    write_tables(out, tables)
    for location in dict.fromkeys(t.location for t in tables):
        write_map(out, merge_layers([r[3] for r in results if r[0].location == location]), location)
    (out / "splits.json").write_text(json_dumps(split_lists))
    tags = {t.scene_name: r[4] for t, r in zip(tables, results, strict=True) if r[4] is not None}
    if tags:
        (out / SCENARIO_TYPES_FILE).write_text(json_dumps(scenario_types_json(tags)))
    stats = [r[1] for r in results]
    return GenerateReport(
        wall_s=time.perf_counter() - t0,
        scene_s=tuple(r[2] for r in results),
        lidar_rays=sum(s.lidar_rays for s in stats),
        camera_rays=sum(s.camera_rays for s in stats),
        keyframes=sum(s.keyframes for s in stats),
        sweeps=sum(s.sweeps for s in stats),
    )


def parse_resolution(text: str) -> tuple[int, int]:
    """``"800x450"`` -> (800, 450)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--cam-res: expected WxH such as 800x450, got {text!r}") from None
    return w, h


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scenarios.generate", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="output dataroot (must not exist or be empty)")
    p.add_argument("--scenes", type=int, required=True, help="number of scenes")
    p.add_argument("--seed", type=int, required=True, help="dataset seed")
    p.add_argument("--cam-res", type=parse_resolution, default=(800, 450), help="camera resolution WxH")
    p.add_argument("--duration", type=float, default=20.0, help="scene duration in seconds")
    p.add_argument("--val-fraction", type=float, default=1 / 3, help="fraction of scenes in the val split")
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument("--scenario-types", default="", help="comma-separated scenario types, balanced per split")
    p.add_argument("--sweeps-per-keyframe", type=int, default=10, help="LiDAR sweeps per 2 Hz keyframe")
    p.add_argument("--only-split", choices=("train", "val"), help="write only the scenes of this split")
    a = p.parse_args(argv)
    types = tuple(t for t in a.scenario_types.split(",") if t)
    cfg = GenerateConfig(
        a.scenes, a.seed, a.duration, *a.cam_res, a.val_fraction, a.workers, types, a.sweeps_per_keyframe, a.only_split
    )
    report = generate_dataroot(a.out, cfg)
    print(json_dumps(report.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
