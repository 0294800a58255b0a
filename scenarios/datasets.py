"""Named generated datasets, created on first use in a cache directory and reused afterwards.

``ensure("mini")`` returns the dataroot of the default embedded dataset (12 scenes of 20 s: 8 train,
4 val; cameras 800x450), ``ensure_split("mini", "val")`` its val scenes alone unless the full set is
cached (the default run's data), ``ensure("tiny")`` a 2-scene set of 6 s at 320x180 for tests, ``ensure("bench")``
the scenario suite (``BENCH_TYPES`` balanced in both splits, each scene's type and check in
``scenario_types.json``; settings sized for disk and generation time, see ``PRESETS``). The cache is
``cache_dir`` or ``$OCCPLAN_CACHE`` or ``~/.cache/occplan``; the dataroot is ``<cache>/<name>``.

Generation is atomic: it runs in ``<cache>/.<name>.tmp-<pid>``, writes ``occplan_manifest.json``
last and renames the folder into place, all under a file lock (parallel test workers wait for one
another). A dataroot whose manifest is missing or differs from the preset and the current format
versions is regenerated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from occplan.errors import ValidationError
from occplan.io import cache_root
from occplan.world.generated import SENSOR_MODEL_VERSION
from occplan.world.spec import WORLD_FORMAT_VERSION
from scenarios.build import BUILDER_VERSION
from scenarios.build.situations.registry import SITUATIONS_VERSION, ScenarioType
from scenarios.generate import GenerateConfig, generate_dataroot
from scenarios.writer.schema import VERSION, WRITER_FORMAT_VERSION
from scenarios.writer.tables import json_dumps

MANIFEST = "occplan_manifest.json"


@dataclass(frozen=True)
class DatasetPreset:
    """A named dataset: what ``scenarios.generate`` is asked to produce."""

    name: str
    config: GenerateConfig


BENCH_TYPES = tuple(t.value for t in ScenarioType)
# GenerateConfig fields added after presets were published: left out of a manifest at their default, so
# the manifests (and caches) of the presets that do not set them stay as they were.
_LATER_FIELDS = ("scenario_types", "sweeps_per_keyframe", "only_split")

_MINI = GenerateConfig(n_scenes=12, seed=0, duration_s=20.0, val_fraction=1 / 3)
PRESETS = {
    "mini": DatasetPreset("mini", _MINI),
    # mini's 4 val scenes alone (the default run's data when the full mini set is not cached yet)
    "mini_val": DatasetPreset("mini_val", dataclasses.replace(_MINI, only_split="val")),
    "tiny": DatasetPreset(
        "tiny",
        GenerateConfig(n_scenes=2, seed=0, duration_s=6.0, cam_width_px=320, cam_height_px=180, val_fraction=0.5),
    ),
    # 7 scenes per type and split (49 val + 49 train). Sized for <= 4 GB and <= 10 min on 2 cores: 8 s
    # scenes (17 keyframes), cameras 320x180, LiDAR at 5 Hz (2 sweeps per keyframe; a sweep is ~0.65 MB).
    "bench": DatasetPreset(
        "bench",
        GenerateConfig(
            n_scenes=14 * len(BENCH_TYPES),
            seed=0,
            duration_s=8.0,
            cam_width_px=320,
            cam_height_px=180,
            val_fraction=0.5,
            scenario_types=BENCH_TYPES,
            sweeps_per_keyframe=2,
        ),
    ),
}


def manifest_for(preset: DatasetPreset) -> dict:
    """The manifest a dataroot of ``preset`` must carry to be reused (workers do not change the bytes)."""
    cfg = dataclasses.asdict(preset.config)
    cfg.pop("workers")
    defaults = {f.name: f.default for f in dataclasses.fields(GenerateConfig)}
    for name in _LATER_FIELDS:
        if cfg[name] == defaults[name]:
            cfg.pop(name)
    if "scenario_types" in cfg:
        cfg["scenario_types"] = list(cfg["scenario_types"])  # as JSON reads it back
    situations = {"situations_version": SITUATIONS_VERSION} if preset.config.scenario_types else {}
    return {
        "preset": preset.name,
        "config": cfg,
        "version": VERSION,
        "writer_format_version": WRITER_FORMAT_VERSION,
        "world_format_version": WORLD_FORMAT_VERSION,
        "sensor_model_version": SENSOR_MODEL_VERSION,
        "builder_version": BUILDER_VERSION,
        **situations,
    }


def _is_current(root: Path, manifest: dict) -> bool:
    try:
        return json.loads((root / MANIFEST).read_text()) == manifest
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure(name: str = "mini", cache_dir: Path | None = None, progress: bool = True) -> Path:
    """The dataroot of preset ``name``, generated into the cache on first use (or when stale)."""
    if name not in PRESETS:
        raise ValidationError(f"unknown dataset preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    preset = PRESETS[name]
    cache = Path(cache_dir) if cache_dir is not None else cache_root()
    root = cache / name
    manifest = manifest_for(preset)
    if _is_current(root, manifest):
        return root
    with _locked(cache / f".{name}.lock"):
        if _is_current(root, manifest):  # another process finished it while we waited
            return root
        for stale in cache.glob(f".{name}.tmp-*"):
            shutil.rmtree(stale)
        tmp = cache / f".{name}.tmp-{os.getpid()}"
        generate_dataroot(tmp, preset.config, progress=progress)
        (tmp / MANIFEST).write_text(json_dumps(manifest))
        if root.exists():
            old = cache / f".{name}.old-{os.getpid()}"
            os.replace(root, old)
            shutil.rmtree(old)
        os.replace(tmp, root)
    return root


def ensure_split(name: str, split: str, cache_dir: Path | None = None, progress: bool = True) -> Path:
    """A dataroot holding the scenes of ``split`` of preset ``name``, generating as little as it can: the
    full set when it is cached and current, else the split-only preset ``<name>_<split>`` when there is
    one (its scenes are the full set's, byte for byte), else the full set (``ensure``)."""
    cache = Path(cache_dir) if cache_dir is not None else cache_root()
    subset = f"{name}_{split}"
    if subset in PRESETS and not _is_current(cache / name, manifest_for(PRESETS[name])):
        return ensure(subset, cache, progress)
    return ensure(name, cache, progress)
