"""``scenarios.generate``: same seed -> same bytes, different seed -> different world; CLI and splits."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest

from occplan.errors import ValidationError
from scenarios.generate import GenerateConfig, generate_dataroot, main, parse_resolution, scene_seed, splits

SMALL = GenerateConfig(n_scenes=1, seed=0, duration_s=1.0, cam_width_px=32, cam_height_px=18, workers=1)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def test_same_seed_same_bytes_different_seed_different_world(tmp_path):
    generate_dataroot(tmp_path / "a", SMALL, progress=False)
    assert main(["--out", str(tmp_path / "b"), "--scenes", "1", "--seed", "0", "--cam-res", "32x18",
                 "--duration", "1", "--workers", "1"]) == 0  # fmt: skip
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b
    assert json.loads((tmp_path / "a" / "splits.json").read_text()) == {"train": ["scene-0000"], "val": []}
    generate_dataroot(tmp_path / "c", GenerateConfig(**{**SMALL.__dict__, "seed": 1}), progress=False)
    c = _digest(tmp_path / "c")
    worlds_a = {k: v for k, v in a.items() if k.startswith("occplan_worlds/")}
    worlds_c = {k: v for k, v in c.items() if k.startswith("occplan_worlds/")}
    assert worlds_a.keys() == worlds_c.keys() and worlds_a != worlds_c


def test_splits_and_seeds():
    names = [f"scene-{i:04d}" for i in range(12)]
    assert splits(names, 1 / 3) == {"train": names[:8], "val": names[8:]}
    assert splits(names[:2], 0.5) == {"train": names[:1], "val": names[1:2]}
    assert splits(names[:3], 0.01) == {"train": names[:2], "val": names[2:3]}
    assert len({scene_seed(s, i) for s in range(3) for i in range(20)}) == 60


def test_bad_arguments(tmp_path):
    with pytest.raises(ValidationError, match="n_scenes"):
        GenerateConfig(n_scenes=0, seed=0)
    with pytest.raises(argparse.ArgumentTypeError, match="WxH"):
        parse_resolution("800by450")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValidationError, match="not empty"):
        generate_dataroot(tmp_path / "full", SMALL, progress=False)
