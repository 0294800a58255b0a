"""Closed-loop scores on hand-made episodes with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from occplan.errors import ValidationError
from occplan.metrics.closed_loop import ClosedLoopMetric, closed_loop_scores
from occplan.types import AgentBox, EgoState, EpisodeLog, StepRecord, VehicleParams

DT = 0.1
N = 30
ROUTE = np.array([[0.0, 0.0], [100.0, 0.0]])
ROAD = shapely.to_wkb(shapely.box(-10.0, -5.0, 110.0, 5.0))


def _state(i, speed=5.0, y=0.0, x0=0.0):
    return EgoState(int(i * DT * 1e6), x0 + speed * i * DT, y, 0.0, speed_mps=speed)


def _agent(x, y, vx=0.0, category="vehicle.car", instance="a"):
    return AgentBox(np.array([x, y, 0.8]), np.array([1.9, 4.5, 1.6]), 0.0, np.array([vx, 0.0]), category, instance)


def _episode(speed=5.0, y=0.0, agents=None, occ=None, road=ROAD, x0=0.0):
    agents = agents or (lambda i: ())
    steps = tuple(
        StepRecord(
            int(i * DT * 1e6), _state(i, speed, y, x0), agents(i), log_ego=_state(i), occ_collision=bool(occ and occ(i))
        )
        for i in range(N)
    )
    return EpisodeLog("s", "closed_loop", DT, VehicleParams(), steps, ROUTE, road)


def test_clean_episode_scores_one():
    res = closed_loop_scores(_episode())
    assert res["sim/collision_rate"] == 0.0
    assert res["sim/offroad_rate"] == 0.0
    assert res["sim/progress_ratio"] == 1.0
    assert res["sim/ttc_ok"] == 1.0 and res["sim/comfort_ok"] == 1.0
    assert res["sim/score"] == 1.0
    assert res["sim/log_divergence_m"] == 0.0
    # 14.5 m of 100 m route covered from x = 0
    assert res["sim/route_completion"] == pytest.approx(14.5 / 100)


def test_stopped_car_ahead_is_at_fault_and_zeroes_score():
    # ego front bumper (rear axle + 1.3 + 2.042) reaches x = 10 at t = 1.33 s; car rear at x = 10
    ep = _episode(agents=lambda i: (_agent(12.25, 0.0),))
    res = closed_loop_scores(ep)
    assert res["sim/collision_rate"] == 1.0
    assert res["sim/at_fault_collision_rate"] == 1.0
    assert res["sim/ttc_ok"] == 0.0
    assert res["sim/score"] == 0.0


def test_rear_end_by_moving_agent_is_not_at_fault():
    # ego stopped at the origin; a car from behind drives into it
    ep = _episode(speed=0.0, agents=lambda i: (_agent(-8.0 + 3.0 * i * DT, 0.0, vx=3.0),))
    res = closed_loop_scores(ep)
    assert res["sim/collision_rate"] == 1.0
    assert res["sim/at_fault_collision_rate"] == 0.0
    assert res["sim/progress_ratio"] == pytest.approx(0.1 / 14.5)


def test_one_object_collision_halves_the_multiplier():
    ep = _episode(occ=lambda i: 10 <= i < 13)  # one voxel-collision event with static geometry
    res = closed_loop_scores(ep)
    assert res["sim/collision_rate"] == 1.0 and res["sim/at_fault_collision_rate"] == 1.0
    assert res["sim/no_at_fault_collision_multiplier"] == 0.5
    assert res["sim/score"] == pytest.approx(0.5)
    two = closed_loop_scores(_episode(occ=lambda i: i in (5, 20)))
    assert two["sim/no_at_fault_collision_multiplier"] == 0.0


def test_offroad_progress_and_divergence():
    res = closed_loop_scores(_episode(y=4.5))  # left corners 4.5 + 0.925 > 5 + 0.3
    assert res["sim/offroad_rate"] == 1.0 and res["sim/score"] == 0.0
    assert res["sim/log_divergence_m"] == pytest.approx(4.5)
    slow = closed_loop_scores(_episode(speed=2.5))
    assert slow["sim/progress_ratio"] == pytest.approx(0.5)
    assert slow["sim/score"] == pytest.approx((5 + 5 * 0.5 + 2) / 12)
    nomap = closed_loop_scores(_episode(road=None))
    assert np.isnan(nomap["sim/offroad_rate"]) and nomap["sim/score"] == 1.0


def test_uncomfortable_braking():
    steps = []
    for i in range(N):
        speed = 10.0 if i < 15 else 0.0  # 10 m/s to 0 in one 0.1 s step
        steps.append(StepRecord(int(i * 1e5), EgoState(int(i * 1e5), i * 0.5, 0.0, 0.0, speed_mps=speed), ()))
    ep = EpisodeLog("b", "closed_loop", DT, VehicleParams(), tuple(steps), ROUTE, ROAD)
    assert closed_loop_scores(ep)["sim/comfort_ok"] == 0.0


def test_accumulator_and_invalid():
    m = ClosedLoopMetric()
    m.update(_episode())
    m.update(_episode(agents=lambda i: (_agent(12.25, 0.0),)))
    res = m.compute()
    assert res["sim/collision_rate"] == 0.5 and res["sim/score"] == 0.5 and res["sim/n_episodes"] == 2.0
    with pytest.raises(ValidationError, match="empty"):
        closed_loop_scores(EpisodeLog("e", "closed_loop", DT, VehicleParams(), (), ROUTE))
