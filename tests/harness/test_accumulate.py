"""MetricSet and RunMetrics: records reach the registered metrics of their pass; the state of split
accumulations, merged in order through JSON, equals one global accumulation (what makes in-process,
Ray and resumed runs agree); each metric's keys equal its accumulator fed directly; pass prefixes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.harness.accumulate import MetricSet, RunMetrics
from occplan.io import json_safe
from occplan.metrics import (
    METRICS,
    LidarSegMetric,
    LidarSegStep,
    OccupancyMetric,
    OccupancyMetricConfig,
    OccupancyStep,
    PlanningMetric,
    PlanningSample,
    RayIoUConfig,
    RayIoUMetric,
    StepRuntime,
)
from occplan.types import GridSpec, LabelSet, OccupancyFrame, OccupancyPrediction, Trajectory

GRID = GridSpec.occ3d_nuscenes()
LABELS = LabelSet.occ3d()
ORIGINS = np.array([[0.0, 0.0, 1.8]])
MASKS = ("camera", "lidar", "none")


def _occ_sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    gt = np.full(GRID.shape, LABELS.free_index, np.uint8)
    gt[:, :, :3] = rng.integers(0, LABELS.num_classes, (200, 200, 3), dtype=np.uint8)
    pred = np.where(rng.random(GRID.shape) < 0.8, gt, rng.integers(0, LABELS.num_classes, GRID.shape)).astype(np.uint8)
    return gt, pred, rng.random(GRID.shape) < 0.7, rng.random(GRID.shape) < 0.6


def _plan_sample(rng: np.random.Generator, i: int) -> PlanningSample:
    log = np.cumsum(rng.random((6, 2)), axis=0)
    valid = np.ones(6, bool) if i % 3 else np.array([1, 1, 1, 1, 0, 0], bool)
    plan = Trajectory.from_xy(log + rng.normal(0, 0.5, (6, 2)))
    return PlanningSample(f"s{i}", plan.poses, log, valid, ((),) * 6)


def _points(n: int) -> np.ndarray:
    return np.random.default_rng(n).uniform(-45, 45, (n, 3))


@pytest.fixture(scope="module")
def samples() -> list:
    rng = np.random.default_rng(0)
    out = []
    for i in range(4):
        gt, pred, cam, lid = _occ_sample(rng)
        labels_gt = rng.integers(0, 32, 500 + i, dtype=np.uint8)
        flow_gt = rng.normal(0, 2, (*GRID.shape, 2)).astype(np.float32)
        flow_pred = (flow_gt + rng.normal(0, 0.5, flow_gt.shape)).astype(np.float32)
        gt_frame = OccupancyFrame(gt, GRID, LABELS, flow=flow_gt, mask_lidar=lid, mask_camera=cam)
        pred_frame = OccupancyPrediction(pred, GRID, LABELS, flow=flow_pred)
        out.append((gt_frame, pred_frame, labels_gt, _plan_sample(rng, i), float(i + 1)))
    return out


def _fill(ms: MetricSet, samples: list) -> list[dict[str, float]]:
    """Hand each sample's records to ``ms``; returns the per-step scalars of the occupancy steps."""
    steps = []
    for gt, pred, labels_gt, plan, ms_model in samples:
        steps.append(ms.update(OccupancyStep(gt, pred, ORIGINS)))
        ms.update(LidarSegStep(labels_gt, points_m=_points(len(labels_gt)), pred=pred))
        ms.update(plan)
        ms.update(StepRuntime("model", ms_model))
    return steps


def _json(state: dict) -> dict:
    return json.loads(json.dumps(json_safe(state), allow_nan=False))  # strict JSON round trip


def test_each_metric_equals_its_accumulator_fed_directly(samples):
    ms = MetricSet(GRID, LABELS, "open")
    steps = _fill(ms, samples)
    occ = OccupancyMetric(OccupancyMetricConfig(GRID, LABELS, MASKS))
    ray = RayIoUMetric(RayIoUConfig(GRID, LABELS))
    lidarseg, plan = LidarSegMetric(), PlanningMetric()
    for gt, pred, labels_gt, sample, _ in samples:
        occ.update((gt, pred))
        ray.update_arrays(gt.semantics, pred.semantics, ORIGINS, gt.flow, pred.flow)
        lidarseg.update_from_voxels(_points(len(labels_gt)), labels_gt, pred.semantics, GRID, LABELS)
        plan.update(sample)
    expected = occ.compute() | ray.compute() | lidarseg.compute() | plan.compute() | plan.compute_human()
    expected |= {"runtime/model_ms": 2.5, "runtime/planner_ms": float("nan"), "runtime/sim_ms": float("nan")}
    got = ms.compute()
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        np.testing.assert_equal(got[k], v, err_msg=k)
    # the per-step scalar: geometric IoU of that sample alone (camera mask), by hand
    gt, pred = samples[0][0], samples[0][1]
    occupied_gt = (gt.semantics != LABELS.free_index)[gt.mask_camera]
    occupied_pred = (pred.semantics != LABELS.free_index)[gt.mask_camera]
    by_hand = (occupied_gt & occupied_pred).sum() / (occupied_gt | occupied_pred).sum() * 100
    assert steps[0] == {"occ_iou_geo": pytest.approx(by_hand, rel=1e-12)}


