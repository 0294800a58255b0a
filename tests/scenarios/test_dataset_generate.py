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


def test_one_split_alone_is_the_full_sets_scenes_byte_for_byte(tmp_path):
    """``only_split``: scene-0004 (val) shares boston-seaport with scene-0000 (train, left out). Its files
    and table rows are the full set's, and a harness run over the val split scores it identically."""
    from occplan.harness.config import RunConfig
    from run_closed_loop import evaluate

    cfg = GenerateConfig(n_scenes=5, seed=0, duration_s=2.0, cam_width_px=48, cam_height_px=27, val_fraction=0.2,
                         workers=1)  # fmt: skip
    generate_dataroot(tmp_path / "full", cfg, progress=False)
    generate_dataroot(tmp_path / "val", GenerateConfig(**{**cfg.__dict__, "only_split": "val"}), progress=False)
    full, val = _digest(tmp_path / "full"), _digest(tmp_path / "val")
    assert json.loads((tmp_path / "val" / "splits.json").read_text()) == {"train": [], "val": ["scene-0004"]}
    scene_files = [k for k in val if not k.startswith(("v1.0-", "maps/")) and k != "splits.json"]
    assert scene_files and all(full[k] == val[k] for k in scene_files)
    assert not any("scene-0000" in k for k in val) and any("scene-0000" in k for k in full)
    for table in (tmp_path / "val").glob("v1.0-*/*.json"):
        rows = json.loads(table.read_text())
        full_rows = json.loads((tmp_path / "full" / table.parent.name / table.name).read_text())
        if table.name == "map.json":  # a location's row lists the logs present: the val scene's only
            full_logs = {log for row in full_rows for log in row["log_tokens"]}
            assert all(set(row["log_tokens"]) <= full_logs for row in rows)
            continue
        assert all(row in full_rows for row in rows), table.name
    summaries = []
    for root in ("full", "val"):
        run = RunConfig(model="oracle", planner="pdm", data=str(tmp_path / root), split="val", max_decisions=2,
                        out=str(tmp_path / f"run-{root}"), plots=False)  # fmt: skip
        summary = evaluate(run)
        summaries.append({k: v for k, v in summary.items() if k not in ("config", "meta/data") and "runtime/" not in k})
    assert summaries[0] == summaries[1] and summaries[0]["meta/n_scenarios"] == 1


def test_only_split_names_a_split():
    with pytest.raises(ValidationError, match="only_split"):
        GenerateConfig(n_scenes=2, seed=0, only_split="test")
