"""Open-loop planning metrics: rasterisation semantics, box collisions, GT-collision exclusion,
the ST-P3 (mean up to the horizon) and UniAD (at the horizon) reductions, L2, class sets, the
voxel-level check and the human reference (the logged trajectory scored by the same code)."""

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
    assert res["plan/uniad/col_veh_1s"] == 0.0
    assert res["plan/uniad/col_veh_2s"] == 100.0
    assert res["plan/uniad/col_veh_3s"] == 0.0
    assert res["plan/uniad/col_veh_avg"] == pytest.approx(100 / 3)
    assert res["plan/stp3/col_veh_1s"] == 0.0
    assert res["plan/stp3/col_veh_2s"] == pytest.approx(25.0)
    assert res["plan/stp3/col_veh_3s"] == pytest.approx(100 / 6)
    assert res["plan/stp3/col_veh_avg"] == pytest.approx((0 + 25 + 100 / 6) / 3)
    assert res["plan/uniad/col_vehped_2s"] == 100.0
    # the same sample once more with the logged path through the box: its collision is excluded
    # from the numerator but the sample stays in the denominator
    m.update(_sample(plan_y=0.0, log_y=0.0, agents=on_path, token="t"))
    res = m.compute()
    assert res["plan/uniad/col_veh_2s"] == pytest.approx(50.0)
    assert res["plan/stp3/col_veh_2s"] == pytest.approx(12.5)
    assert res["plan/n_samples"] == 2.0


def test_class_sets():
    ped = {1: [_box(4.0, 0.0, "human.pedestrian.adult", 0.8, 0.8)]}
    m = PlanningMetric()
    m.update(_sample(log_y=8.0, agents=ped))
    res = m.compute()
    assert res["plan/uniad/col_veh_1s"] == 0.0
    assert res["plan/uniad/col_vehped_1s"] == 100.0


def test_l2_reductions():
    m = PlanningMetric()
    m.update(_sample(plan_y=0.0, log_y=np.arange(1, 7) * 0.5))
    res = m.compute()
    assert res["plan/uniad/l2_1s"] == pytest.approx(1.0)
    assert res["plan/stp3/l2_1s"] == pytest.approx(0.75)
    assert res["plan/uniad/l2_2s"] == pytest.approx(2.0)
    assert res["plan/stp3/l2_2s"] == pytest.approx(1.25)
    assert res["plan/uniad/l2_3s"] == pytest.approx(3.0)
    assert res["plan/stp3/l2_3s"] == pytest.approx(1.75)
    assert res["plan/stp3/l2_avg"] == pytest.approx(1.25)
    assert res["plan/uniad/l2_avg"] == pytest.approx(2.0)


def test_samples_without_full_future_are_counted_but_not_scored():
    m = PlanningMetric()
    m.update(_sample(log_y=1.0))
    valid = np.array([True, True, True, False, False, False])
    m.update(_sample(log_y=100.0, log_valid=valid, token="end"))
    res = m.compute()
    assert res["plan/n_samples"] == 1.0 and res["plan/n_samples_all"] == 2.0
    assert res["plan/stp3/l2_avg"] == res["plan/uniad/l2_avg"] == pytest.approx(1.0)


def test_voxel_collision_uses_rotated_box_and_height_band():
    pose = Pose.from_xy_yaw(300.0, 200.0, 0.3)

    def occ_with(label, x, y, z):
        return _occ_with(label, x, y, z, pose)

    # step 2 plan pose (4, 0, yaw 0): box centre 5.3 m ahead of the rear axle, 4.084 x 1.85 m
    cases = {"car_in_box": (occ_with(4, 6.0, 0.5, 1.0), 100.0), "ground": (occ_with(11, 6.0, 0.5, 1.0), 0.0),
             "too_high": (occ_with(4, 6.0, 0.5, 2.6), 0.0), "beside": (occ_with(4, 6.0, 1.6, 1.0), 0.0)}  # fmt: skip
    for name, (occ, want) in cases.items():
        m = PlanningMetric()
        frames = (None, occ, None, None, None, None)
        m.update(_sample(occupancy=frames, world_from_ego=pose, token=name))
        res = m.compute()
        assert res["plan/uniad/col_occ_1s"] == want, name
        assert np.isnan(res["plan/uniad/col_occ_2s"])
        assert np.isnan(res["plan/stp3/col_occ_1s"])  # step 1 has no GT occupancy: no mean up to 1 s
    # heading matters: a waypoint yawed 90 deg puts the box beside, not ahead of, the rear axle
    m = PlanningMetric()
    s = _sample(occupancy=(None, occ_with(4, 6.0, 0.5, 1.0), *[None] * 4), world_from_ego=pose)
    plan = s.plan.copy()
    plan[1, 2] = np.pi / 2
    m.update(PlanningSample(s.token, plan, s.log_xy_m, s.log_valid, s.agents, s.occupancy, s.world_from_ego))
    assert m.compute()["plan/uniad/col_occ_1s"] == 0.0


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
    yaw = np.zeros(6)
    yaw[0] = np.nan
    with pytest.raises(ValidationError, match="log_yaw_rad"):
        PlanningSample("x", s.plan, s.log_xy_m, s.log_valid, s.agents, log_yaw_rad=yaw)


