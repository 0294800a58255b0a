"""``state()`` / ``merge_state()`` (harness scale-out): two halves merged through JSON equal one run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.metrics import ClosedLoopMetric, LidarSegMetric, OccupancyMetric, PlanningMetric, RayIoUMetric
from occplan.metrics.occupancy import OccupancyMetricConfig

from .test_closed_loop import history
from .test_planning import _box, _sample


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], nan_ok=True), k


def _split_merge(make, records, update=lambda m, r: m.update(r)):
    whole, first, second = make(), make(), make()
    for i, r in enumerate(records):
        update(whole, r)
        update(first if i % 2 else second, r)
    first.merge_state(json.loads(json.dumps(second.state())))
    _same(whole.compute(), first.compute())


def test_occupancy_and_rayiou_states():
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(4):
        gt = np.where(rng.random((200, 200, 16)) < 0.05, rng.integers(0, 17, (200, 200, 16)), 17).astype(np.uint8)
        pred = np.where(rng.random(gt.shape) < 0.2, rng.integers(0, 18, gt.shape), gt).astype(np.uint8)
        frames.append((gt, pred, rng.random(gt.shape) < 0.5))
    _split_merge(OccupancyMetric, frames, lambda m, r: m.update_arrays(r[0], r[1], r[2], r[2]))
    origins = np.array([[0.9858, 0.0, 1.8402]])
    _split_merge(RayIoUMetric, frames, lambda m, r: m.update_arrays(r[0], r[1], origins))
    with pytest.raises(ValidationError, match="masks"):
        OccupancyMetric(OccupancyMetricConfig(masks=("none",))).merge_state(OccupancyMetric().state())


def test_lidarseg_planning_closed_loop_states():
    rng = np.random.default_rng(1)
    clouds = [(rng.integers(0, 32, 300).astype(np.uint8), rng.integers(1, 17, 300).astype(np.uint8)) for _ in range(4)]
    _split_merge(LidarSegMetric, clouds)
    samples = [_sample(log_y=0.5 * i, agents={3: [_box(8.0, 0.0)]}, token=f"s{i}") for i in range(4)]
    _split_merge(PlanningMetric, samples)
    car = [("a", "vehicle.car", lambda i: (12.25, 0.0, 0.0))]
    episodes = [history(), history(agents=car), history(road=None)]
    _split_merge(ClosedLoopMetric, episodes)
