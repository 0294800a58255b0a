"""Closed-loop tracking of logged (expert-like) futures by the controller + bicycle kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from occplan.sim import TrackerConfig
from occplan.sim.controller import Reference, _clamped_natural_spline, track, tracker_gains
from occplan.sim.dynamics import bicycle, ego_state, vehicle_limits
from occplan.types import EgoState, Trajectory, TrajectorySampling, VehicleParams


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


def _scipy_reference(plan: Trajectory, ego: EgoState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xy, times, profile) of ``Reference.from_plan`` computed with scipy's ``CubicSpline``."""
    c, s = math.cos(ego.yaw_rad), math.sin(ego.yaw_rad)
    knots_t = np.concatenate([[0.0], plan.sampling.times_s])
    times = np.arange(0.0, knots_t[-1] + 1e-9, 0.05)
    knots_xy = np.vstack([np.zeros((1, 2)), plan.xy_m]) @ np.array([[c, s], [-s, c]]) + [ego.x_m, ego.y_m]
    knots_yaw = np.unwrap(np.concatenate([[0.0], plan.poses[:, 2]])) + ego.yaw_rad
    pos = CubicSpline(knots_t, knots_xy, bc_type=((1, ego.speed_mps * np.array([c, s])), (2, np.zeros(2))))
    yaw = CubicSpline(knots_t, knots_yaw, bc_type=((1, ego.yaw_rate_radps), (2, 0.0)))
    heading = yaw(times)
    unit = np.column_stack([np.cos(heading), np.sin(heading)])
    speed = np.einsum("ij,ij->i", pos(times, 1), unit)
    accel = np.einsum("ij,ij->i", pos(times, 2), unit)
    curvature = yaw(times, 1) / np.maximum(np.abs(speed), 1.0)
    return pos(times), times, np.column_stack([heading, speed, accel, curvature])


def _plan(kind: str) -> Trajectory:
    t = TrajectorySampling().times_s
    if kind == "straight":
        return Trajectory(np.column_stack([8.0 * t, np.zeros(6), np.zeros(6)]))
    if kind == "curved":
        x, y = 6.0 * t + 0.3 * t**2, 0.4 * t**2
        return Trajectory(np.column_stack([x, y, np.arctan2(0.8 * t, 6.0 + 0.6 * t)]))
    if kind == "stop":  # decelerates from 4 m/s to a stop at t = 2 s, then holds
        s = np.where(t < 2.0, 4.0 * t - t**2, 4.0)
        return Trajectory(np.column_stack([s, 0.1 * s, np.full(6, math.atan(0.1))]))
    # Reversing yaw: a tight turn whose heading crosses +-pi (wrapped in the plan) and turns back.
    yaw = np.array([1.2, 2.6, 3.1, -3.0, 3.0, 2.2])
    yaw = np.arctan2(np.sin(yaw), np.cos(yaw))
    return Trajectory(np.column_stack([np.cumsum(np.cos(yaw)), np.cumsum(np.sin(yaw)), yaw]))


@pytest.mark.parametrize("kind", ["straight", "curved", "stop", "reversing_yaw"])
@pytest.mark.parametrize(
    "ego",
    [EgoState(0, 0.0, 0.0, 0.0, speed_mps=8.0), EgoState(0, 12.0, -5.0, 3.0, speed_mps=3.5, yaw_rate_radps=-0.4)],
)
def test_reference_matches_scipy_cubic_spline(kind, ego):
    """The numba spline reference equals scipy's clamped/natural ``CubicSpline`` reference."""
    plan = _plan(kind)
    ref = Reference.from_plan(plan, ego)
    xy, times, profile = _scipy_reference(plan, ego)
    np.testing.assert_array_equal(ref.times_s, times)
    np.testing.assert_allclose(ref.xy_m, xy, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ref.profile, profile, rtol=0, atol=1e-9)


def test_still_plan_reference_holds_the_ego_pose():
    ego = EgoState(0, 3.0, 4.0, 0.5, speed_mps=2.0)
    ref = Reference.from_plan(Trajectory(np.full((6, 3), [0.02, 0.0, 0.1])), ego)
    np.testing.assert_array_equal(ref.times_s, np.arange(0.0, 3.0 + 1e-9, 0.05))
    np.testing.assert_array_equal(ref.xy_m, np.tile([3.0, 4.0], (len(ref.times_s), 1)))
    np.testing.assert_array_equal(ref.profile, np.column_stack([np.full(len(ref.times_s), 0.5), np.zeros((61, 3))]))


@pytest.mark.parametrize("n", [2, 3, 7, 12])
def test_spline_solver_matches_scipy_on_uneven_knots(n):
    rng = np.random.default_rng(n)
    knots = np.cumsum(rng.uniform(0.1, 1.0, n)) - 0.3
    values, slopes0 = rng.normal(size=(n, 3)), rng.normal(size=3)
    times = np.linspace(knots[0], knots[-1], 97)
    got = _clamped_natural_spline(knots, values, slopes0, times)
    spline = CubicSpline(knots, values, bc_type=((1, slopes0), (2, np.zeros(3))))
    for nu in range(3):
        np.testing.assert_allclose(got[nu], spline(times, nu), rtol=0, atol=1e-9)
