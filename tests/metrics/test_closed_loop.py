"""Closed-loop scores on hand-made episode histories with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from occplan.errors import ValidationError
from occplan.metrics.closed_loop import ClosedLoopMetric, closed_loop_scores
from occplan.types import EpisodeHistory, VehicleParams

DT = 0.1
N = 30
VEHICLE = VehicleParams()
D = VEHICLE.rear_axle_to_center_m
ROUTE = np.array([[0.0, 0.0], [100.0, 0.0]])
ROAD = shapely.to_wkb(shapely.box(-10.0, -5.0, 110.0, 5.0))
LANES = shapely.to_wkb(shapely.GeometryCollection([shapely.box(-10, -5, 110, 0), shapely.box(-10, 0, 110, 5)]))


def _wkb(b: bytes | None) -> np.ndarray:
    return np.frombuffer(b, np.uint8).copy() if b else np.zeros(0, np.uint8)


def history(
    speed=5.0, y=0.0, agents=(), contacts=(), road=ROAD, lanes=None, accel=None, expert_speed=5.0
) -> EpisodeHistory:
    """Ego driving along +x at ``speed`` (rear axle from x = 0) at lateral ``y``; ``agents`` a list of
    (token, class, fn(i) -> (x, y, vx) or None); ``contacts`` (row, x, y) static obstacle columns."""
    t = np.arange(N) * DT
    rear_x = speed * t
    center = np.column_stack([rear_x + D, np.full(N, y), np.zeros(N)])
    expert = np.column_stack([expert_speed * t + D, np.zeros(N), np.zeros(N)])
    boxes = np.full((N, len(agents), 5), np.nan)
    vel = np.full((N, len(agents), 2), np.nan)
    for k, (_, _, fn) in enumerate(agents):
        for i in range(N):
            s = fn(i)
            if s is not None:
                boxes[i, k] = (s[0], s[1], 0.0, 4.5, 1.9)
                vel[i, k] = (s[2], 0.0)
    acc = np.zeros((N, 2)) if accel is None else accel
    return EpisodeHistory(
        scenario="s", mode="closed", start_time_us=0, time_s=t, ego_center=center,
        ego_size=np.array([VEHICLE.length_m, VEHICLE.width_m, VEHICLE.height_m]), ego_rear_axle_to_center_m=D,
        ego_velocity=np.column_stack([np.full(N, speed), np.zeros(N)]), ego_acceleration=acc,
        ego_yaw_rate=np.zeros(N), agent_token=np.array([a[0] for a in agents], dtype=str),
        agent_class=np.array([a[1] for a in agents], dtype=str), agent_boxes=boxes, agent_velocity=vel,
        expert_center=expert, route_xy=ROUTE.copy(),
        static_contact_index=np.array([c[0] for c in contacts], np.int64),
        static_contact_xy=np.array([c[1:] for c in contacts], np.float64).reshape(-1, 2),
        drivable_wkb=_wkb(road), lanes_wkb=_wkb(lanes),
    )  # fmt: skip


def score(h: EpisodeHistory) -> dict[str, float]:
    return closed_loop_scores(h)


def test_clean_episode_scores_one():
    res = score(history())
    assert res["sim/collision_rate"] == 0.0
    assert res["sim/offroad_rate"] == 0.0
    assert res["sim/progress_ratio"] == 1.0
    assert res["sim/ttc_ok"] == 1.0 and res["sim/comfort_ok"] == 1.0
    assert res["sim/score"] == 1.0
    assert res["sim/log_divergence_m"] == 0.0
    # the box centre moves 14.5 m of the 98.7 m of route ahead of its start (x = 1.3)
    assert res["sim/route_completion"] == pytest.approx(14.5 / 98.7)


def test_stopped_car_ahead_is_at_fault_and_zeroes_score():
    # ego front bumper (rear axle + 1.3 + 2.042) reaches x = 10 at t = 1.33 s; car rear at x = 10
    res = score(history(agents=[("a", "vehicle.car", lambda i: (12.25, 0.0, 0.0))]))
    assert res["sim/collision_rate"] == 1.0
    assert res["sim/at_fault_collision_rate"] == 1.0
    assert res["sim/ttc_ok"] == 0.0
    assert res["sim/score"] == 0.0


def test_rear_end_by_moving_agent_is_not_at_fault():
    # ego stopped at the origin; a car from behind drives into it
    res = score(history(speed=0.0, agents=[("a", "vehicle.car", lambda i: (-8.0 + 3.0 * i * DT, 0.0, 3.0))]))
    assert res["sim/collision_rate"] == 1.0
    assert res["sim/at_fault_collision_rate"] == 0.0
    assert res["sim/progress_ratio"] == pytest.approx(0.1 / 14.5)


def _side_swipe(lanes):
    """A car driving alongside on the left (its front 0.3 m behind the ego's) drifts into the ego's
    side: a lateral contact with a moving agent."""
    return history(
        y=-1.5, lanes=lanes,
        agents=[("a", "vehicle.car", lambda i: (D - 0.5 + 0.5 * i, max(2.0 - 0.1 * i, 0.3), 5.0))],
    )  # fmt: skip


def test_lateral_contact_at_fault_only_when_the_ego_straddles_lanes():
    # ego centred at y = -1.5: corners -2.425 .. -0.575 inside the right lane (y in [-5, 0])
    inside = score(_side_swipe(LANES))
    assert inside["sim/collision_rate"] == 1.0 and inside["sim/at_fault_collision_rate"] == 0.0
    one_lane_road = shapely.to_wkb(shapely.GeometryCollection([shapely.box(-10, -1.0, 110, 5)]))
    straddling = score(_side_swipe(one_lane_road))  # the ego's right corners lie outside every lane
    assert straddling["sim/at_fault_collision_rate"] == 1.0


def test_one_static_object_touched_twice_is_one_event():
    # the same pole (two columns 0.4 m apart) touched at rows 10-12 and again at row 20
    pole = [(10, 20.0, 0.5), (11, 20.0, 0.9), (12, 20.1, 0.5), (20, 20.0, 0.5)]
    res = score(history(contacts=pole))
    assert res["sim/collision_rate"] == 1.0 and res["sim/at_fault_collision_rate"] == 1.0
    assert res["sim/no_at_fault_collision_multiplier"] == 0.5
    assert res["sim/score"] == pytest.approx(0.5)
    two = score(history(contacts=[(5, 10.0, 0.5), (20, 30.0, 0.5)]))  # two objects 20 m apart
    assert two["sim/no_at_fault_collision_multiplier"] == 0.0


def test_offroad_progress_and_divergence():
    res = score(history(y=4.5))  # left corners 4.5 + 0.925 > 5 + 0.3
    assert res["sim/offroad_rate"] == 1.0 and res["sim/score"] == 0.0
    assert res["sim/log_divergence_m"] == pytest.approx(4.5)
    slow = score(history(speed=2.5))
    assert slow["sim/progress_ratio"] == pytest.approx(0.5)
    assert slow["sim/score"] == pytest.approx((5 + 5 * 0.5 + 2) / 12)
    nomap = score(history(road=None))
    assert np.isnan(nomap["sim/offroad_rate"]) and nomap["sim/score"] == 1.0


def test_uncomfortable_braking():
    accel = np.zeros((N, 2))
    accel[15, 0] = -100.0  # 10 m/s to 0 in one 0.1 s step
    assert score(history(accel=accel))["sim/comfort_ok"] == 0.0


def test_accumulator_and_invalid():
    m = ClosedLoopMetric()
    m.update(history())
    m.update(history(agents=[("a", "vehicle.car", lambda i: (12.25, 0.0, 0.0))]))
    res = m.compute()
    assert res["sim/collision_rate"] == 0.5 and res["sim/score"] == 0.5 and res["sim/n_episodes"] == 2.0
    with pytest.raises(ValidationError, match="ego_center"):
        h = history()
        EpisodeHistory(**{**h.__dict__, "ego_center": h.ego_center[:-1]})


def test_history_round_trip(tmp_path):
    h = history(agents=[("a", "vehicle.car", lambda i: (12.25, 0.0, 0.0) if i < 20 else None)], contacts=[(3, 5, 1)])
    back = EpisodeHistory.load(h.save(tmp_path / "episodes" / "s.npz"))
    for name, value in h.__dict__.items():
        assert np.array_equal(np.asarray(value), np.asarray(getattr(back, name)), equal_nan=value is not None and
                              np.asarray(value).dtype.kind == "f"), name  # fmt: skip
    assert score(back) == score(h)