def test_keys_name_their_convention():
    m = PlanningMetric()
    m.update(_sample())
    keys = set(m.compute())
    quantities = ("l2", "col_veh", "col_vehped", "col_occ")
    want = {f"plan/{c}/{q}_{h}" for c in ("stp3", "uniad") for q in quantities for h in ("1s", "2s", "3s", "avg")}
    assert keys == want | {"plan/n_samples", "plan/n_samples_all"}
    assert set(m.compute_human()) == {f"ref/human/{k}" for k in want}


def _stp3_style(plans, logs, logs_col, plans_col, n_future):
    """ST-P3 ``evaluate.py``: one metric per horizon fed the first ``n_future`` steps; per-step sums
    over samples divided by the sample count (``compute``), then ``value.mean()``."""
    l2 = np.zeros(n_future)
    box = np.zeros(n_future)
    for p, g, gc, pc in zip(plans, logs, logs_col, plans_col, strict=True):
        l2 += np.sqrt(((p[:n_future] - g[:n_future]) ** 2).sum(-1))
        keep = ~gc[:n_future]
        box[keep] += pc[:n_future][keep]
    return l2 / len(plans), box / len(plans)


def test_reductions_match_stp3_and_uniad_loops():
    """The keys equal the two references' own loops on random plans and boxes: ST-P3 (a metric
    per horizon, mean of its per-step rates) and UniAD (one 6-step metric, ``value[i]``)."""
    rng = np.random.default_rng(3)
    m = PlanningMetric()
    plans, logs = [], []
    for k in range(40):
        agents = {t: [_box(*rng.uniform([0, -4], [14, 4]))] for t in range(6) if rng.random() < 0.7}
        s = _sample(plan_y=rng.uniform(-2, 2), log_y=rng.uniform(-2, 2, 6), agents=agents, token=str(k))
        m.update(s)
        plans.append(s.plan[:, :2])
        logs.append(s.log_xy_m)
    rows = m.rows
    cols = [r.col["veh"] for r in rows]
    gts = [r.gt_col["veh"] for r in rows]
    assert any(c.any() for c in cols) and any(g.any() for g in gts)  # both paths of the exclusion are used
    res = m.compute()
    l2_6, box_6 = _stp3_style(plans, logs, gts, cols, 6)
    for h in (1, 2, 3):
        l2_h, box_h = _stp3_style(plans, logs, gts, cols, 2 * h)
        assert res[f"plan/stp3/l2_{h}s"] == pytest.approx(l2_h.mean())
        assert res[f"plan/stp3/col_veh_{h}s"] == pytest.approx(100 * box_h.mean())
        assert res[f"plan/uniad/l2_{h}s"] == pytest.approx(l2_6[2 * h - 1])
        assert res[f"plan/uniad/col_veh_{h}s"] == pytest.approx(100 * box_6[2 * h - 1])
    for conv in ("stp3", "uniad"):
        assert res[f"plan/{conv}/l2_avg"] == pytest.approx(np.mean([res[f"plan/{conv}/l2_{h}s"] for h in (1, 2, 3)]))


def _occ_with(label, x, y, z, pose):
    """One voxel of ``label`` at (x, y, z) above a road surface (top at z = 0) in its column."""
    grid, labels = GridSpec.occ3d_nuscenes(), LabelSet.occ3d()
    sem = np.full(grid.shape, 17, dtype=np.uint8)
    sem[tuple(grid.index_of(np.array([[x, y, -0.2]]))[0])] = labels.index("driveable_surface")
    sem[tuple(grid.index_of(np.array([[x, y, z]]))[0])] = label
    return OccupancyFrame(sem, grid, labels, world_from_grid=pose)


