"""MetricSet: the state of split accumulations, merged in order through JSON, equals one global
accumulation (what makes in-process, Ray and resumed runs agree)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from occplan.harness.accumulate import MetricSet
from occplan.io import json_safe
from occplan.metrics import PlanningSample
from occplan.types import GridSpec, LabelSet, Trajectory

GRID = GridSpec.occ3d_nuscenes()
LABELS = LabelSet.occ3d()


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


def _fill(ms: MetricSet, samples: list) -> None:
    for gt, pred, cam, lid, labels_gt, flow_gt, flow_pred, plan in samples:
        ms.ensure_occ(("camera", "lidar", "none")).update_arrays(gt, pred, cam, lid)
        ms.ray.update_arrays(gt, pred, np.array([[0.0, 0.0, 1.8]]), flow_gt, flow_pred)
        points = np.random.default_rng(len(labels_gt)).uniform(-45, 45, (len(labels_gt), 3))
        ms.lidarseg.update_from_voxels(points, labels_gt, pred, GRID, LABELS)
        ms.plan.update(plan)


@pytest.fixture(scope="module")
def samples() -> list:
    rng = np.random.default_rng(0)
    out = []
    for i in range(4):
        gt, pred, cam, lid = _occ_sample(rng)
        labels_gt = rng.integers(0, 32, 500 + i, dtype=np.uint8)
        flow_gt = rng.normal(0, 2, (*GRID.shape, 2)).astype(np.float32)
        flow_pred = (flow_gt + rng.normal(0, 0.5, flow_gt.shape)).astype(np.float32)
        out.append((gt, pred, cam, lid, labels_gt, flow_gt, flow_pred, _plan_sample(rng, i)))
    return out


def test_merged_state_equals_global_accumulation(samples):
    whole = MetricSet(GRID, LABELS)
    _fill(whole, samples)
    parts = []
    for chunk in (samples[:1], samples[1:3], samples[3:]):
        ms = MetricSet(GRID, LABELS)
        _fill(ms, chunk)
        parts.append(json.loads(json.dumps(json_safe(ms.state()), allow_nan=False)))  # strict JSON round trip
    merged = MetricSet.merged(GRID, LABELS, parts).compute()
    expected = whole.compute()
    assert merged.keys() == expected.keys()
    for k, v in expected.items():
        if k.startswith("runtime/"):
            continue
        np.testing.assert_allclose(merged[k], v, rtol=1e-12, equal_nan=True, err_msg=k)
    assert merged["occ/n_frames"] == 4 and merged["plan/n_samples_all"] == 4
    assert 0 < merged["occ/miou"] < 100 and 0 < merged["occ/rayiou"] < 100 and merged["flow/mave"] > 0


def test_merge_rejects_mismatched_mask_variants(samples):
    a = MetricSet(GRID, LABELS)
    a.ensure_occ(("none",))
    b = MetricSet(GRID, LABELS)
    b.ensure_occ(("camera", "lidar", "none")).update_arrays(*samples[0][:4])
    with pytest.raises(ValueError, match="mask variants"):
        a.merge_state(b.state())