def test_merged_state_equals_global_accumulation(samples):
    whole = MetricSet(GRID, LABELS, "open")
    _fill(whole, samples)
    parts = []
    for chunk in (samples[:1], samples[1:3], samples[3:]):
        ms = MetricSet(GRID, LABELS, "open")
        _fill(ms, chunk)
        parts.append(_json(ms.state()))
    merged = MetricSet.merged(GRID, LABELS, "open", parts).compute()
    expected = whole.compute()
    assert merged.keys() == expected.keys()
    for k, v in expected.items():
        np.testing.assert_allclose(merged[k], v, rtol=1e-12, equal_nan=True, err_msg=k)
    assert merged["occ/n_frames"] == 4 and merged["plan/n_samples_all"] == 4
    assert 0 < merged["occ/miou"] < 100 and 0 < merged["occ/rayiou"] < 100 and merged["flow/mave"] > 0


def test_state_carries_each_metric_with_its_version(samples):
    ms = MetricSet(GRID, LABELS, "closed")
    _fill(ms, samples[:1])
    state = ms.state()
    assert list(state) == [s.name for s in METRICS.for_pass("closed")]
    assert {"occ", "ray", "lidarseg", "closed_loop", "runtime_ms"} == set(state)  # no planning table in closed loop
    for name, entry in state.items():
        assert entry["version"] == METRICS.get(name).version
    assert state["occ"]["state"]["n_frames"] == 1 and state["runtime_ms"]["state"]["model"] == [1.0]


def test_pass_prefixes_and_the_closed_loop_runtimes(samples):
    """The same records give ``occ/*`` in the open pass and ``closed/occ/*`` in the closed pass; the
    run's runtimes are the closed pass's when it ran."""
    sets = {p: MetricSet(GRID, LABELS, p) for p in ("open", "closed")}
    _fill(sets["open"], samples)
    _fill(sets["closed"], samples[:2])  # model times 1 and 2 ms
    run = RunMetrics(sets).compute()
    alone = MetricSet(GRID, LABELS, "open")
    _fill(alone, samples[:2])
    for k, v in alone.compute().items():
        if k.startswith(("occ/", "flow/", "lidarseg/")):
            np.testing.assert_equal(run[f"closed/{k}"], v, err_msg=k)
    assert not any(k.startswith("closed/plan/") for k in run)
    assert run["runtime/model_ms"] == 1.5 and run["occ/n_frames"] == 4 and run["closed/occ/n_frames"] == 2


def test_merge_rejects_mismatched_mask_variants(samples):
    a = MetricSet(GRID, LABELS, "open")
    gt, pred = samples[0][0], samples[0][1]
    a.update(OccupancyStep(OccupancyFrame(gt.semantics, GRID, LABELS), pred, ORIGINS))  # no masks: "none" only
    b = MetricSet(GRID, LABELS, "open")
    b.update(OccupancyStep(gt, pred, ORIGINS))
    with pytest.raises(ValueError, match="mask variants"):
        a.merge_state(b.state())


def test_merge_names_a_missing_metric_and_a_version_it_cannot_read(samples):
    ms = MetricSet(GRID, LABELS, "open")
    state = MetricSet(GRID, LABELS, "open").state()
    with pytest.raises(ValidationError, match=r"open pass state: no state of metric 'ray' \(version 1\)"):
        ms.merge_state({k: v for k, v in state.items() if k != "ray"})
    with pytest.raises(ValidationError, match="metric 'plan' has state version 7, this code reads version 1"):
        ms.merge_state(state | {"plan": {"version": 7, "state": {"rows": []}}})
    ms.merge_state(state | {"retired_metric": {"version": 1, "state": {}}})  # a metric no longer registered


def test_a_record_no_metric_of_the_pass_consumes_changes_nothing(samples):
    ms = MetricSet(GRID, LABELS, "closed")
    assert ms.update(samples[0][3]) == {}  # a planning sample: open pass only
    assert ms.state() == MetricSet(GRID, LABELS, "closed").state()
