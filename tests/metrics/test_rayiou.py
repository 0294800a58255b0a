"""RayIoU: hand-computed traversals (exit distances, tie rules, entry, never-entering rays),
agreement of the fast walk with the reference-style walk, origins, counting and flow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.metrics.rayiou import (
    RayIoUConfig,
    RayIoUMetric,
    RayRecords,
    cast_rays,
    lidar_ray_directions,
    rayiou_origins,
    to_voxel_units,
    trace_reference,
)
from occplan.types import GridSpec, LabelSet, Pose

GRID = GridSpec("unit", (0.0, 0.0, 0.0), 1.0, (4, 3, 2), "ego")
LABELS = LabelSet.occ3d()
FREE = 17


def _grid(occupied: dict[tuple[int, int, int], int]) -> np.ndarray:
    sem = np.full(GRID.shape, FREE, dtype=np.uint8)
    for ijk, label in occupied.items():
        sem[ijk] = label
    return sem


def _one(sem: np.ndarray, origin, direction) -> RayRecords:
    d = np.asarray([direction], dtype=np.float64)
    d = (d / np.linalg.norm(d)).astype(np.float32)
    return cast_rays([sem], np.asarray([origin], dtype=np.float64), GRID, LABELS, directions=d)[0]


def test_directions_match_reference_layout():
    d = lidar_ray_directions()
    assert d.shape == (14040, 3) and d.dtype == np.float32
    pitch = np.arcsin(d[::360, 2].astype(np.float64))
    assert len(pitch) == 39
    assert pitch[0] == pytest.approx(-math.pi / 4, abs=1e-6)
    assert pitch[-1] == pytest.approx(0.219, abs=1e-3)
    np.testing.assert_allclose(np.diff(pitch[-30:]), 0.010990, atol=2e-6)
    # azimuth 90 deg: the x component (4e-17) vanishes once added to the origin and rounded, so the
    # traversal sees an exact zero (DBL_MAX branch), as in the reference
    o = np.array([[0.9858, 0.0, 1.8402]])
    grid = GridSpec.occ3d_nuscenes()
    assert abs(d[90, 0]) < 1e-16
    assert to_voxel_units(o + d[90].astype(np.float64), grid)[0, 0] == to_voxel_units(o, grid)[0, 0]


def test_exit_distance_and_label_of_first_hit():
    rec = _one(_grid({(2, 0, 0): 4, (3, 0, 0): 1}), (0.5, 0.5, 0.5), (1, 0, 0))
    assert rec.dist_m[0] == np.float32(2.5)  # exit of voxel 2, not entry (1.5) or centre (2.0)
    assert rec.label[0] == 4
    assert rec.voxel.tolist() == [[2, 0, 0]]


def test_no_hit_gives_last_in_grid_voxel_and_free():
    rec = _one(_grid({}), (0.5, 0.5, 0.5), (1, 0, 0))
    assert rec.dist_m[0] == np.float32(3.5)
    assert rec.voxel.tolist() == [[3, 0, 0]]
    assert rec.label[0] == FREE


@pytest.mark.parametrize(
    ("direction", "winner", "loser"),
    [
        ((1, 1, 0), (0, 1, 0), (1, 0, 0)),  # X/Y tie -> Y
        ((1, 0, 1), (0, 0, 1), (1, 0, 0)),  # X/Z tie -> Z
        ((0, 1, 1), (0, 0, 1), (0, 1, 0)),  # Y/Z tie -> Z
        ((1, 1, 1), (0, 0, 1), (1, 0, 0)),  # three-way tie -> Z
    ],
)
def test_tie_rules(direction, winner, loser):
    rec = _one(_grid({winner: 3, loser: 4}), (0.5, 0.5, 0.5), direction)
    assert rec.voxel.tolist() == [list(winner)]
    assert rec.label[0] == 3
    assert rec.dist_m[0] == pytest.approx(0.5 * np.linalg.norm(direction), rel=1e-6)


def test_ray_entering_from_outside_measures_from_origin():
    rec = _one(_grid({(1, 0, 0): 5}), (-1.5, 0.5, 0.5), (1, 0, 0))
    assert rec.dist_m[0] == np.float32(3.5)
    assert rec.voxel.tolist() == [[1, 0, 0]]


def test_int_truncation_of_start_voxel():
    # origin at x = -0.5 truncates to voxel 0 (C int()), so a ray leaving the grid records voxel 0
    # with a negative exit distance, as the CUDA kernel does.
    rec = _one(_grid({}), (-0.5, 0.5, 0.5), (-1, 0, 0))
    assert rec.voxel.tolist() == [[0, 0, 0]]
    assert rec.dist_m[0] == np.float32(-0.5)


def test_ray_that_never_enters():
    sem = _grid({(0, 0, 0): 6})
    rec = _one(sem, (0.5, 0.5, 5.5), (0, 0, 1))
    assert rec.dist_m[0] == np.float32(-1.0)
    assert rec.voxel.tolist() == [[0, 0, 0]]
    assert rec.label[0] == 6  # the reference reads sem[0, 0, 0] for such a ray


def test_metres_are_float32_products():
    grid = GridSpec.occ3d_nuscenes()
    sem = np.full(grid.shape, FREE, dtype=np.uint8)
    sem[:, :, 0] = 11
    rec = cast_rays([sem], np.array([[0.9858, 0.0, 1.8402]]), grid, LABELS)[0]
    ov = to_voxel_units(np.array([[0.9858, 0.0, 1.8402]]), grid)
    ev = to_voxel_units(np.array([[0.9858, 0.0, 1.8402]]) + lidar_ray_directions()[:1].astype(np.float64), grid)
    d_vox, vox = trace_reference((sem != FREE).reshape(-1).view(np.uint8), np.asarray(grid.shape), ov[0], ev[0])
    assert rec.dist_m[0] == np.float32(d_vox) * np.float32(0.4)
    assert rec.dist_m.dtype == np.float32
    assert rec.label[0] == 11 and list(rec.voxel[0]) == list(vox)


@pytest.mark.parametrize("seed", range(4))
def test_fast_walk_matches_reference_walk(seed):
    rng = np.random.default_rng(seed)
    grid = GridSpec("rand", (-4.0, -4.0, -1.0), 0.4, (20, 20, 8), "ego")
    sem = np.where(rng.random(grid.shape) < 0.04, rng.integers(0, 17, grid.shape), FREE).astype(np.uint8)
    sem2 = np.where(rng.random(grid.shape) < 0.08, rng.integers(0, 17, grid.shape), FREE).astype(np.uint8)
    origins = rng.uniform([-6, -6, -2], [6, 6, 3], size=(3, 3))
    origins[0] = [0.2, 0.0, 0.6]
    dirs = rng.normal(size=(400, 3))
    dirs[:40, rng.integers(0, 3)] = 0.0  # axis-parallel components: DBL_MAX branches
    dirs[40:80] = np.round(dirs[40:80])  # exact ties
    dirs = dirs[np.linalg.norm(dirs, axis=1) > 0]
    dirs = (dirs / np.linalg.norm(dirs, axis=1, keepdims=True)).astype(np.float32)
    recs = cast_rays([sem, sem2], origins, grid, LABELS, directions=dirs)
    ov = to_voxel_units(origins, grid)
    ev = to_voxel_units(origins[:, None, :] + dirs[None].astype(np.float64), grid)
    for g, s in enumerate((sem, sem2)):
        occ = (s != FREE).reshape(-1).view(np.uint8)
        want_d, want_v = [], []
        for t in range(len(origins)):
            for r in range(len(dirs)):
                d, v = trace_reference(occ, np.asarray(grid.shape), ov[t], ev[t, r])
                want_d.append(np.float32(d) * np.float32(0.4))
                want_v.append(v)
        np.testing.assert_array_equal(recs[g].dist_m, np.asarray(want_d, dtype=np.float32))
        np.testing.assert_array_equal(recs[g].voxel, np.asarray(want_v))
        np.testing.assert_array_equal(recs[g].label, s[tuple(np.asarray(want_v).T)])
        alone = cast_rays([s], origins, grid, LABELS, directions=dirs, parallel=bool(seed % 2))[0]  # one-grid walk
        np.testing.assert_array_equal(alone.dist_m, recs[g].dist_m)
        np.testing.assert_array_equal(alone.voxel_index, recs[g].voxel_index)


def test_reference_walk_python_and_numba_agree():
    rng = np.random.default_rng(7)
    shape = np.array([6, 5, 4])
    occ = (rng.random(120) < 0.1).astype(np.uint8)
    for _ in range(30):
        o = rng.uniform(-2, 7, 3).astype(np.float32)
        e = (o + rng.normal(size=3)).astype(np.float32)
        d1, v1 = trace_reference(occ, shape, o, e)
        d2, v2 = trace_reference.py_func(occ, shape, o, e)
        assert d1 == d2 and list(v1) == list(v2)


def test_origins_filter_and_subsample():
    ego_from_lidar = Pose(np.eye(3), np.array([0.9858, 0.0, 1.8402]))
    world_from_ego = Pose.from_xy_yaw(100.0, 50.0, 0.0)
    xs = np.arange(-20.0, 20.0, 2.0)  # 20 keyframes along x, reference at index 10 (x = 0)
    lidar_world = np.stack([100.0 + xs + 0.9858, np.full(20, 50.0), np.full(20, 1.8402)], axis=1)
    o = rayiou_origins(world_from_ego, ego_from_lidar, lidar_world, ref_index=10)
    assert o.shape == (8, 3)
    idx = [0, 3, 5, 8, 11, 14, 16, 19]
    np.testing.assert_allclose(o[:, 0], xs[idx] + 0.9858, atol=1e-9)
    np.testing.assert_allclose(o[:, 2], 1.8402, atol=1e-9)
    far = lidar_world.copy()
    far[:, 0] += np.where(xs > 10, 40.0, 0.0)  # frames beyond |x| >= 39 are dropped
    o = rayiou_origins(world_from_ego, ego_from_lidar, far, ref_index=10)
    assert np.all(np.abs(o[:, 0]) < 39.0)
    assert len(o) == 8


def test_origins_are_float32_rounded_in_the_reference_lidar_frame():
    """SparseOcc ``EgoPoseDataset`` stores each keyframe's position in the reference LiDAR frame as
    float32 before mapping it to the ego frame; the reference keyframe's own origin is the mount."""
    rng = np.random.default_rng(5)
    yaw = 0.7
    rot = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    ego_from_lidar = Pose(rot @ Pose.from_xy_yaw(0.0, 0.0, 0.01).rotation, np.array([0.943713, 0.0, 1.84023]))
    world_from_ego = Pose.from_xy_yaw(411.30391, 1180.89089, 2.1)
    lidar_world = np.column_stack(
        [411.3 + rng.uniform(-25, 25, 7), 1180.9 + rng.uniform(-25, 25, 7), 1.9 + rng.uniform(0, 0.2, 7)]
    )
    o = rayiou_origins(world_from_ego, ego_from_lidar, lidar_world, ref_index=3, max_origins=100, range_xy_m=1e3)
    # the reference's arithmetic, keyframe by keyframe, with 4 x 4 matrices
    ref_lidar_from_global = np.linalg.inv(world_from_ego.matrix @ ego_from_lidar.matrix)
    want = []
    for k, p in enumerate(lidar_world):
        global_from_curr = np.eye(4)
        global_from_curr[:3, 3] = p
        t = (
            np.zeros(3, np.float32)
            if k == 3
            else np.array((ref_lidar_from_global @ global_from_curr)[:3, 3], np.float32)
        )
        want.append(np.dot(ego_from_lidar.matrix[:3], np.append(t.astype(np.float64), 1.0)))
    np.testing.assert_array_equal(o, np.array(want))
    # back in the reference LiDAR frame the origins are float32 values (to float64 round-off), which
    # the unrounded transform is not: the rounding moves them by up to a few micrometres
    back = ego_from_lidar.inverse().transform_points(o)
    np.testing.assert_allclose(back, back.astype(np.float32), rtol=0, atol=1e-12)
    exact = ego_from_lidar.transform_points(
        Pose(ref_lidar_from_global[:3, :3], ref_lidar_from_global[:3, 3]).transform_points(lidar_world)
    )
    exact[3] = ego_from_lidar.translation_m
    diff = np.abs(o - exact)
    assert 0 < diff.max() < 1e-5
    assert diff[3].max() == 0.0


