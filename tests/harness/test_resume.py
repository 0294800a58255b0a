"""Resume across metric changes (``occplan.harness.resume``), with docs/EXTENDING.md's example metric
registered in a temporary registry: it accumulates, merges and computes like the built-in metrics and
reaches a run's summary; a resume runs again only the records that lack it, refuses a changed schema
version naming the metric and both versions, computes a metric of the recorded episode from
``episodes/<scene>.npz`` without running the scenario, and reads records written before per-metric
versions as version 1 (the figures they were written with)."""

from __future__ import annotations

import json
import re
import shutil
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from occplan.harness import runner
from occplan.harness.accumulate import MetricSet, RunMetrics
from occplan.harness.config import RunConfig
from occplan.harness.resume import resumable_records
from occplan.harness.store import RunStore
from occplan.io import json_safe
from occplan.metrics import registry as metric_registry
from occplan.metrics.records import OccupancyStep
from occplan.metrics.registry import MetricContext, MetricSpec
from occplan.types import EpisodeHistory, GridSpec, LabelSet, OccupancyFrame, OccupancyPrediction
from run_closed_loop import main

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "EXTENDING.md"
LEGACY_RECORD = Path(__file__).parent / "data" / "record_before_metric_versions.json"
GRID = GridSpec.occ3d_nuscenes()
LABELS = LabelSet.occ3d()


def register_example(mp: pytest.MonkeyPatch, version: int = 1) -> types.ModuleType:
    """docs/EXTENDING.md's metric module, run as written, its spec (at ``version`` when it is not the
    page's) registered in a copy of the registry that replaces ``METRICS`` for the test."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text().split("# Adding a metric", 1)[1], re.S).group(1)
    module = types.ModuleType("voxel_accuracy_example")
    mp.setitem(sys.modules, module.__name__, module)
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    spec = replace(module.VOXEL_ACCURACY_SPEC, version=version)
    mp.setattr(metric_registry, "METRICS", metric_registry.METRICS.extended(spec))
    return module


def run_args(dataroot: Path, out: Path) -> list[str]:
    return [
        "--model", "oracle", "--planner", "constant_velocity", "--data", str(dataroot), "--split", "all",
        "--max-decisions", "2", "--no-plots", "--out", str(out),
    ]  # fmt: skip


def figures(out: Path) -> dict:
    """summary.json without the wall times and the config (which names the output folder)."""
    summary = json.loads((out / "summary.json").read_text())
    return {k: v for k, v in summary.items() if not k.startswith("runtime/") and k != "config"}


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def base_run(tiny_dataroot, tmp_path_factory) -> Path:
    """Both passes on the tiny set's two scenes with the example metric registered."""
    out = tmp_path_factory.mktemp("resume") / "base"
    with pytest.MonkeyPatch.context() as mp:
        register_example(mp)
        assert main(run_args(tiny_dataroot, out)) == 0
    return out


