"""nuPlan's ego_is_comfortable: golden values derived by hand, and agreement with a plain least-squares path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.rules.comfort import ComfortBounds, ComfortResult, evaluate_comfort

D_M = 1.3  # rear axle to box centre
FLAGS = ("lon_accel_ok", "lat_accel_ok", "jerk_ok", "lon_jerk_ok", "yaw_rate_ok", "yaw_accel_ok")


def _comfort(t, yaw, accel, omega=None, alpha=None, d=D_M, bounds=None) -> ComfortResult:
    zeros = np.zeros_like(t)
    return evaluate_comfort(
        t,
        yaw,
        accel,
        zeros if omega is None else omega,
        zeros if alpha is None else alpha,
        d,
        bounds,
    )


def _failing(res: ComfortResult) -> set[str]:
    return {f for f in FLAGS if not getattr(res, f)}


def _ref_savgol(y: np.ndarray, window: int, order: int, deriv: int, dt: float) -> np.ndarray:
    """Least-squares polynomial per sample (np.polyfit), placed as scipy's interp mode places it:
    the first / last window // 2 samples use the fit over the first / last ``window`` samples at their
    own position; in between, an odd window is centred on the sample and an even one covers
    i - w/2 + 1 .. i + w/2 and is evaluated half a sample later."""
    n = y.shape[0]
    w = min(window, n)
    h = w // 2
    out = np.empty(n)
    for i in range(n):
        if i < h:
            lo, at = 0, float(i)
        elif i >= n - h:
            lo, at = n - w, float(i)
        elif w % 2:
            lo, at = i - h, float(i)
        else:
            lo, at = i - h + 1, i + 0.5
        idx = np.arange(lo, lo + w)
        coef = np.polyfit(idx - at, y[idx], order)
        out[i] = np.polyval(np.polyder(coef, deriv), 0.0) / dt**deriv
    return np.round(out, 8)


def _ramp_step_slope() -> float:
    """Slope (per sample) at sample 0 of the quadratic least-squares fit over samples 0..14 of the
    step [i >= 4]: the extra jerk, in units of j/2, that the half-sample offset of the smoothed ramp
    produces at the first sample."""
    i = np.arange(15.0)
    return float(np.polyval(np.polyder(np.polyfit(i, (i >= 4).astype(float), 2)), 0.0))


def test_bounds_are_nuplans():
    b = ComfortBounds()
    assert (b.min_lon_accel_mps2, b.max_lon_accel_mps2) == (-4.05, 2.40)
    assert b.max_abs_lat_accel_mps2 == 4.89
    assert b.max_abs_yaw_rate_radps == 0.95
    assert b.max_abs_yaw_accel_radps2 == 1.93
    assert b.max_abs_lon_jerk_mps3 == 4.13
    assert b.max_abs_jerk_mps3 == 8.37


def test_constant_acceleration_has_zero_jerk():
    t = 0.1 * np.arange(40)
    accel = np.column_stack([np.full(40, 1.5), np.zeros(40)])
    res = _comfort(t, np.zeros(40), accel)
    np.testing.assert_allclose(res.lon_accel_mps2, 1.5, atol=1e-12)
    np.testing.assert_allclose(res.lat_accel_mps2, 0.0, atol=1e-12)
    np.testing.assert_allclose(res.jerk_mps3, 0.0, atol=1e-12)
    np.testing.assert_allclose(res.lon_jerk_mps3, 0.0, atol=1e-12)
    np.testing.assert_allclose(res.yaw_rate_radps, 0.0, atol=1e-12)
    np.testing.assert_allclose(res.yaw_accel_radps2, 0.0, atol=1e-12)
    assert res.comfortable and not _failing(res)
    with pytest.raises(ValueError, match="read-only"):
        res.jerk_mps3[0] = 1.0


@pytest.mark.parametrize(("accel_mps2", "ok"), [(2.39, True), (2.40, False), (-4.04, True), (-4.05, False)])
def test_longitudinal_bounds_are_strict(accel_mps2, ok):
    t = 0.1 * np.arange(20)
    accel = np.column_stack([np.full(20, accel_mps2), np.zeros(20)])
    res = _comfort(t, np.zeros(20), accel)
    assert res.lon_accel_ok is ok
    assert res.comfortable is ok
    assert _failing(res) == (set() if ok else {"lon_accel_ok"})


def test_ramp_jerk_is_the_slope_inside_and_larger_near_the_ends():
    n, dt, j = 30, 0.1, -1.0
    t = dt * np.arange(n)
    a = -0.2 + j * t  # decelerating, |a| grows linearly: magnitude jerk is -j
    res = _comfort(t, np.zeros(n), np.column_stack([a, np.zeros(n)]))
    # Even window of 8: exact at the first/last 4 samples, half a step ahead in between.
    shifted = np.where((np.arange(n) >= 4) & (np.arange(n) <= n - 5), a + j * dt / 2, a)
    np.testing.assert_allclose(res.lon_accel_mps2, shifted, atol=1e-8)
    # 15-sample jerk window entirely inside the shifted part: the slope exactly.
    inner = slice(11, n - 11)
    np.testing.assert_allclose(res.lon_jerk_mps3[inner], j, atol=1e-8)
    np.testing.assert_allclose(res.jerk_mps3[inner], -j, atol=1e-8)
    # At the first sample the fit also sees the half-step offset: j (1 + D / 2).
    factor = 1.0 + _ramp_step_slope() / 2
    assert 1.12 < factor < 1.13
    assert res.lon_jerk_mps3[0] == pytest.approx(j * factor, abs=1e-8)
    assert res.lon_jerk_mps3[-1] == pytest.approx(j * (2.0 - factor), abs=1e-8)
    assert np.max(np.abs(res.lon_jerk_mps3)) == pytest.approx(abs(j) * factor, abs=1e-8)


@pytest.mark.parametrize("scale", [0.99, 1.01])
def test_ramp_comfortable_iff_peak_jerk_within_bound(scale):
    # Peak |lon jerk| of a ramp is |j| (1 + D / 2): a ramp at 3.70 m/s^3 already reads above 4.13.
    n, dt = 30, 0.05
    j = -4.13 / (1.0 + _ramp_step_slope() / 2) * scale
    t = dt * np.arange(n)
    a = 2.3 + j * t
    res = _comfort(t, np.zeros(n), np.column_stack([a, np.zeros(n)]))
    np.testing.assert_allclose(res.lon_jerk_mps3[11 : n - 11], j, atol=1e-8)
    assert np.max(np.abs(res.lon_jerk_mps3)) == pytest.approx(4.13 * scale, abs=1e-7)
    assert res.comfortable is (scale < 1)
    assert _failing(res) == (set() if scale < 1 else {"lon_jerk_ok"})


@pytest.mark.parametrize(
    ("speed_mps", "radius_m", "failing"),
    [
        (10.0, 21.0, set()),  # 4.76 m/s^2 lateral
        (10.0, 20.0, {"lat_accel_ok"}),  # 5.00 m/s^2 lateral, 0.5 rad/s
        (4.0, 4.4, set()),  # 0.909 rad/s
        (4.0, 4.1, {"yaw_rate_ok"}),  # 0.976 rad/s, 3.9 m/s^2 lateral
    ],
)
def test_circle_at_constant_speed(speed_mps, radius_m, failing):
    n, dt = 40, 0.1
    t = dt * np.arange(n)
    omega = speed_mps / radius_m
    lat = speed_mps**2 / radius_m
    res = _comfort(t, omega * t, np.column_stack([np.zeros(n), np.full(n, lat)]), omega=np.full(n, omega))
    np.testing.assert_allclose(res.yaw_rate_radps, omega, atol=1e-8)
    np.testing.assert_allclose(res.yaw_accel_radps2, 0.0, atol=1e-8)
    np.testing.assert_allclose(res.lat_accel_mps2, lat, atol=1e-8)
    # nuPlan's centre acceleration adds d * omega^2 to the longitudinal component.
    np.testing.assert_allclose(res.lon_accel_mps2, D_M * omega**2, atol=1e-8)
    np.testing.assert_allclose(res.jerk_mps3, 0.0, atol=1e-8)
    np.testing.assert_allclose(res.lon_jerk_mps3, 0.0, atol=1e-8)
    assert _failing(res) == failing
    assert res.comfortable is (not failing)


def test_heading_wrap_and_whole_turns_give_no_spike():
    n, dt, omega = 60, 0.1, 0.5
    t = dt * np.arange(n)
    raw = 3.0 + omega * t  # crosses +pi at t = 0.28 s and again after a full turn
    wrapped = np.angle(np.exp(1j * raw))
    assert np.any(np.diff(wrapped) < -np.pi)
    shifted = wrapped + 2 * np.pi * np.random.default_rng(0).integers(-3, 4, n)
    for yaw in (wrapped, shifted):
        res = _comfort(t, yaw, np.zeros((n, 2)))
        np.testing.assert_allclose(res.yaw_rate_radps, omega, atol=1e-8)
        np.testing.assert_allclose(res.yaw_accel_radps2, 0.0, atol=1e-8)
        assert res.yaw_rate_ok and res.yaw_accel_ok


def test_short_series_uses_the_whole_history_as_window():
    # 4 samples: every window shrinks to 4; the order-3 fit interpolates, the order-2 ones are exact
    # for a quadratic heading: yaw rate c1 + 2 c2 t, yaw acceleration 2 c2.
    t = np.array([0.0, 0.1, 0.2, 0.3])
    c1, c2 = 0.2, 0.4
    accel = np.column_stack([0.5 + 1.0 * t, np.zeros(4)])
    res = _comfort(t, c1 * t + c2 * t**2, accel)
    np.testing.assert_allclose(res.yaw_rate_radps, c1 + 2 * c2 * t, atol=1e-8)
    np.testing.assert_allclose(res.yaw_accel_radps2, 2 * c2, atol=1e-7)
    np.testing.assert_allclose(res.lon_accel_mps2, accel[:, 0], atol=1e-8)  # window 4: all edge fits
    np.testing.assert_allclose(res.lon_jerk_mps3, 1.0, atol=1e-7)
    assert res.comfortable


@pytest.mark.parametrize("n", [5, 6, 7, 8, 9, 16])
def test_windows_clip_to_short_histories(n):
    t = 0.1 * np.arange(n)
    yaw = 0.3 * np.sin(t)
    accel = np.column_stack([np.cos(2 * t), 0.5 * np.sin(3 * t)])
    res = _comfort(t, yaw, accel)
    np.testing.assert_allclose(res.lon_accel_mps2, _ref_savgol(accel[:, 0], 8, 2, 0, 0.1), atol=1e-8)
    np.testing.assert_allclose(res.yaw_accel_radps2, _ref_savgol(yaw, 5, 3, 2, 0.1), atol=1e-7)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_fewer_than_four_samples_is_an_error_as_in_nuplan(n):
    t = 0.1 * np.arange(n)
    with pytest.raises(ValidationError, match="time_s: need at least 4 samples"):
        _comfort(t, np.zeros(n), np.zeros((n, 2)))


def test_agrees_with_a_plain_least_squares_path():
    rng = np.random.default_rng(3)
    n = 50
    t = 0.1 * np.arange(n) + rng.uniform(-0.01, 0.01, n)  # jittered: the mean step is used
    t[0] = 0.0
    dt = float(np.mean(np.diff(t)))
    yaw = 0.4 * np.sin(0.7 * t) + 0.05 * rng.standard_normal(n)
    accel = np.column_stack([np.sin(t) + 0.2 * rng.standard_normal(n), 0.8 * np.cos(0.5 * t)])
    omega = 0.3 * np.cos(t)
    alpha = -0.3 * np.sin(t)
    res = _comfort(t, yaw, accel, omega, alpha)

    lon = _ref_savgol(accel[:, 0] + D_M * (omega**2 + alpha), 8, 2, 0, dt)
    lat = _ref_savgol(accel[:, 1], 8, 2, 0, dt)
    mag = _ref_savgol(np.linalg.norm(accel, axis=1), 8, 2, 0, dt)
    heading = np.unwrap(yaw)
    np.testing.assert_allclose(res.lon_accel_mps2, lon, atol=2e-8)
    np.testing.assert_allclose(res.lat_accel_mps2, lat, atol=2e-8)
    np.testing.assert_allclose(res.lon_jerk_mps3, _ref_savgol(lon, 15, 2, 1, dt), atol=2e-8)
    np.testing.assert_allclose(res.jerk_mps3, _ref_savgol(mag, 15, 2, 1, dt), atol=2e-8)
    np.testing.assert_allclose(res.yaw_rate_radps, _ref_savgol(heading, 5, 2, 1, dt), atol=2e-8)
    np.testing.assert_allclose(res.yaw_accel_radps2, _ref_savgol(heading, 5, 3, 2, dt), atol=2e-7)
    b = ComfortBounds()
    assert res.yaw_accel_ok is bool(np.all(np.abs(res.yaw_accel_radps2) < b.max_abs_yaw_accel_radps2))
    assert res.comfortable is all(getattr(res, f) for f in FLAGS)


def _lane_change(lateral_from_yaw_rate: bool) -> tuple[ComfortResult, float]:
    """Kinematic bicycle (rear axle) at 11 m/s whose steering moves only at the 0.7 rad/s cap: one
    0.1 s step up (0.07 rad), hold 1 s, two steps down (-0.07 rad), hold 1 s, one step back.
    Rear-axle acceleration: (0, v * yaw rate) as a logged ego reports it, or (0, 0) as nuPlan's own
    bicycle model stores it. Returns the result and the held yaw rate."""
    speed, wheelbase, dt = 11.0, 2.588, 0.1
    rates = [0.0] * 10 + [0.7] + [0.0] * 10 + [-0.7] * 2 + [0.0] * 10 + [0.7] + [0.0] * 20
    x = y = yaw = steer = 0.0
    yaws, yaw_rates = [0.0], [0.0]
    for rate in rates:
        steer += rate * dt
        yaw_rate = speed * math.tan(steer) / wheelbase
        x, y = x + speed * math.cos(yaw) * dt, y + speed * math.sin(yaw) * dt
        yaw += yaw_rate * dt
        yaws.append(yaw)
        yaw_rates.append(yaw_rate)
    assert 4.0 < y < 4.6 and abs(yaw) < 1e-12  # one lane over, heading straight again
    n = len(yaws)
    t = dt * np.arange(n)
    omega = np.array(yaw_rates)
    alpha = np.concatenate([[0.0], np.diff(omega) / dt])
    lat = speed * omega if lateral_from_yaw_rate else np.zeros(n)
    res = _comfort(t, np.array(yaws), np.column_stack([np.zeros(n), lat]), omega, alpha)
    return res, speed * math.tan(0.07) / wheelbase


def test_lane_change_at_the_steering_rate_cap():
    res, omega = _lane_change(lateral_from_yaw_rate=True)
    # Raw lateral acceleration jumps by v * omega = 3.28 m/s^2 within 0.1 s (33 m/s^3 sample to sample);
    # nuPlan's smoothing then differentiation reads a jerk well under 8.37.
    assert 3.0 < np.max(np.abs(res.jerk_mps3)) < 3.5
    assert res.jerk_ok and res.lon_jerk_ok and res.lat_accel_ok and res.lon_accel_ok and res.yaw_rate_ok
    np.testing.assert_allclose(np.max(np.abs(res.yaw_rate_radps)), omega, atol=1e-8)
    # The reversal (yaw rate +omega -> 0 -> -omega over two steps) under the 5-sample second-derivative
    # weights (2, -1, -2, -1, 2) / 7 / dt^2 gives 5 omega / (7 dt) = 2.13 > 1.93 rad/s^2.
    np.testing.assert_allclose(np.max(np.abs(res.yaw_accel_radps2)), 5 * omega / (7 * 0.1), atol=1e-7)
    assert _failing(res) == {"yaw_accel_ok"}

    sim, _ = _lane_change(lateral_from_yaw_rate=False)
    np.testing.assert_allclose(sim.jerk_mps3, 0.0, atol=1e-8)  # constant speed, no lateral term
    np.testing.assert_allclose(sim.lat_accel_mps2, 0.0, atol=1e-8)


def test_custom_bounds_apply():
    t = 0.1 * np.arange(20)
    accel = np.column_stack([np.full(20, 1.5), np.zeros(20)])
    assert not _comfort(t, np.zeros(20), accel, bounds=ComfortBounds(max_lon_accel_mps2=1.0)).comfortable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_s": [0.0, 0.1, 0.2, 0.3, 0.4]}, "time_s: expected numpy.ndarray"),
        ({"time_s": np.array([0.0, 0.1, 0.1, 0.3, 0.4])}, "time_s: must be strictly increasing"),
        ({"time_s": np.array([0.0, 0.2, 0.1, 0.3, 0.4])}, "time_s: must be strictly increasing"),
        ({"time_s": np.array([0.0, 0.1, np.nan, 0.3, 0.4])}, "time_s: 1 non-finite"),
        ({"time_s": np.zeros((5, 1))}, r"time_s: expected shape \(N\)"),
        ({"yaw_rad": np.zeros(4)}, r"yaw_rad: expected shape \(5\)"),
        ({"yaw_rad": np.array([0.0, np.inf, 0.0, 0.0, 0.0])}, "yaw_rad: 1 non-finite"),
        ({"acceleration_ego_mps2": np.zeros((5, 3))}, r"acceleration_ego_mps2: expected shape \(5, 2\)"),
        ({"acceleration_ego_mps2": np.zeros(5)}, r"acceleration_ego_mps2: expected shape \(5, 2\)"),
        ({"acceleration_ego_mps2": np.zeros((5, 2), dtype=bool)}, "acceleration_ego_mps2: expected a real numeric"),
        ({"yaw_rate_radps": np.zeros(6)}, r"yaw_rate_radps: expected shape \(5\)"),
        ({"yaw_accel_radps2": np.full(5, np.nan)}, "yaw_accel_radps2: 5 non-finite"),
        ({"rear_axle_to_center_m": -1.0}, "rear_axle_to_center_m: must be >= 0"),
        ({"rear_axle_to_center_m": float("nan")}, "rear_axle_to_center_m: must be finite"),
    ],
)
def test_bad_inputs_name_the_field(kwargs, match):
    args = {
        "time_s": 0.1 * np.arange(5),
        "yaw_rad": np.zeros(5),
        "acceleration_ego_mps2": np.zeros((5, 2)),
        "yaw_rate_radps": np.zeros(5),
        "yaw_accel_radps2": np.zeros(5),
        "rear_axle_to_center_m": D_M,
    }
    args.update(kwargs)
    with pytest.raises(ValidationError, match=match):
        evaluate_comfort(**args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_lon_accel_mps2": 3.0}, "ComfortBounds.min_lon_accel_mps2: must be below"),
        ({"max_abs_jerk_mps3": 0.0}, "ComfortBounds.max_abs_jerk_mps3: must be > 0"),
        ({"max_abs_yaw_rate_radps": float("nan")}, "ComfortBounds.max_abs_yaw_rate_radps: must be finite"),
    ],
)
def test_bad_bounds_name_the_field(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        ComfortBounds(**kwargs)
