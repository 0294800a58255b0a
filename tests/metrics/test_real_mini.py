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


def test_rayiou_origins_on_real_scene(source):
    sc = source.scenario(source.scene_names()[0])
    for index in (0, len(sc.frames) // 2, len(sc.frames) - 1):
        o = scenario_rayiou_origins(sc, index)
        assert 1 <= len(o) <= 8
        assert np.all(np.abs(o[:, :2]) < 39.0)
        mount = sc.frames[index].ego_from_lidar.translation_m
        # the reference keyframe itself contributes its LiDAR mounting point when it is kept
        assert np.min(np.linalg.norm(o - mount, axis=1)) < 1e-6 or len(o) == 8


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
