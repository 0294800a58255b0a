"""Closed-loop tracking of logged (expert-like) futures by the controller + bicycle kernel."""

from __future__ import annotations

import math

import numpy as np

from occplan.sim import TrackerConfig
from occplan.sim.controller import Reference, track, tracker_gains
from occplan.sim.dynamics import bicycle, ego_state, vehicle_limits
from occplan.types import Trajectory, TrajectorySampling, VehicleParams


def _junction_turn_log(dt_s: float = 0.1) -> np.ndarray:
    """(N, 3) x, y, yaw of a 90-degree left turn of radius 8 m at an intersection: 8 m/s approach,
    braking to 4 m/s before the turn, turning at 4 m/s, accelerating after it."""
    t = np.arange(0.0, 14.0 + 1e-9, dt_s)
    speed = np.interp(t, [0.0, 2.0, 4.0, 9.0, 12.0], [8.0, 8.0, 4.0, 4.0, 7.0])
    s = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * dt_s)])
    radius, straight = 8.0, 30.0
    arc_end = straight + radius * math.pi / 2
    yaw = np.clip((s - straight) / radius, 0.0, math.pi / 2)
    x = np.where(s < straight, s, straight + radius * np.sin(yaw))
    y = np.where(s < straight, 0.0, radius * (1 - np.cos(yaw)))
    after = s > arc_end
    y = np.where(after, radius + (s - arc_end), y)
    return np.column_stack([x, y, yaw]), speed


def _future_in_ego_frame(log_xy_yaw: np.ndarray, row: int, ego, stride: int) -> np.ndarray:
    rows = np.minimum(row + stride * np.arange(1, 7), len(log_xy_yaw) - 1)
    c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
    d = log_xy_yaw[rows, :2] - [ego.x_m, ego.y_m]
    return np.column_stack([d @ np.array([[c, -s], [s, c]]), log_xy_yaw[rows, 2] - ego.yaw_rad])


def test_logged_junction_turn_is_tracked_within_half_a_metre():
    """Issue 5: with the logged future as the plan (re-planned every 0.5 s), the closed loop stays
    within 0.5 m of the log through braking, a tight 90-degree turn and acceleration."""
    v, cfg = VehicleParams(), TrackerConfig()
    gains, limits = tracker_gains(cfg), vehicle_limits(v, cfg.max_steer_rate_radps)
    log, speed = _junction_turn_log()
    sampling = TrajectorySampling()
    ego = np.array([0.0, 0.0, 0.0, speed[0], 0.0, 0.0, 0.0])
    memory = np.zeros(2)
    worst = 0.0
    for decision in range((len(log) - 1) // 5):
        row = decision * 5
        state = ego_state(0, ego)
        ref = Reference.from_plan(Trajectory(_future_in_ego_frame(log, row, state, 5), sampling), state)
        for i in range(5):
            accel, rate, memory[0], memory[1] = track(
                ego, ref.xy_m, ref.times_s, ref.profile, i * 0.1, memory, gains, v.wheelbase_m, v.max_steer_rad, 0.1
            )
            ego = bicycle(ego, accel, rate, 0.1, limits)
            worst = max(worst, float(np.hypot(*(ego[:2] - log[row + i + 1, :2]))))
    assert worst < 0.5


def _brake_to_still_plan(cfg: TrackerConfig) -> tuple[np.ndarray, list[float]]:
    """Track a plan that stands still from 5 m/s for 6 s; return the final ego vector and accelerations."""
    v = VehicleParams()
    gains, limits = tracker_gains(cfg), vehicle_limits(v, cfg.max_steer_rate_radps)
    ego = np.array([0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0])
    ref = Reference.from_plan(Trajectory(np.zeros((6, 3)), TrajectorySampling()), ego_state(0, ego))
    memory, accels = np.zeros(2), []
    for i in range(60):
        accel, rate, memory[0], memory[1] = track(
            ego,
            ref.xy_m,
            ref.times_s,
            ref.profile,
            min(i * 0.1, 3.0),
            memory,
            gains,
            v.wheelbase_m,
            v.max_steer_rad,
            0.1,
        )
        ego = bicycle(ego, accel, rate, 0.1, limits)
        accels.append(ego[4])
    return ego, accels


def test_still_plan_brakes_to_a_stop_without_jerk_spikes():
    """Without error catch-up the acceleration changes by at most the base jerk limit, and the ego stops."""
    cfg = TrackerConfig(jerk_per_error_mps3pm=0.0)
    ego, accels = _brake_to_still_plan(cfg)
    assert ego[3] == 0.0
    moving = np.array(accels[:-1])[np.array(accels[1:]) != 0]
    assert np.all(np.abs(np.diff(moving)) <= cfg.max_jerk_mps3 * 0.1 + 1e-9)


def test_error_catch_up_stops_shorter():
    """The default tracker raises the jerk limit with the along-track error: it still stops, and sooner."""
    ego_default, _ = _brake_to_still_plan(TrackerConfig())
    ego_base, _ = _brake_to_still_plan(TrackerConfig(jerk_per_error_mps3pm=0.0))
    assert ego_default[3] == 0.0
    assert ego_default[0] < ego_base[0]