def _records(labels, dists, flow=None):
    n = len(labels)
    return RayRecords(
        np.asarray(labels, dtype=np.uint8), np.asarray(dists, dtype=np.float32), np.zeros(n, dtype=np.int32),
        (1, 1, 1), None if flow is None else np.asarray(flow, dtype=np.float32),
    )  # fmt: skip


def test_counting_and_flow_hand_case():
    # rays: car TP at every threshold; car with 1.5 m error (TP at 2 and 4 m only); truck predicted as
    # car; GT free ray dropped (even though the prediction says car); pred free on a GT truck.
    gt = _records([0, 0, 1, 16, 1], [10, 10, 5, 20, 7], flow=[[1, 0], [0.3, 0.4], [0, 0], [0, 0], [0, 0]])
    pred = _records([0, 0, 0, 0, 16], [10.5, 11.5, 5, 3, 7], flow=[[1, 0], [0, 0], [0, 0], [0, 0], [0, 0]])
    m = RayIoUMetric(RayIoUConfig(labels=LabelSet.openocc_v2()))
    m.add_records(gt, pred)
    res = m.compute()
    # car: gt 2, pred 3 -> @1m tp 1: 1/4; @2m, @4m tp 2: 2/3. truck: gt 2, pred 0, tp 0 -> 0.
    assert res["occ/rayiou@1m"] == pytest.approx(100 * (0.25 + 0) / 2)
    assert res["occ/rayiou@2m"] == pytest.approx(100 * (2 / 3) / 2)
    assert res["occ/rayiou"] == pytest.approx(100 * (0.25 + 2 / 3 + 2 / 3) / 6)
    # RayIoU = (1/4 + 2/3 + 2/3 + 0 + 0 + 0) / 6 = (19/12) / 6 = 19/72 = 26.39 %
    assert res["occ/rayiou"] == pytest.approx(100 * 19 / 72)
    assert res["flow/ave/car"] == pytest.approx(0.25, rel=1e-6)  # TP@2m car rays: errors 0 and |(0.3, 0.4)| = 0.5
    assert np.isnan(res["flow/ave/truck"])  # no truck TP: truck has no flow error, skipped in the mean
    assert res["flow/mave"] == pytest.approx(0.25, rel=1e-6)
    # OccScore = 0.9 * 19/72 + 0.1 * (1 - 0.25) = 0.2375 + 0.075 = 0.3125
    assert res["occ/score"] == pytest.approx(31.25, rel=1e-6)
    # a car flow error of 5 m/s (mAVE = (0 + 5) / 2 = 2.5 > 1) clamps the flow term at 0: 0.9 * 19/72 = 23.75 %
    m.reset()
    m.add_records(_records(gt.label, gt.dist_m, flow=[[1, 0], [3, 4], [0, 0], [0, 0], [0, 0]]), pred)
    res = m.compute()
    assert res["flow/mave"] == pytest.approx(2.5)
    assert res["occ/score"] == pytest.approx(23.75)


