"""Unit behaviour of the sim core: bicycle golden values, box overlap vs shapely, route projection,
the occupancy-collision band, curve tracking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import Polygon

from occplan.rules.footprint import box_corners, boxes_overlap
from occplan.sim import TrackerConfig
from occplan.sim.controller import track, tracker_gains
from occplan.sim.dynamics import Control, bicycle, bicycle_step, vehicle_limits
from occplan.sim.log import LogTrack
from occplan.sim.route import ExpertPath
from occplan.types import EgoState, Pose, TrajectorySampling, VehicleParams


def test_bicycle_constant_steer_drives_a_circle_of_radius_wheelbase_over_tan_steer():
    v = VehicleParams()
    steer = 0.1
    ego = EgoState(0, 0.0, 0.0, 0.0, speed_mps=5.0, steer_rad=steer)
    radius = v.wheelbase_m / math.tan(steer)
    for _ in range(100):
        ego = bicycle_step(ego, Control(0.0, 0.0), 0.1, v, 0.7)
    center = np.array([0.0, radius])
    assert abs(np.hypot(ego.x_m - center[0], ego.y_m - center[1]) - radius) < 1e-6
    assert ego.time_us == 10_000_000


def test_bicycle_clips_inputs_and_never_reverses():
    v = VehicleParams()
    ego = EgoState(0, 0.0, 0.0, 0.0, speed_mps=0.5)
    out = bicycle_step(ego, Control(-100.0, 100.0), 0.1, v, 0.7)
    assert out.speed_mps == 0.0 and out.steer_rad == pytest.approx(0.07) and out.x_m >= 0.0


def test_boxes_overlap_agrees_with_shapely():
    rng = np.random.default_rng(0)
    a = box_corners(np.zeros((1, 2)), np.array([[1.85, 4.084]]), np.array([0.3]))[0]
    centers = rng.uniform(-6, 6, (300, 2))
    sizes = rng.uniform(0.5, 5, (300, 2))
    yaws = rng.uniform(-np.pi, np.pi, 300)
    b = box_corners(centers, sizes, yaws)
    want = np.array([Polygon(a).intersects(Polygon(c)) for c in b])
    assert np.array_equal(boxes_overlap(a, b), want)


def test_route_projection_and_ahead_on_a_straight_log():
    route = ExpertPath.from_log(np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]]))
    s, d = route.project(np.array([[5.0, 2.0], [25.0, -1.0]]))
    assert np.allclose(s, [5.0, 25.0]) and np.allclose(d, [2.0, 1.0])
    assert route.expert_length_m == 20.0


def test_tracking_the_logged_path_of_a_curve_stays_on_it():
    """The tracker on a 20 m radius arc at 8 m/s (kernel path via the Simulator's pieces)."""
    v = VehicleParams()
    gains, limits = tracker_gains(TrackerConfig()), vehicle_limits(v, TrackerConfig().max_steer_rate_radps)
    t = np.arange(0, 6.01, 0.05)
    angle = 8.0 * t / 20.0
    xy = np.column_stack([20 * np.sin(angle), 20 * (1 - np.cos(angle))])
    profile = np.column_stack([angle, np.full_like(t, 8.0), np.zeros_like(t), np.full_like(t, 1 / 20)])
    ego, memory = np.array([0.0, 0.0, 0.0, 8.0, 0.0, 0.4, math.atan(v.wheelbase_m / 20)]), np.zeros(2)
    for i in range(60):
        accel, rate, memory[0], memory[1] = track(ego, xy, t, profile, i * 0.1, memory, gains, v.wheelbase_m,
                                                  v.max_steer_rad, 0.1)  # fmt: skip
        ego = bicycle(ego, accel, rate, 0.1, limits)
        assert abs(np.hypot(ego[0], ego[1] - 20.0) - 20.0) < 0.3


def test_log_future_moves_on_past_the_logs_end():
    """Waypoints after the last logged pose continue at the last speed along the last heading."""
    t_us = np.arange(5) * 500_000
    xy = np.column_stack([5.0 * t_us * 1e-6, np.zeros(5)])
    log = LogTrack(t_us, xy, np.zeros(5), np.zeros(5), np.full(5, 5.0))
    future = log.future(Pose.from_xy_yaw(5.0, 0.0, 0.0), 1_000_000, TrajectorySampling())
    np.testing.assert_allclose(future.poses[:, 0], 2.5 * np.arange(1, 7))
    np.testing.assert_allclose(future.poses[:, 1:], 0.0, atol=1e-12)
