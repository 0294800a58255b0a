"""run_closed_loop.py end to end on the tiny generated set: closed and open loop, W&B offline,
kill + resume, Ray with 2 workers. Oracle perception and the constant-velocity planner keep it fast."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from occplan.harness.cli import main
from occplan.harness.ray_pool import ray_available

from .wandb_offline import history_and_summary

REPO = Path(__file__).resolve().parents[2]
DECISIONS = 7  # 2 decisions per scene have their full 3 s future inside the episode


def base_args(dataroot: Path, out: Path) -> list[str]:
    return [
        "--model", "oracle", "--planner", "constant_velocity", "--data", str(dataroot), "--split", "all",
        "--max-decisions", str(DECISIONS), "--out", str(out),
    ]  # fmt: skip


def comparable(summary: dict) -> dict:
    """The summary without what legitimately differs between runs (config paths, wall times)."""
    return {k: v for k, v in summary.items() if k != "config" and not k.startswith("runtime/")}


def load(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def closed_run(tiny_dataroot, tmp_path_factory) -> Path:
    """One closed-loop run over both tiny scenes with plots and offline W&B."""
    out = tmp_path_factory.mktemp("closed") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WANDB_API_KEY", raising=False)
        assert main([*base_args(tiny_dataroot, out), "--wandb", "--wandb-mode", "offline"]) == 0
    return out


def _check_ranges(s: dict) -> None:
    for key in ("occ/miou", "occ/iou_geo", "occ/rayiou", "lidarseg/miou", "lidarseg/coverage"):
        assert 0 <= s[key] <= 100, key
    assert s["occ/miou"] == 100 and s["occ/rayiou"] == 100 and s["flow/mave"] == 0  # oracle
    for key in ("plan/l2_at_1s", "plan/l2_at_3s", "plan/l2_avg"):
        assert 0 <= s[key] < 10, key
    assert s["plan/l2_at_1s"] <= s["plan/l2_at_3s"]
    for key in ("plan/col_veh_at_3s", "plan/col_vehped_avg_to_3s", "plan/col_occ_at_3s"):
        assert 0 <= s[key] <= 100, key
    for key in ("sim/collision_rate", "sim/offroad_rate", "sim/progress_ratio", "sim/score", "sim/ttc_ok"):
        assert 0 <= s[key] <= 1, key
    assert s["sim/log_divergence_m"] >= 0
    assert all(s[f"runtime/{k}_ms"] > 0 for k in ("model", "planner", "sim"))
    assert s["meta/protocol"] == "occplan-metrics-1" and s["meta/label_set"] == "occ3d"
    assert s["meta/grid"] == "occ3d_nuscenes" and s["meta/privileged_model"] is True


def test_closed_loop_summary(closed_run):
    s = load(closed_run)
    _check_ranges(s)
    assert s["meta/n_scenarios"] == 2 and s["sim/n_episodes"] == 2
    assert s["occ/n_frames"] == 2 * DECISIONS and s["plan/n_samples_all"] == 2 * DECISIONS
    assert s["plan/n_samples"] == 4
    assert s["config"]["mode"] == "closed" and s["meta/mode"] == "closed"
    lines = (closed_run / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["scenario"] for line in lines) == s["meta/scenarios"]
    report = (closed_run / "report.md").read_text()
    assert "occ/rayiou" in report and "privileged model" in report and "scene-0001" in report
    plots = {p.name for p in (closed_run / "plots").iterdir()}
    assert {"iou_per_class.png", "planning_vs_horizon.png", "bev_scene-0000.gif", "bev_scene-0001.png"} <= plots
    from PIL import Image

    with Image.open(closed_run / "plots" / "bev_scene-0000.gif") as gif:
        assert gif.n_frames == DECISIONS


def test_open_loop_summary(tiny_dataroot, tmp_path):
    out = tmp_path / "open"
    assert main([*base_args(tiny_dataroot, out), "--mode", "open", "--scenes", "scene-0001", "--no-plots"]) == 0
    s = load(out)
    _check_ranges(s)
    assert s["meta/mode"] == "open" and s["meta/n_scenarios"] == 1
    assert s["sim/log_divergence_m"] < 1e-6  # open loop: the ego follows the log
    assert not (out / "plots").exists()


def test_wandb_offline_run_holds_the_metrics(closed_run):
    files = list((closed_run / "wandb").rglob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    history, summary = history_and_summary(files[0])
    steps = [h for h in history if "step/decision" in h]
    assert len(steps) == 2 * DECISIONS
    assert {h["step/scenario"] for h in steps} == {"scene-0000", "scene-0001"}
    assert sum("scenario/sim/score" in h for h in history) == 2
    s = load(closed_run)
    for key in ("occ/miou", "plan/l2_avg", "sim/score", "sim/progress_ratio"):
        assert math.isclose(summary[key], s[key], rel_tol=1e-12), key
    media = {p.parent.name for p in files[0].parent.rglob("media/*/*/*")} | {
        p.parent.name for p in files[0].parent.rglob("media/table/*")
    }
    assert {"bev", "plots", "table"} <= media


def test_killed_run_resumes_to_the_same_summary(closed_run, tiny_dataroot, tmp_path):
    out = tmp_path / "killed"
    args = [*base_args(tiny_dataroot, out), "--no-plots"]
    proc = subprocess.Popen([sys.executable, "run_closed_loop.py", *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    results = out / "results.jsonl"
    try:
        deadline = time.monotonic() + 600
        while not (results.exists() and results.read_text().count("\n") >= 1):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    assert results.read_text().count("\n") == 1 and not (out / "summary.json").exists()
    with open(results, "a") as f:  # a record cut by the kill is discarded on resume
        f.write('{"scenario": "scene-00')
    assert main([*args, "--resume"]) == 0
    assert comparable(load(out)) == comparable(load(closed_run))
    assert results.read_text().count("\n") == 2


@pytest.mark.skipif(not ray_available(), reason="ray is not installed (pip install 'ray[default]')")
def test_ray_two_workers_equal_single_process(closed_run, tiny_dataroot, tmp_path):
    out = tmp_path / "ray"
    assert main([*base_args(tiny_dataroot, out), "--no-plots", "--workers", "2"]) == 0
    assert comparable(load(out)) == comparable(load(closed_run))
