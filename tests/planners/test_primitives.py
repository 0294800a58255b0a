"""Geometry and motion primitives: footprint, route path, speed profiles, curvature integration,
motion profile, IDM."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from occplan.rules.comfort import ComfortBounds
from occplan.rules.idm import idm_accel
from occplan.types import EgoState, Trajectory, TrajectorySampling, VehicleParams
from planners.consistency import PreviousPlan
from planners.footprint import Footprint, footprint_hits, place
from planners.kinematics import comfort_violation, fine_times, integrate_curvature, motion_profile, speed_profiles
from planners.occ_sampler import OccSamplerConfig, curve_speed_limit_mps
from planners.pdm import PDM_IDM
from planners.route import Path, blend_lateral
from planners.synthetic import arc_route, make_input, road_scene, straight_route


def test_footprint_covers_the_box_and_discs_cover_the_corners():
    v = VehicleParams()
    fp = Footprint.from_vehicle(v, spacing_m=0.4)
    lo, hi = fp.points_m.min(axis=0), fp.points_m.max(axis=0)
    np.testing.assert_allclose(lo, [v.rear_axle_to_center_m - v.length_m / 2, -v.width_m / 2])
    np.testing.assert_allclose(hi, [v.rear_axle_to_center_m + v.length_m / 2, v.width_m / 2])
    assert np.diff(np.unique(fp.points_m[:, 0])).max() <= 0.4 + 1e-9
    d = np.hypot(*(fp.corners_m[:, None, :] - fp.disc_centers_m[None]).transpose(2, 0, 1))
    assert np.all(d.min(axis=1) <= fp.disc_radius_m + 1e-9)


def test_place_rotates_about_the_rear_axle():
    out = place(np.array([[1.0, 2.0, np.pi / 2]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(out, [[[1.0, 3.0], [0.0, 2.0]]], atol=1e-12)


def test_path_projection_round_trip_on_an_arc():
    path = Path.from_polyline(arc_route(30.0, 60.0))
    s = np.array([12.0, 20.0, 35.0])
    lat = np.array([-1.0, 0.5, 2.0])
    q = path.sample(s, lat)
    s_back, lat_back = path.project(q[:, :2])
    np.testing.assert_allclose(s_back, s, atol=0.02)
    np.testing.assert_allclose(lat_back, lat, atol=0.02)
    np.testing.assert_allclose(path.curvature_1pm[40:100], 1 / 30.0, atol=2e-3)
    # beyond the end the path continues straight
    end = path.sample(np.array([path.length_m + 5.0]))[0]
    last = path.sample(np.array([path.length_m]))[0]
    assert np.hypot(*(end[:2] - last[:2])) == pytest.approx(5.0)


def _straight_then_arc(straight_m: float, radius_m: float) -> Path:
    """A path from the ego: ``straight_m`` along x, then a left arc of ``radius_m`` (90 degrees)."""
    arc = arc_route(radius_m, np.pi / 2 * radius_m, step_m=0.25)
    return Path.from_polyline(np.vstack([straight_route(straight_m, 0.25)[:-1], arc + np.array([straight_m, 0.0])]))


def test_curve_speed_cap_is_the_lateral_acceleration_bound_on_the_arc():
    path = _straight_then_arc(10.0, 20.0)
    cap = path.curve_speed_cap_mps(np.array([3.0, 15.0, 25.0]), 2.5)
    assert cap[0] > 100.0  # straight: no cap
    np.testing.assert_allclose(cap[1:], np.sqrt(2.5 * 20.0), rtol=0.02)


def test_occ_sampler_speed_limit_brakes_in_time_for_a_curve():
    cfg = OccSamplerConfig()  # 2.5 m/s^2 lateral, braking at 2 m/s^2
    tight = curve_speed_limit_mps(_straight_then_arc(10.0, 10.0), cfg)
    # the arc (cap sqrt(2.5 * 10) = 5 m/s) starts 10 m ahead: sqrt(5^2 + 2 * 2 * 10)
    assert tight == pytest.approx(np.sqrt(25.0 + 40.0), abs=0.3)
    assert curve_speed_limit_mps(Path.from_polyline(straight_route(80.0)), cfg) > 20.0


def test_degenerate_polylines_have_no_path():
    assert Path.from_polyline(np.zeros((0, 2))) is None
    assert Path.from_polyline(np.zeros((3, 2))) is None


def test_blend_lateral_reaches_the_target_smoothly():
    lat, dlat = blend_lateral(np.array([0.0, 5.0, 10.0, 20.0]), 1.0, np.array(-1.0), 10.0)
    np.testing.assert_allclose(lat, [1.0, 0.0, -1.0, -1.0])
    assert dlat[0] == 0 and dlat[-1] == 0 and dlat[1] == pytest.approx(-2.0 * 1.5 / 10.0)


def test_speed_profiles_golden_values():
    t = np.linspace(0.0, 3.0, 601)
    acc = np.array([-6.0, -1.0, 0.0, 1.5, 3.0])
    travel, v = speed_profiles(8.0, 0.0, acc, 10.0, t, ramp_s=1e-9)  # instant: constant acceleration
    assert v[0, -1] == 0.0 and v[-1, -1] == 10.0
    assert travel[0, -1] == pytest.approx(8.0**2 / 12.0, abs=1e-3)  # stops after v^2 / 2a
    assert travel[1, -1] == pytest.approx(8.0 * 3 - 0.5 * 3**2, abs=1e-3)
    _, v = speed_profiles(5.0, 1.0, np.array([-2.0]), 20.0, t, ramp_s=1.0)
    # v(3) = v0 + a0 * ramp / 2 + a * (3 - ramp / 2); jerk = 3 m/s^3 over the first second
    assert v[0, -1] == pytest.approx(5.0 + 0.5 - 2.0 * 2.5)
    accel = np.gradient(v[0], t)
    assert np.abs(np.diff(accel[:250]) / np.diff(t[:250])).max() == pytest.approx(3.0, rel=0.02)


def test_integrate_curvature_follows_a_circle():
    t = fine_times(TrajectorySampling(), 20)
    v = np.full((1, len(t)), 5.0)
    poses = integrate_curvature(v, 0.1, np.array([0.1]), t, ramp_s=1.0)
    radial = np.hypot(poses[0, :, 0], poses[0, :, 1] - 10.0)
    np.testing.assert_allclose(radial, 10.0, atol=1e-3)
    assert poses[0, -1, 2] == pytest.approx(5.0 * 3.0 * 0.1)


def test_motion_profile_of_uniform_motion_is_calm():
    times = TrajectorySampling().times_s
    poses = np.stack([np.column_stack([10.0 * times, np.zeros(6), np.zeros(6)])])
    m = motion_profile(poses, 0.5, 10.0, 0.0, 0.0)
    np.testing.assert_allclose(m.speed_mps, 10.0)
    np.testing.assert_allclose(m.lon_accel_mps2, 0.0, atol=1e-12)
    assert comfort_violation(ComfortBounds(), m)[0] == 0.0
    braking = np.stack([np.column_stack([10.0 * times - 3.0 * times**2, np.zeros(6), np.zeros(6)])])
    mb = motion_profile(braking, 0.5, 10.0, -6.0, 0.0)
    np.testing.assert_allclose(mb.lon_accel_mps2[:, :3], -6.0, atol=1e-9)  # one-sided at the far end
    assert comfort_violation(ComfortBounds(), mb)[0] > 0


def test_idm_golden_values():
    p = PDM_IDM
    assert idm_accel(np.array(0.0), 10.0, np.inf, 0.0, p) == pytest.approx(p.accel_max_mps2)
    assert idm_accel(np.array(10.0), 10.0, np.inf, 0.0, p) == pytest.approx(0.0)
    # at the desired gap s* behind a leader at equal speed: a = a_max * (free - 1)
    v = 5.0
    s_star = p.min_gap_m + v * p.headway_s
    expected = p.accel_max_mps2 * ((1 - (v / 10.0) ** 4) - 1.0)
    assert idm_accel(np.array(v), 10.0, s_star, v, p) == pytest.approx(expected)
    assert idm_accel(np.array(10.0), 10.0, 0.5, 0.0, p) == pytest.approx(-p.decel_max_mps2)


def test_fused_footprint_hits_agree_with_place_and_lookup():
    rng = np.random.default_rng(5)
    occupied = rng.random((3, 50, 40)) < 0.02
    min_xy, cell = np.array([-10.0, -8.0]), 0.4
    poses = np.column_stack([rng.uniform(-12, 12, 300), rng.uniform(-10, 10, 300), rng.uniform(-4, 4, 300)])
    poses = poses.reshape(100, 3, 3)
    steps = np.array([0, 2, 1])
    local = Footprint.from_vehicle(VehicleParams()).points_m
    fast = footprint_hits(poses, local, occupied, steps, min_xy, cell)
    pts = place(poses, local)  # (100, 3, P, 2)
    idx = np.floor((pts - min_xy) / cell).astype(int)
    inside = (idx[..., 0] >= 0) & (idx[..., 0] < 50) & (idx[..., 1] >= 0) & (idx[..., 1] < 40)
    ix, iy = np.clip(idx[..., 0], 0, 49), np.clip(idx[..., 1], 0, 39)
    ref = (occupied[steps[None, :, None], ix, iy] & inside).any(axis=2)
    assert ref.any() and not ref.all()
    np.testing.assert_array_equal(fast, ref)


def test_previous_plan_is_re_expressed_in_the_new_ego_frame():
    occ, _ = road_scene(straight_route())
    ego0 = EgoState(time_us=0, x_m=100.0, y_m=50.0, yaw_rad=np.pi / 2, speed_mps=10.0)
    plan = Trajectory(np.column_stack([10.0 * TrajectorySampling().times_s, np.zeros(6), np.zeros(6)]))
    prev = PreviousPlan(0, ego0, plan)
    # half a second later the ego has moved 5 m along its heading (north)
    ego1 = EgoState(time_us=500_000, x_m=100.0, y_m=55.0, yaw_rad=np.pi / 2, speed_mps=10.0)
    inp = replace(make_input(occ, 10.0, straight_route()), time_us=500_000, ego_state=ego1)
    np.testing.assert_allclose(prev.overlap(inp)[:, :2], plan.poses[1:, :2] - [5.0, 0.0], atol=1e-9)
    assert prev.overlap(replace(inp, time_us=1_000_000)) is None  # not the next decision