def test_human_reference_of_log_replay():
    """Plans equal to the log: L2 0 and box collisions 0 (every plan collision is a logged one,
    excluded), while the human row shows the log's own box collisions; the voxel check has no
    exclusion, so the plan's and the log's col_occ agree."""
    pose = Pose.from_xy_yaw(300.0, 200.0, 0.3)
    occ = (None, _occ_with(4, 6.0, 0.5, 1.0, pose), *[None] * 4)  # a solid voxel in the box at step 2
    m = PlanningMetric()
    on_log = {3: [_box(8.0, 0.0)], 5: [_box(12.0, 0.0, "human.pedestrian.adult", 0.8, 0.8)]}
    for k in range(4):  # one of four samples has boxes on the logged path
        m.update(
            _sample(agents=on_log if k == 0 else None, token=str(k), occupancy=occ, world_from_ego=pose,
                    log_yaw_rad=np.zeros(6))
        )  # fmt: skip
    res, human = m.compute(), m.compute_human()
    for conv in ("stp3", "uniad"):
        for q in ("l2", "col_veh", "col_vehped"):
            for h in ("1s", "2s", "3s", "avg"):
                assert res[f"plan/{conv}/{q}_{h}"] == 0.0
        for h in ("1s", "2s", "3s", "avg"):
            assert human[f"ref/human/plan/{conv}/l2_{h}"] == 0.0
    assert human["ref/human/plan/uniad/col_veh_2s"] == 25.0
    assert human["ref/human/plan/uniad/col_veh_3s"] == 0.0  # the pedestrian is not a vehicle
    assert human["ref/human/plan/uniad/col_vehped_3s"] == 25.0
    assert human["ref/human/plan/stp3/col_veh_2s"] == pytest.approx(25.0 / 4)
    assert human["ref/human/plan/stp3/col_vehped_3s"] == pytest.approx(50.0 / 6)
    assert human["ref/human/plan/uniad/col_vehped_avg"] == pytest.approx(50.0 / 3)
    assert res["plan/uniad/col_occ_1s"] == human["ref/human/plan/uniad/col_occ_1s"] == 100.0
    # a plan off the log is scored against the log's boxes; the human row does not depend on it
    m2 = PlanningMetric()
    m2.update(_sample(plan_y=3.0, agents=on_log, log_yaw_rad=np.zeros(6)))
    assert m2.compute()["plan/uniad/col_veh_2s"] == 0.0
    assert m2.compute_human()["ref/human/plan/uniad/col_veh_2s"] == 100.0


def test_human_voxel_check_uses_logged_headings():
    pose = Pose.from_xy_yaw(300.0, 200.0, 0.3)
    occ = (None, _occ_with(4, 6.0, 0.5, 1.0, pose), *[None] * 4)
    turned = np.zeros(6)
    turned[1] = np.pi / 2  # the logged box stands beside the voxel, the plan's (yaw 0) on it
    m = PlanningMetric()
    m.update(_sample(occupancy=occ, world_from_ego=pose, log_yaw_rad=turned))
    assert m.compute()["plan/uniad/col_occ_1s"] == 100.0
    assert m.compute_human()["ref/human/plan/uniad/col_occ_1s"] == 0.0
    m = PlanningMetric()
    m.update(_sample(occupancy=occ, world_from_ego=pose))  # no logged headings: unknown
    assert np.isnan(m.compute_human()["ref/human/plan/uniad/col_occ_1s"])


def test_state_round_trip_keeps_plan_and_human_values():
    pose = Pose.from_xy_yaw(300.0, 200.0, 0.3)
    occ = (None, _occ_with(4, 6.0, 0.5, 1.0, pose), *[None] * 4)
    m = PlanningMetric()
    m.update(_sample(agents={3: [_box(8.0, 0.0)]}, occupancy=occ, world_from_ego=pose, log_yaw_rad=np.zeros(6)))
    m.update(_sample(plan_y=1.0, log_y=0.5, token="b"))
    back = PlanningMetric()
    back.merge_state(m.state())
    for a, b in ((m.compute(), back.compute()), (m.compute_human(), back.compute_human())):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], nan_ok=True), k