def test_identity_scores_100_and_sample_grid(occ3d_sample_path):
    with np.load(occ3d_sample_path) as z:
        gt = z["semantics"]
    m = RayIoUMetric()
    origins = np.array([[0.9858, 0.0, 1.8402], [10.0, 5.0, 1.8]])
    gt_rec, _ = m.update_arrays(gt, gt.copy(), origins)
    assert m.compute()["occ/rayiou"] == pytest.approx(100.0)
    assert len(gt_rec.label) == 2 * 14040
    m.reset()
    m.update_arrays(gt, np.roll(gt, 1, axis=0), origins)
    assert 0 < m.compute()["occ/rayiou@1m"] < m.compute()["occ/rayiou@4m"] < 100


def test_invalid_inputs():
    grid = GridSpec.occ3d_nuscenes()
    sem = np.full(grid.shape, FREE, dtype=np.uint8)
    bad = sem.copy()
    bad[0, 0, 0] = 200
    with pytest.raises(ValidationError, match=r"semantics\[1\]"):
        cast_rays([sem, bad], np.zeros((1, 3)), grid, LABELS)
    with pytest.raises(ValidationError, match="shape"):
        cast_rays([sem[:100]], np.zeros((1, 3)), grid, LABELS)
    with pytest.raises(ValidationError, match="non-finite"):
        cast_rays([sem], np.full((1, 3), np.nan), grid, LABELS)
    with pytest.raises(ValidationError, match="no origin"):
        cast_rays([sem], np.zeros((0, 3)), grid, LABELS)
    dirs = np.eye(3, dtype=np.float32)
    dirs[1] = 0
    with pytest.raises(ValidationError, match="directions: row 1 is the zero vector"):
        cast_rays([sem], np.zeros((1, 3)), grid, LABELS, directions=dirs)
    with pytest.raises(ValidationError, match="both"):
        RayIoUMetric().update_arrays(sem, sem, np.zeros((1, 3)), gt_flow=np.zeros((*grid.shape, 2), np.float32))


