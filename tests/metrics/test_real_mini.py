"""Metrics on the real nuScenes extract: RayIoU origins from real poses, and the evaluator's
planning path with log-replay plans (L2 0; every plan collision is a logged one, so excluded)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from occplan.evaluate import main
from occplan.metrics.planning import PlanningMetric, planning_sample
from occplan.metrics.rayiou import scenario_rayiou_origins


@pytest.fixture(scope="module")
def source(real_mini):
    from occplan.data import NuScenesSource

    return NuScenesSource(real_mini, "v1.0-mini")


# First scene, reference keyframe -> (keyframes whose LiDAR lies within 39 m in x and y of the reference
# ego, read off the poses: nearest outside 38.05 / 39.24 / 40.33 m, so the cut is clear; the 8 picked
# at positions round(linspace(0, n - 1, 8)) of that list). E.g. reference 20 keeps 5..30 (n = 26):
# positions 0, 3.57, 7.14, 10.71, 14.29, 17.86, 21.43, 25 -> 0, 4, 7, 11, 14, 18, 21, 25 -> keyframes
# 5, 9, 12, 16, 19, 23, 26, 30, which leave out the reference keyframe itself.
ORIGIN_KEYFRAMES = {
    0: (range(0, 16), [0, 2, 4, 6, 9, 11, 13, 15]),
    20: (range(5, 31), [5, 9, 12, 16, 19, 23, 26, 30]),
    39: (range(30, 40), [30, 31, 33, 34, 35, 36, 38, 39]),
}


@pytest.mark.parametrize("index", sorted(ORIGIN_KEYFRAMES))
def test_rayiou_origins_on_real_scene(source, index):
    sc = source.scenario(source.scene_names()[0])
    assert len(sc.frames) == 40
    kept, picked = ORIGIN_KEYFRAMES[index]
    ref = sc.frames[index]
    # every keyframe's LiDAR position in the reference ego frame, by plain pose composition (no float32 step)
    lidar_world = np.stack([(f.world_from_ego @ f.ego_from_lidar).translation_m for f in sc.frames])
    in_ref_ego = ref.world_from_ego.inverse().transform_points(lidar_world)
    near = (np.abs(in_ref_ego[:, 0]) < 39.0) & (np.abs(in_ref_ego[:, 1]) < 39.0)
    assert np.flatnonzero(near).tolist() == list(kept)
    o = scenario_rayiou_origins(sc, index)
    # the reference rounds positions in the reference LiDAR frame to float32: micrometres at 40 m
    np.testing.assert_allclose(o, in_ref_ego[picked], rtol=0, atol=1e-5)
    mount = ref.ego_from_lidar.translation_m
    gap_m = np.min(np.linalg.norm(o - mount, axis=1))
    if index in picked:
        assert gap_m == 0.0  # the reference keyframe contributes exactly its LiDAR mounting point
    else:
        assert gap_m > 1.0  # left out by the subsampling: the nearest origin is another keyframe's


def test_log_replay_plans_score_zero(source, tmp_path):
    sc = source.scenario(source.scene_names()[0])
    metric = PlanningMetric()
    for i, f in enumerate(sc.frames):
        metric.update(planning_sample(sc, i, f.future))
    res = metric.compute()
    assert res["plan/n_samples_all"] == len(sc.frames)
    assert res["plan/n_samples"] == len(sc.frames) - 6
    assert res["plan/stp3/l2_avg"] == pytest.approx(0.0, abs=1e-9)
    assert res["plan/stp3/col_vehped_3s"] == 0.0
    human = metric.compute_human()  # the log's own collisions, which the exclusion hides from the plan
    assert human["ref/human/plan/stp3/l2_avg"] == 0.0
    assert 0.0 <= human["ref/human/plan/uniad/col_vehped_3s"] <= 100.0

    plans = {
        f.sample_token: f.future.xy_m.tolist() for name in source.scene_names() for f in source.scenario(name).frames
    }
    path = tmp_path / "plans.json"
    path.write_text(json.dumps(plans))
    out = tmp_path / "res.json"
    assert main(["--data", str(source.dataroot), "--plan-file", str(path), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["plan/uniad/l2_3s"] == pytest.approx(0.0, abs=1e-6)
    assert res["plan/uniad/col_veh_3s"] == 0.0
