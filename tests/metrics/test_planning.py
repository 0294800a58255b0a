"""Open-loop planning metrics: rasterisation semantics, box collisions, GT-collision exclusion,
the ``at`` / ``avg_to`` reductions, L2, class sets and the voxel-level check."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.metrics.planning import (
    PlanningMetric,
    PlanningMetricConfig,
    PlanningSample,
    ego_footprint_offsets,
    polygon_cells,
    rasterise_boxes,
)
from occplan.types import AgentBox, GridSpec, LabelSet, OccupancyFrame, Pose

STEPS_X = np.arange(1, 7) * 2.0  # 4 m/s straight ahead, waypoints every 0.5 s


def _box(x, y, category="vehicle.car", length=4.0, width=2.0, instance="a"):
    return AgentBox(np.array([x, y, 0.8]), np.array([width, length, 1.6]), 0.0, np.zeros(2), category, instance)


def _plan(xs, ys):
    return np.column_stack([xs, ys, np.zeros(len(xs))]).astype(np.float64)


def _sample(plan_y=0.0, log_y=0.0, agents=None, token="s", log_valid=None, **kw):
    agents = agents or {}
    return PlanningSample(
        token, _plan(STEPS_X, np.full(6, plan_y)), np.column_stack([STEPS_X, np.broadcast_to(log_y, 6)]).astype(float),
        np.ones(6, bool) if log_valid is None else log_valid, tuple(tuple(agents.get(t, ())) for t in range(6)), **kw,
    )  # fmt: skip


def test_polygon_matches_skimage_docstring_example():
    img = np.zeros((10, 10), dtype=np.uint8)
    rr, cc = polygon_cells(np.array([1, 2, 8]), np.array([1, 7, 4]))
    img[rr, cc] = 1
    want = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 1, 1, 1, 1, 1, 1, 0, 0],
            [0, 0, 1, 1, 1, 1, 1, 0, 0, 0],
            [0, 0, 0, 1, 1, 1, 1, 0, 0, 0],
            [0, 0, 0, 1, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(img, want)
    rr, cc = polygon_cells(np.array([0.0, 0, 3, 3]), np.array([0.0, 3, 3, 0]))
    assert len(rr) == 16  # integer square: edges and vertices included


def test_ego_footprint_is_the_stp3_32_cells():
    off = ego_footprint_offsets(PlanningMetricConfig())
    assert len(off) == 32
    assert (off[:, 0].min(), off[:, 0].max(), off[:, 1].min(), off[:, 1].max()) == (97, 104, 98, 101)


def test_box_rasterisation_rounds_vertices_and_fills_edges():
    bev = rasterise_boxes([_box(8.0, 0.0)], PlanningMetricConfig())
    rows, cols = np.nonzero(bev)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (112, 120, 98, 102)
    assert bev.sum() == 9 * 5


def test_box_on_path_and_both_reductions():
    on_path = {3: [_box(8.0, 0.0)]}  # a car exactly on the planned waypoint of step 4 (2.0 s)
    m = PlanningMetric()
    m.update(_sample(plan_y=0.0, log_y=8.0, agents=on_path))
    res = m.compute()
    assert res["plan/col_veh_at_1s"] == 0.0
    assert res["plan/col_veh_at_2s"] == 100.0
    assert res["plan/col_veh_at_3s"] == 0.0
    assert res["plan/col_veh_avg_to_1s"] == 0.0
    assert res["plan/col_veh_avg_to_2s"] == pytest.approx(25.0)
    assert res["plan/col_veh_avg_to_3s"] == pytest.approx(100 / 6)
    assert res["plan/col_vehped_at_2s"] == 100.0
    # the same sample once more with the logged path through the box: its collision is excluded
    # from the numerator but the sample stays in the denominator
    m.update(_sample(plan_y=0.0, log_y=0.0, agents=on_path, token="t"))
    res = m.compute()
    assert res["plan/col_veh_at_2s"] == pytest.approx(50.0)
    assert res["plan/col_veh_avg_to_2s"] == pytest.approx(12.5)
    assert res["plan/n_samples"] == 2.0


def test_class_sets():
    ped = {1: [_box(4.0, 0.0, "human.pedestrian.adult", 0.8, 0.8)]}
    m = PlanningMetric()
    m.update(_sample(log_y=8.0, agents=ped))
    res = m.compute()
    assert res["plan/col_veh_at_1s"] == 0.0
    assert res["plan/col_vehped_at_1s"] == 100.0


def test_l2_reductions():
    m = PlanningMetric()
    m.update(_sample(plan_y=0.0, log_y=np.arange(1, 7) * 0.5))
    res = m.compute()
    assert res["plan/l2_at_1s"] == pytest.approx(1.0)
    assert res["plan/l2_avg_to_1s"] == pytest.approx(0.75)
    assert res["plan/l2_at_2s"] == pytest.approx(2.0)
    assert res["plan/l2_avg_to_2s"] == pytest.approx(1.25)
    assert res["plan/l2_at_3s"] == pytest.approx(3.0)
    assert res["plan/l2_avg_to_3s"] == pytest.approx(1.75)
    assert res["plan/l2_avg"] == pytest.approx(1.25)


def test_samples_without_full_future_are_counted_but_not_scored():
    m = PlanningMetric()
    m.update(_sample(log_y=1.0))
    valid = np.array([True, True, True, False, False, False])
    m.update(_sample(log_y=100.0, log_valid=valid, token="end"))
    res = m.compute()
    assert res["plan/n_samples"] == 1.0 and res["plan/n_samples_all"] == 2.0
    assert res["plan/l2_avg"] == pytest.approx(1.0)


def test_voxel_collision_uses_rotated_box_and_height_band():
    grid, labels = GridSpec.occ3d_nuscenes(), LabelSet.occ3d()
    pose = Pose.from_xy_yaw(300.0, 200.0, 0.3)

    def occ_with(label, x, y, z):
        sem = np.full(grid.shape, 17, dtype=np.uint8)
        sem[tuple(grid.index_of(np.array([[x, y, z]]))[0])] = label
        return OccupancyFrame(sem, grid, labels, world_from_grid=pose)

    # step 2 plan pose (4, 0, yaw 0): box centre 5.3 m ahead of the rear axle, 4.084 x 1.85 m
    cases = {"car_in_box": (occ_with(4, 6.0, 0.5, 1.0), 100.0), "ground": (occ_with(11, 6.0, 0.5, 1.0), 0.0),
             "too_high": (occ_with(4, 6.0, 0.5, 2.6), 0.0), "beside": (occ_with(4, 6.0, 1.6, 1.0), 0.0)}  # fmt: skip
    for name, (occ, want) in cases.items():
        m = PlanningMetric()
        frames = (None, occ, None, None, None, None)
        m.update(_sample(occupancy=frames, world_from_ego=pose, token=name))
        res = m.compute()
        assert res["plan/col_occ_at_1s"] == want, name
        assert np.isnan(res["plan/col_occ_at_2s"])
    # heading matters: a waypoint yawed 90 deg puts the box beside, not ahead of, the rear axle
    m = PlanningMetric()
    s = _sample(occupancy=(None, occ_with(4, 6.0, 0.5, 1.0), *[None] * 4), world_from_ego=pose)
    plan = s.plan.copy()
    plan[1, 2] = np.pi / 2
    m.update(PlanningSample(s.token, plan, s.log_xy_m, s.log_valid, s.agents, s.occupancy, s.world_from_ego))
    assert m.compute()["plan/col_occ_at_1s"] == 0.0


def test_invalid_planning_inputs():
    s = _sample()
    bad = s.plan.copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValidationError, match="plan.*non-finite"):
        PlanningSample("x", bad, s.log_xy_m, s.log_valid, s.agents)
    with pytest.raises(ValidationError, match="agents"):
        PlanningSample("x", s.plan, s.log_xy_m, s.log_valid, s.agents[:3])
    with pytest.raises(ValidationError, match="world_from_ego"):
        PlanningSample("x", s.plan, s.log_xy_m, s.log_valid, s.agents, occupancy=(None,) * 6)
