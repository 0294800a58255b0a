"""Where a camera model's closed-loop images come from, in the summary and the report: rendered at the
simulated pose on a generated world, the logged images (taken at the logged pose) on a real log, none
for a model that reads no camera."""

from __future__ import annotations

import json

from occplan.harness.episode import closed_camera_source
from occplan.harness.report import headline_table, markdown_report
from occplan.interfaces import SensorRequest
from occplan.world.generated import GeneratedWorld
from occplan.world.reconstructed import ReconstructedWorld
from run_closed_loop import main

NOTE = "closed-loop cameras logged"


def test_source_follows_the_request_and_the_world():
    cameras = SensorRequest(cameras=("CAM_FRONT",))
    assert GeneratedWorld.renders_cameras and not ReconstructedWorld.renders_cameras
    assert closed_camera_source(SensorRequest(), GeneratedWorld) == "none"
    assert closed_camera_source(SensorRequest(), ReconstructedWorld) == "none"
    assert closed_camera_source(cameras, GeneratedWorld) == "rendered"
    assert closed_camera_source(cameras, ReconstructedWorld) == "logged"


def _run(data, out, scene: str) -> dict:
    args = ["--model", "occnet", "--planner", "constant_velocity", "--data", str(data), "--scenes", scene]
    assert main([*args, "--mode", "closed", "--max-decisions", "1", "--no-plots", "--out", str(out)]) == 0
    return json.loads((out / "summary.json").read_text())


def test_real_log_flags_logged_cameras(real_mini, tmp_path):
    summary = _run(real_mini, tmp_path / "run", "scene-0916")
    assert summary["meta/closed_cameras"] == "logged"
    assert NOTE in (tmp_path / "run" / "report.md").read_text()
    assert NOTE in headline_table(summary)


def test_generated_world_renders_cameras(tiny_dataroot, tmp_path):
    summary = _run(tiny_dataroot, tmp_path / "run", "scene-0001")
    assert summary["meta/closed_cameras"] == "rendered"
    assert NOTE not in markdown_report(summary, []) and NOTE not in headline_table(summary)
