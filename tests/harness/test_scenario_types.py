"""Scenario types: the ``scenario_types.json`` reader (round trip, errors naming file and field), the
source hook, per-type metrics with their bootstrap intervals (equal to the metrics of the type's
scenarios merged alone; untagged scenarios in no type) and the report's per-type table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from occplan.data.scenario_types import (
    SCENARIO_TYPES_FILE,
    ScenarioTag,
    parse_scenario_types,
    read_scenario_types,
    scenario_types_json,
)
from occplan.errors import DataError, ValidationError
from occplan.harness.accumulate import MetricSet, RunMetrics, per_type_metrics
from occplan.harness.report import HEADLINE_KEYS, markdown_report, scenario_type_table
from occplan.metrics import PlanningSample
from occplan.types import GridSpec, LabelSet, Trajectory

GRID = GridSpec.occ3d_nuscenes()
LABELS = LabelSet.occ3d()
KEY = "plan/stp3/l2_avg"


def test_table_round_trip(tmp_path) -> None:
    tags = {
        "scene-0001": ScenarioTag("braking_lead", {"passed": True, "lead_min_accel_mps2": -6.0}),
        "scene-0000": ScenarioTag("occluded_pedestrian", {"passed": False, "returns": [0, 3]}),
    }
    (tmp_path / SCENARIO_TYPES_FILE).write_text(json.dumps(scenario_types_json(tags)))
    back = read_scenario_types(tmp_path)
    assert back == tags
    assert list(back) == ["scene-0001", "scene-0000"]
    assert back["scene-0001"].passed and not back["scene-0000"].passed


def test_missing_table_means_no_types(tmp_path) -> None:
    assert read_scenario_types(tmp_path) == {}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "expected a JSON object"),
        ({"s": {"type": "Bad Name"}}, "field 'type'"),
        ({"s": {"check": {}}}, "field 'type'"),
        ({"s": {"type": "a", "check": []}}, "field 'check'"),
        ({"s": {"type": "a", "check": {"passed": 1}}}, "field 'check.passed'"),
        ({"s": {"type": "a", "check": {"x": {"y": 1}}}}, "field 'check.x'"),
        ({"s": {"type": "a", "kind": "b"}}, "unknown fields ['kind']"),
    ],
)
def test_bad_table_names_file_and_field(data, field: str) -> None:
    with pytest.raises(DataError, match="scenario_types.json") as e:
        parse_scenario_types(data, "/root/scenario_types.json")
    assert field in str(e.value)


def test_invalid_json_names_file(tmp_path) -> None:
    (tmp_path / SCENARIO_TYPES_FILE).write_text("{")
    with pytest.raises(DataError, match=r"scenario_types.json: not valid JSON"):
        read_scenario_types(tmp_path)


def _state(l2: float) -> dict:
    """Open-pass state of one scenario whose only planning sample is off the log by ``l2`` m in x."""
    ms = MetricSet(GRID, LABELS, "open")
    log = np.column_stack([np.arange(1.0, 7.0), np.zeros(6)])
    plan = Trajectory.from_xy(log + np.array([l2, 0.0]))
    ms.update(PlanningSample("s", plan.poses, log, np.ones(6, bool), ((),) * 6))
    return {"open": ms.state(), "closed": None, "human": None}


def test_per_type_metrics_equal_the_types_scenarios_alone() -> None:
    states = [_state(v) for v in (1.0, 2.0, 4.0, 8.0)]
    types = ["a", None, "a", "b"]
    out = per_type_metrics(GRID, LABELS, states, types, HEADLINE_KEYS, n_resamples=50, seed=0)
    alone = RunMetrics.merged(GRID, LABELS, [states[0], states[2]]).compute()
    assert out["type/a/n_scenarios"] == 2.0 and out["type/b/n_scenarios"] == 1.0
    assert out[f"type/a/{KEY}"] == pytest.approx(alone[KEY]) == pytest.approx(2.5)  # mean of 1 and 4 m
    assert out[f"type/b/{KEY}"] == pytest.approx(8.0)
    # one scenario: both bounds are its value; two: the bounds lie within the two scenarios' values
    assert out[f"type/b/{KEY}/ci95_low"] == out[f"type/b/{KEY}/ci95_high"] == pytest.approx(8.0)
    assert 1.0 <= out[f"type/a/{KEY}/ci95_low"] <= 2.5 <= out[f"type/a/{KEY}/ci95_high"] <= 4.0
    assert not any(k.startswith("type/None") for k in out)  # the untagged scenario is in no type
    assert not any("sim/" in k for k in out)  # keys the pass did not give are left out


def test_untagged_run_has_no_type_keys() -> None:
    states = [_state(1.0), _state(2.0)]
    assert per_type_metrics(GRID, LABELS, states, [None, None], HEADLINE_KEYS, 10, 0) == {}
    with pytest.raises(ValidationError, match="2 scenario states but 1 types"):
        per_type_metrics(GRID, LABELS, states, [None], HEADLINE_KEYS, 10, 0)


def test_report_prints_headline_keys_by_type() -> None:
    summary = {
        "meta/mode": "open",
        KEY: 3.0,
        "type/a/n_scenarios": 2.0,
        f"type/a/{KEY}": 2.5,
        f"type/a/{KEY}/ci95_low": 1.0,
        f"type/a/{KEY}/ci95_high": 4.0,
        "type/b/n_scenarios": 1.0,
        f"type/b/{KEY}": 8.0,
        "type/b/sim/score": 0.5,  # a closed-loop key in an open-loop run stays out
    }
    table = scenario_type_table(summary)
    lines = table.splitlines()
    assert [c.strip() for c in lines[0].split("|")[2:4]] == ["a", "b"]
    assert [c.strip() for c in lines[2].split("|")[1:4]] == ["n_scenarios", "2", "1"]
    assert [c.strip() for c in lines[3].split("|")[1:4]] == [KEY, "2.500 [1, 4]", "8"]
    assert "sim/score" not in table
    report = markdown_report(summary, [])
    assert "## Scenario types" in report
    assert "## type" not in report  # type keys are not repeated in the per-namespace sections


def test_report_without_types_has_no_type_section() -> None:
    assert scenario_type_table({"meta/mode": "open", KEY: 1.0}) == ""
    assert "Scenario types" not in markdown_report({"meta/mode": "open", KEY: 1.0}, [])


def _linked_tiny(tmp_path):
    """A dataroot whose entries link to the tiny set's (so a table can be added beside them)."""
    from scenarios.datasets import ensure

    tiny = ensure("tiny", progress=False)
    root = tmp_path / "root"
    root.mkdir()
    for entry in tiny.iterdir():
        (root / entry.name).symlink_to(entry)
    return root