def resumed_copy(base_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(base_run, out)
    (out / "summary.json").unlink()
    return out


def test_the_example_metric_accumulates_merges_and_computes(monkeypatch):
    register_example(monkeypatch)
    rng = np.random.default_rng(3)
    steps = []
    for _ in range(3):
        gt = rng.integers(0, LABELS.num_classes, GRID.shape, dtype=np.uint8)
        pred = np.where(rng.random(GRID.shape) < 0.7, gt, LABELS.free_index).astype(np.uint8)
        steps.append(OccupancyStep(OccupancyFrame(gt, GRID, LABELS), OccupancyPrediction(pred, GRID, LABELS),
                                   np.zeros((1, 3))))  # fmt: skip
    whole = MetricSet(GRID, LABELS, "open")
    per_step = [whole.update(s)["voxel_accuracy"] for s in steps]
    equal = [int((s.gt.semantics == s.pred.semantics).sum()) for s in steps]
    assert per_step == pytest.approx([100 * e / GRID.num_voxels for e in equal], rel=1e-12)
    assert whole.state()["voxel_accuracy"] == {
        "version": 1,
        "state": {"equal": sum(equal), "total": 3 * GRID.num_voxels},
    }
    parts = []
    for chunk in (steps[:1], steps[1:]):
        ms = MetricSet(GRID, LABELS, "open")
        for s in chunk:
            ms.update(s)
        parts.append(json.loads(json.dumps(json_safe(ms.state()))))
    merged = MetricSet.merged(GRID, LABELS, "open", parts).compute()
    assert merged["occ/voxel_accuracy"] == pytest.approx(100 * sum(equal) / (3 * GRID.num_voxels), rel=1e-12)
    assert json_safe(merged) == json_safe(whole.compute())
    closed = MetricSet(GRID, LABELS, "closed")
    closed.update(steps[0])
    assert closed.compute()["closed/occ/voxel_accuracy"] == pytest.approx(per_step[0], rel=1e-12)


def test_a_run_reports_the_example_metric(base_run):
    """Every step logs its own accuracy; the summary of each pass is their mean (one grid: equal
    voxel counts per step), merged over the scenarios' states."""
    s = figures(base_run)
    steps = [step for r in records(base_run) for step in r["steps"]]
    for p, key in (("open", "occ/voxel_accuracy"), ("closed", "closed/occ/voxel_accuracy")):
        per_step = [step["voxel_accuracy"] for step in steps if step["pass"] == p]
        assert per_step
        assert s[key] == pytest.approx(np.mean(per_step), rel=1e-12) and 0 < s[key] <= 100


def test_resume_runs_again_only_the_records_that_lack_a_new_metric(
    base_run, tiny_dataroot, tmp_path, monkeypatch, capsys
):
    out = resumed_copy(base_run, tmp_path)
    first, second = records(out)
    for p in ("open", "closed"):  # as written before the metric existed
        del first["state"][p]["voxel_accuracy"]
    (out / "results.jsonl").write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    register_example(monkeypatch)
    ran: list[str] = []
    run_scenario = runner.run_scenario
    monkeypatch.setattr(runner, "run_scenario", lambda *a: ran.append(a[-1]) or run_scenario(*a))
    assert main([*run_args(tiny_dataroot, out), "--resume"]) == 0
    assert ran == [first["scenario"]]
    err = capsys.readouterr().err
    assert f"the records of ['{first['scenario']}'] lack metric 'voxel_accuracy' (version 1" in err
    assert figures(out) == figures(base_run)


def test_resume_refuses_a_changed_schema_version(base_run, tiny_dataroot, tmp_path, monkeypatch, capsys):
    out = resumed_copy(base_run, tmp_path)
    register_example(monkeypatch, version=2)
    assert main([*run_args(tiny_dataroot, out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert str(out / "results.jsonl") in err
    assert "metric 'voxel_accuracy' (open pass) recorded with state version 1" in err
    assert "this code writes version 2" in err and "start a new run" in err


class MaxSpeed:
    """A metric of the recorded episode: the largest ego speed (m/s) over the episodes."""

    def __init__(self, context: MetricContext) -> None:
        self.max_mps: float | None = None

    def update(self, history: EpisodeHistory) -> None:
        self.merge_state({"max_mps": float(np.hypot(*history.ego_velocity.T).max())})

    def compute(self) -> dict[str, float]:
        return {} if self.max_mps is None else {"sim/max_speed_mps": self.max_mps}

    def state(self) -> dict:
        return {"max_mps": self.max_mps}

    def merge_state(self, state: dict) -> None:
        if state["max_mps"] is not None:
            self.max_mps = max(state["max_mps"], self.max_mps or 0.0)


def test_resume_computes_a_new_metric_of_the_recorded_episode_without_running_again(
    base_run, tiny_dataroot, tmp_path, monkeypatch
):
    out = resumed_copy(base_run, tmp_path)
    spec = MetricSpec("max_speed", 1, {"closed": ""}, EpisodeHistory, MaxSpeed, MaxSpeed.update, MaxSpeed.compute)
    register_example(monkeypatch)
    monkeypatch.setattr(metric_registry, "METRICS", metric_registry.METRICS.extended(spec))
    monkeypatch.setattr(runner, "run_scenario", lambda *a: pytest.fail(f"scenario run again: {a[-1]}"))
    assert main([*run_args(tiny_dataroot, out), "--resume"]) == 0
    by_hand = max(np.hypot(*EpisodeHistory.load(p).ego_velocity.T).max() for p in (out / "episodes").glob("*.npz"))
    assert figures(out)["sim/max_speed_mps"] == pytest.approx(by_hand, rel=1e-12)
    assert {k: v for k, v in figures(out).items() if k != "sim/max_speed_mps"} == figures(base_run)
    lines = records(out)
    assert len(lines) == 4 and all(r["state"]["closed"]["max_speed"]["version"] == 1 for r in lines[2:])
    assert main([*run_args(tiny_dataroot, out), "--resume"]) == 0
    assert len(records(out)) == 4  # completed records are kept as they are


def test_records_written_before_metric_versions_resume_as_version_1(tmp_path):
    """A record of the layout without per-metric versions (each pass state holding the metrics' states
    bare, the human pass the closed-loop state itself) keeps its scenario finished, and its states give
    the per-scenario figures that the record was written with."""
    record = json.loads(LEGACY_RECORD.read_text())
    store = RunStore(tmp_path, RunConfig(model="oracle", planner="constant_velocity", resume=True))
    kept = resumable_records(store, {record["scenario"]: record}, GRID, LABELS)[record["scenario"]]
    assert kept["state"]["human"] == {"closed_loop": {"version": 1, "state": record["state"]["human"]}}
    assert kept["state"]["open"]["ray"] == {"version": 1, "state": record["state"]["open"]["ray"]}
    assert json_safe(RunMetrics.merged(GRID, LABELS, [kept["state"]]).compute()) == record["metrics"]
    assert not (tmp_path / "results.jsonl").exists()  # nothing to complete, nothing appended
