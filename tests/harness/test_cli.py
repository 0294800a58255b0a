"""run_closed_loop.py end to end on the tiny generated set: both passes, each pass alone (a pass reports
only its keys), the human reference, intervals, episode histories that re-score to the summary, the
open-loop occupancy scores equal to ``occplan.evaluate``, W&B offline, kill + resume, Ray with 2
workers. Oracle perception and the constant-velocity planner keep it fast."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from occplan.harness.ray_pool import ray_available
from occplan.metrics.closed_loop import ClosedLoopMetric
from occplan.types import EpisodeHistory
from run_closed_loop import main

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
    """One run of both passes over both tiny scenes with plots and offline W&B."""
    out = tmp_path_factory.mktemp("both") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WANDB_API_KEY", raising=False)
        assert main([*base_args(tiny_dataroot, out), "--wandb", "--wandb-mode", "offline"]) == 0
    return out


def _check_open(s: dict) -> None:
    for key in ("occ/miou", "occ/iou_geo", "occ/rayiou", "lidarseg/miou", "lidarseg/coverage"):
        assert 0 <= s[key] <= 100, key
    assert s["occ/miou"] == 100 and s["occ/rayiou"] == 100 and s["flow/mave"] == 0  # oracle, dataset GT
    for conv in ("stp3", "uniad"):
        for h in ("1s", "2s", "3s", "avg"):
            assert 0 <= s[f"plan/{conv}/l2_{h}"] < 10
            assert s[f"ref/human/plan/{conv}/l2_{h}"] == 0
            for cs in ("veh", "vehped", "occ"):
                assert 0 <= s[f"plan/{conv}/col_{cs}_{h}"] <= 100
                assert 0 <= s[f"ref/human/plan/{conv}/col_{cs}_{h}"] <= 100
        assert s[f"plan/{conv}/l2_1s"] <= s[f"plan/{conv}/l2_3s"]
    assert s["plan/stp3/l2_3s"] <= s["plan/uniad/l2_3s"]  # a mean up to the horizon vs the value at it
    assert s["meta/occ_gt_source"] == "dataset"
    assert s["occ/miou/ci95_low"] <= s["occ/miou"] <= s["occ/miou/ci95_high"]


def _check_closed(s: dict) -> None:
    for key in ("sim/collision_rate", "sim/offroad_rate", "sim/progress_ratio", "sim/score", "sim/ttc_ok"):
        assert 0 <= s[key] <= 1, key
        assert 0 <= s[f"ref/human/{key}"] <= 1, key
        assert s[f"{key}/ci95_low"] <= s[key] <= s[f"{key}/ci95_high"], key
    assert s["closed/occ/miou"] == 100 and s["closed/occ/rayiou"] == 100  # oracle at the simulated pose
    assert s["sim/log_divergence_m"] >= 0 and s["ref/human/sim/log_divergence_m"] == 0
    assert s["ref/human/sim/collision_rate"] == 0 and s["ref/human/sim/offroad_rate"] == 0


def _check_common(s: dict) -> None:
    assert all(s[f"runtime/{k}_ms"] > 0 for k in ("model", "planner", "sim"))
    assert s["meta/protocol"] == "occplan-metrics-3" and s["meta/label_set"] == "occ3d"
    assert s["meta/grid"] == "occ3d_nuscenes" and s["meta/privileged_model"] is True
    assert s["meta/route_source"] == "map_lanes"


def test_both_passes_summary(closed_run):
    s = load(closed_run)
    _check_open(s), _check_closed(s), _check_common(s)
    assert s["meta/n_scenarios"] == 2 and s["sim/n_episodes"] == 2 and s["ref/human/sim/n_episodes"] == 2
    assert s["occ/n_frames"] == 2 * (DECISIONS + 1) and s["plan/n_samples_all"] == 2 * DECISIONS
    assert s["plan/n_samples"] == 2 * DECISIONS
    assert s["config"]["mode"] == "both" and s["meta/mode"] == "both"
    assert s["meta/closed_cameras"] == "none"  # the oracle reads no camera
    lines = (closed_run / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["scenario"] for line in lines) == s["meta/scenarios"]
    report = (closed_run / "report.md").read_text()
    assert "occ/rayiou" in report and "privileged model" in report and "scene-0001" in report
    plots = {p.name for p in (closed_run / "plots").iterdir()}
    assert {"iou_per_class.png", "planning_vs_horizon.png", "bev_scene-0000_closed.gif"} <= plots
    assert "bev_scene-0001_open.png" in plots
    from PIL import Image

    with Image.open(closed_run / "plots" / "bev_scene-0000_closed.gif") as gif:
        assert gif.n_frames == DECISIONS


def test_episode_histories_rescore_to_the_summary(closed_run):
    s = load(closed_run)
    metric = ClosedLoopMetric()
    for scene in s["meta/scenarios"]:
        history = EpisodeHistory.load(closed_run / "episodes" / f"{scene}.npz")
        assert history.num_steps == 1 + 5 * DECISIONS and len(history.route_xy) > 2
        metric.update(history)
    for key, value in metric.compute().items():
        assert s[key] == pytest.approx(value, nan_ok=True), key


def test_each_pass_alone_reports_only_its_keys(tiny_dataroot, tmp_path):
    out = tmp_path / "open"
    assert main([*base_args(tiny_dataroot, out), "--mode", "open", "--scenes", "scene-0001", "--no-plots"]) == 0
    s = load(out)
    _check_open(s), _check_common(s)
    assert s["meta/mode"] == "open" and s["meta/n_scenarios"] == 1
    assert not [k for k in s if k.startswith(("sim/", "closed/", "ref/human/sim/"))]
    assert not (out / "plots").exists() and not (out / "episodes").exists()
    out = tmp_path / "closed"
    assert main([*base_args(tiny_dataroot, out), "--mode", "closed", "--scenes", "scene-0001", "--no-plots"]) == 0
    s = load(out)
    _check_closed(s), _check_common(s)
    assert not [k for k in s if k.startswith(("plan/", "occ/", "flow/", "lidarseg/", "ref/human/plan/"))]


def test_log_replay_in_open_loop_scores_l2_zero(tiny_dataroot, tmp_path):
    out = tmp_path / "log"
    args = ["--model", "oracle", "--planner", "log_replay", "--data", str(tiny_dataroot), "--split", "val",
            "--mode", "open", "--no-plots", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    s = load(out)
    for conv in ("stp3", "uniad"):
        assert s[f"plan/{conv}/l2_avg"] == pytest.approx(0, abs=1e-9)
        for cs in ("veh", "vehped"):  # the log's own collisions are excluded from the planner's numerator
            assert s[f"plan/{conv}/col_{cs}_avg"] == 0
            assert s[f"ref/human/plan/{conv}/col_{cs}_avg"] >= 0
    assert s["meta/privileged_planner"] is True


def test_open_loop_occupancy_equals_the_standalone_evaluator(tiny_dataroot, tmp_path):
    """The harness's open-loop occ/* on the oracle's predictions equal occplan.evaluate on the same
    predictions written as files (every keyframe of the val scene)."""
    from occplan.data import NuScenesSource
    from occplan.evaluate import evaluate
    from occplan.sim import SimConfig, Simulator

    out = tmp_path / "run"
    args = ["--model", "oracle", "--planner", "constant_velocity", "--data", str(tiny_dataroot), "--split", "val",
            "--mode", "open", "--no-plots", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    s = load(out)
    source = NuScenesSource(tiny_dataroot, "v1.0-occplan")
    scenario = source.scenario(source.scene_names("val")[0])
    sim = Simulator(SimConfig(mode="open"))
    state = sim.reset(scenario, 0, source=source)
    preds = tmp_path / "preds"
    preds.mkdir()
    while True:  # the oracle's prediction = the simulator's GT at each keyframe
        gt = sim.ground_truth(state)
        np.savez(preds / f"{sim.keyframe(state).sample_token}.npz", pred=gt.semantics, flow=gt.flow)
        if sim.done(state):
            break
        state = sim.step(state, sim.log_future(state))
    ref = evaluate(source, preds, split="val")
    assert s["occ/n_frames"] == len(scenario.frames)
    for key in ("occ/miou", "occ/miou_lidar_mask", "occ/miou_nomask", "occ/iou_geo", "occ/rayiou", "flow/mave"):
        assert s[key] == pytest.approx(ref[key], abs=1e-9), key


def test_wandb_offline_run_holds_the_metrics(closed_run):
    files = list((closed_run / "wandb").rglob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    history, summary = history_and_summary(files[0])
    steps = [h for h in history if "step/decision" in h]
    assert len(steps) == 2 * (DECISIONS + 1 + DECISIONS)  # per scene: open keyframes, closed decisions
    assert {h["step/pass"] for h in steps} == {"open", "closed"}
    assert {h["step/scenario"] for h in steps} == {"scene-0000", "scene-0001"}
    assert sum("scenario/sim/score" in h for h in history) == 2
    s = load(closed_run)
    for key in ("occ/miou", "plan/stp3/l2_avg", "sim/score", "sim/progress_ratio"):
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


def test_resuming_a_run_of_an_earlier_protocol_is_refused(tiny_dataroot, tmp_path, capsys):
    out = tmp_path / "old"
    args = [*base_args(tiny_dataroot, out), "--scenes", "scene-0001", "--max-decisions", "1", "--no-plots"]
    assert main(args) == 0
    results = out / "results.jsonl"
    record = json.loads(results.read_text())
    record["state"] = {"occ": None, "plan": {"rows": []}}  # the single-pass state layout of protocol 1
    results.write_text(json.dumps(record) + "\n")
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "results.jsonl" in err and "earlier protocol" in err


def test_an_empty_split_names_the_way_out(tiny_dataroot, tmp_path, capsys):
    """A dataroot whose val split is empty (a one-scene generated set): the error says how many scenes
    there are and which flags run them."""
    root = tmp_path / "root"
    root.mkdir()
    for entry in tiny_dataroot.iterdir():
        if entry.name != "splits.json":
            (root / entry.name).symlink_to(entry)
    (root / "splits.json").write_text(json.dumps({"train": ["scene-0000", "scene-0001"], "val": []}))
    assert main(["--model", "oracle", "--data", str(root), "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert "split 'val' has no scenes (the dataroot has 2; --split all runs every scene" in err