def test_source_reads_the_table(tmp_path) -> None:
    from occplan.data import NuScenesSource

    root = _linked_tiny(tmp_path)
    scenes = NuScenesSource(root, "v1.0-occplan").scene_names()
    assert NuScenesSource(root, "v1.0-occplan").scenario_type(scenes[0]) is None  # no table: no type
    table = {scenes[0]: ScenarioTag("braking_lead", {"passed": True})}
    (root / SCENARIO_TYPES_FILE).write_text(json.dumps(scenario_types_json(table)))
    source = NuScenesSource(root, "v1.0-occplan")
    assert source.scenario_type(scenes[0]) == "braking_lead"
    assert source.scenario_type(scenes[1]) is None
    (root / SCENARIO_TYPES_FILE).write_text(json.dumps({"scene-9999": {"type": "x", "check": {}}}))
    with pytest.raises(DataError, match=r"scenario_types.json: scenes \['scene-9999'\] are not in the dataroot"):
        NuScenesSource(root, "v1.0-occplan").scenario_types()


def test_run_summary_reports_per_type(tmp_path) -> None:
    """``runner.summarize`` over a dataroot with a table: per-type keys for the tagged scenes, the
    scene -> type map in meta; without a table neither appears and the overall keys are the same."""
    from occplan.harness.config import RunConfig
    from occplan.harness.runner import summarize

    root = _linked_tiny(tmp_path)
    scenes = ["scene-0000", "scene-0001"]
    meta = {"privileged_model": False, "privileged_planner": False, "occ_gt_source": "x", "route_source": "y"}
    records = {s: {"state": _state(v), "meta": meta} for s, v in zip(scenes, (1.0, 3.0), strict=True)}
    config = RunConfig(data=str(root), version="v1.0-occplan", mode="open", out=str(tmp_path / "run"))
    plain, _ = summarize(config, scenes, records)
    assert not any(k.startswith("type/") for k in plain) and "meta/scenario_types" not in plain
    table = {"scene-0001": ScenarioTag("cut_in", {"passed": True})}
    (root / SCENARIO_TYPES_FILE).write_text(json.dumps(scenario_types_json(table)))
    from occplan.harness.episode import data_source

    data_source.cache_clear()  # the source of a dataroot is cached per process
    typed, _ = summarize(config, scenes, records)
    assert typed["meta/scenario_types"] == {"scene-0001": "cut_in"}
    assert typed[f"type/cut_in/{KEY}"] == pytest.approx(3.0) and typed["type/cut_in/n_scenarios"] == 1.0
    assert {k: v for k, v in typed.items() if not k.startswith(("type/", "meta/scenario_types"))} == plain