def test_counting_matches_calc_rayiou_loop():
    """The numba counting against SparseOcc ``calc_rayiou`` written as its per-class numpy loop."""
    rng = np.random.default_rng(11)
    m = RayIoUMetric()
    gt_cnt, pred_cnt, tp = np.zeros(18), np.zeros(18), np.zeros((3, 18))
    for _ in range(3):
        n = 5000
        gl = rng.integers(0, 18, n).astype(np.uint8)
        pl = np.where(rng.random(n) < 0.6, gl, rng.integers(0, 18, n)).astype(np.uint8)
        gd = rng.uniform(-0.4, 60, n).astype(np.float32)
        pd = (gd + rng.normal(0, 2, n)).astype(np.float32)
        m.add_records(_records(gl, gd), _records(pl, pd))
        valid = gl != FREE
        g, p, err = gl[valid], pl[valid], np.abs(pd[valid] - gd[valid])
        for j, thr in enumerate((1, 2, 4)):
            for c in range(18):
                if j == 0:
                    gt_cnt[c] += np.sum(g == c)
                    pred_cnt[c] += np.sum(p == c)
                tp[j, c] += np.sum((g == c) & (p == c) & (err < thr))
    with np.errstate(divide="ignore", invalid="ignore"):
        want = (tp / (gt_cnt + pred_cnt - tp))[:, :-1]
    np.testing.assert_array_equal(m.tp_count, tp)
    np.testing.assert_allclose(m.iou(), want)
    assert m.compute()["occ/rayiou"] == pytest.approx(np.nanmean(want) * 100)


def test_records_are_validated():
    m = RayIoUMetric()
    with pytest.raises(ValidationError, match="prediction ray labels"):
        m.add_records(_records([0, 1], [1, 2]), _records([0, 40], [1, 2]))
    with pytest.raises(ValidationError, match="prediction ray labels: expected shape"):
        m.add_records(_records([0, 1], [1, 2]), _records([0], [1]))
