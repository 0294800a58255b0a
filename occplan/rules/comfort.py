"""Comfort of an ego history, computed as nuPlan's ``ego_is_comfortable`` computes it.

What nuPlan measures (nuplan-devkit, ``nuplan/planning/metrics/utils/state_extractors.py``, the six
metrics in ``nuplan/planning/metrics/evaluation_metrics/common/`` named below, their bounds in
``nuplan/planning/script/config/common/simulation_metric/low_level/*_statistics.yaml``), per ego state
of the history (one sample per simulation step, 10 Hz in nuPlan):

* Accelerations come from the state's dynamic car state, not from differentiated speed.
  ``ego_lon_acceleration.py`` and ``ego_lat_acceleration.py`` read the x and y components of the
  *centre* acceleration (``nuplan/common/actor_state/dynamic_car_state.py``, ``center_acceleration_2d``).
  nuPlan moves the rear-axle acceleration to the box centre by adding the displacement (d, 0), d =
  rear axle to centre, scaled by (yaw rate^2 + yaw acceleration), where both are the state's own
  angular velocity and angular acceleration fields: the centre's x component is
  ``a_x + d * (omega^2 + alpha)`` and its y component is the rear axle's ``a_y`` unchanged. (This is
  nuPlan's formula as written, not the textbook rigid-body transfer, and is reproduced as such.)
* Each acceleration series is smoothed by a Savitzky-Golay filter of polynomial order 2 and window
  ``min(8, T)``, scipy's default ``interp`` edge mode, then rounded to 8 decimals. The window of 8 is
  even, and scipy evaluates an even window's fit midway between its two central samples: away from
  the ends (samples 4 to T - 5) the smoothed value at sample i is the fit over samples i-3..i+4
  evaluated half a step *later* (t_i + dt/2); the first and last 4 samples take the fit over the first
  or last 8 samples evaluated at their own times. A linear acceleration ramp of slope j therefore
  comes out exact at both ends and j dt / 2 ahead in between, and the jerk filter below reads that
  offset as extra jerk near the ends (up to about 13 % of j at the first sample with a 15-sample
  window).
* Jerk is the first derivative of a smoothed acceleration series: Savitzky-Golay, order 2, window
  ``min(15, T)``, sample spacing the *mean* time step, rounded to 8 decimals. ``ego_lon_jerk.py``
  differentiates the smoothed centre x acceleration. ``ego_jerk.py`` differentiates the smoothed
  *magnitude* of the rear-axle acceleration vector (``DynamicCarState.acceleration`` =
  ``|rear_axle_acceleration_2d|``): the derivative of the norm, not the norm of a derivative.
* Yaw rate and yaw acceleration (``ego_yaw_rate.py``, ``ego_yaw_acceleration.py``) are derivatives of
  the rear-axle heading, first unwrapped so that successive headings differ by at most pi (each step
  shifted by 2 pi times the rounded step / 2 pi). Both use window ``min(5, T)``: the extractor
  accepts a window of 15 but does not pass it on, so the derivative helper's default of 5 applies.
  Yaw rate: order 2, first derivative; yaw acceleration: order 3, second derivative; mean time step;
  rounded to 8 decimals.
* Each metric is within bound when every sample lies strictly inside its bounds
  (``nuplan/planning/metrics/evaluation_metrics/base/within_bound_metric_base.py``): longitudinal
  acceleration in (-4.05, 2.40) m/s^2, |lateral acceleration| < 4.89 m/s^2, |yaw rate| < 0.95 rad/s,
  |yaw acceleration| < 1.93 rad/s^2, |longitudinal jerk| < 4.13 m/s^3, |jerk| < 8.37 m/s^3.
  ``ego_is_comfortable.py`` is true when all six are within bound.
* Short histories: the windows shrink to T; the order-3 yaw-acceleration filter then needs T >= 4
  (nuPlan raises for fewer samples, and so does ``evaluate_comfort``).

What the inputs mean for nuPlan's own simulated ego: its kinematic bicycle model
(``nuplan/planning/simulation/controller/motion_model/kinematic_bicycle.py``) stores a rear-axle
acceleration of (commanded longitudinal acceleration, 0), the yaw rate v tan(steer) / wheelbase and
the yaw acceleration as the step difference of that yaw rate. Logged ego states carry the measured
(longitudinal, lateral) acceleration instead. The caller chooses which of the two it passes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.signal import savgol_filter

from occplan.errors import ValidationError
from occplan.types._check import check_array, check_finite_scalar

ACCEL_WINDOW = 8
ACCEL_POLY_ORDER = 2
JERK_WINDOW = 15
JERK_POLY_ORDER = 2
YAW_WINDOW = 5
YAW_RATE_POLY_ORDER = 2
YAW_ACCEL_POLY_ORDER = 3
ROUND_DECIMALS = 8
MIN_SAMPLES = YAW_ACCEL_POLY_ORDER + 1


@dataclass(frozen=True)
class ComfortBounds:
    """nuPlan's comfort bounds (``simulation_metric/low_level`` configs); every sample must lie strictly inside."""

    min_lon_accel_mps2: float = -4.05
    max_lon_accel_mps2: float = 2.40
    max_abs_lat_accel_mps2: float = 4.89
    max_abs_yaw_rate_radps: float = 0.95
    max_abs_yaw_accel_radps2: float = 1.93
    max_abs_lon_jerk_mps3: float = 4.13
    max_abs_jerk_mps3: float = 8.37

    def __post_init__(self) -> None:
        for f in fields(self):
            check_finite_scalar(float(getattr(self, f.name)), f"ComfortBounds.{f.name}")
            if f.name.startswith("max_abs_") and getattr(self, f.name) <= 0:
                raise ValidationError(f"ComfortBounds.{f.name}: must be > 0, got {getattr(self, f.name)}")
        if self.min_lon_accel_mps2 >= self.max_lon_accel_mps2:
            raise ValidationError(
                f"ComfortBounds.min_lon_accel_mps2: must be below max_lon_accel_mps2 "
                f"({self.min_lon_accel_mps2} >= {self.max_lon_accel_mps2})"
            )


@dataclass(frozen=True)
class ComfortResult:
    """nuPlan's filtered comfort signals, each (T,) read-only float64 at the input samples, and the verdicts.

    ``lon_accel_mps2`` / ``lat_accel_mps2``: smoothed centre acceleration in the ego frame (x forward,
    y left); ``jerk_mps3``: derivative of the smoothed rear-axle acceleration magnitude;
    ``lon_jerk_mps3``: derivative of ``lon_accel_mps2``; ``yaw_rate_radps`` / ``yaw_accel_radps2``:
    first / second derivative of the unwrapped heading. ``comfortable`` is the AND of the six flags.
    """

    lon_accel_mps2: np.ndarray
    lat_accel_mps2: np.ndarray
    jerk_mps3: np.ndarray
    lon_jerk_mps3: np.ndarray
    yaw_rate_radps: np.ndarray
    yaw_accel_radps2: np.ndarray
    lon_accel_ok: bool
    lat_accel_ok: bool
    jerk_ok: bool
    lon_jerk_ok: bool
    yaw_rate_ok: bool
    yaw_accel_ok: bool
    comfortable: bool


def evaluate_comfort(
    time_s: np.ndarray,
    yaw_rad: np.ndarray,
    acceleration_ego_mps2: np.ndarray,
    yaw_rate_radps: np.ndarray,
    yaw_accel_radps2: np.ndarray,
    rear_axle_to_center_m: float,
    bounds: ComfortBounds | None = None,
) -> ComfortResult:
    """nuPlan's ``ego_is_comfortable`` over one ego history of T >= 4 samples.

    ``time_s`` (T,): strictly increasing sample times; derivatives use the mean step, as nuPlan does.
    ``yaw_rad`` (T,): rear-axle heading in the world frame, any branch (unwrapped here).
    ``acceleration_ego_mps2`` (T, 2): rear-axle acceleration in the ego frame (longitudinal, lateral).
    ``yaw_rate_radps``, ``yaw_accel_radps2`` (T,): the states' own angular velocity and acceleration;
    they enter only nuPlan's shift of the longitudinal acceleration to the box centre (the reported
    yaw rate and yaw acceleration are derived from ``yaw_rad``).
    ``rear_axle_to_center_m``: distance from the rear axle forward to the box centre.
    """
    bounds = bounds or ComfortBounds()
    t = _float_array(time_s, "time_s", (None,))
    n = t.shape[0]
    if n < MIN_SAMPLES:
        raise ValidationError(
            f"time_s: need at least {MIN_SAMPLES} samples (nuPlan's order-{YAW_ACCEL_POLY_ORDER} yaw-acceleration "
            f"filter), got {n}"
        )
    if not np.all(np.diff(t) > 0):
        raise ValidationError("time_s: must be strictly increasing")
    yaw = _float_array(yaw_rad, "yaw_rad", (n,))
    accel = _float_array(acceleration_ego_mps2, "acceleration_ego_mps2", (n, 2))
    omega = _float_array(yaw_rate_radps, "yaw_rate_radps", (n,))
    alpha = _float_array(yaw_accel_radps2, "yaw_accel_radps2", (n,))
    check_finite_scalar(float(rear_axle_to_center_m), "rear_axle_to_center_m")
    if rear_axle_to_center_m < 0:
        raise ValidationError(f"rear_axle_to_center_m: must be >= 0, got {rear_axle_to_center_m}")

    dt = float(np.mean(np.diff(t)))
    center_lon = accel[:, 0] + rear_axle_to_center_m * (omega**2 + alpha)
    lon_accel = _smooth(center_lon)
    lat_accel = _smooth(accel[:, 1])
    magnitude = _smooth(np.hypot(accel[:, 0], accel[:, 1]))
    lon_jerk = _derivative(lon_accel, dt, JERK_WINDOW, JERK_POLY_ORDER, 1)
    jerk = _derivative(magnitude, dt, JERK_WINDOW, JERK_POLY_ORDER, 1)
    heading = _unwrap(yaw)
    yaw_rate = _derivative(heading, dt, YAW_WINDOW, YAW_RATE_POLY_ORDER, 1)
    yaw_accel = _derivative(heading, dt, YAW_WINDOW, YAW_ACCEL_POLY_ORDER, 2)

    b = bounds
    flags = {
        "lon_accel_ok": _inside(lon_accel, b.min_lon_accel_mps2, b.max_lon_accel_mps2),
        "lat_accel_ok": _inside(lat_accel, -b.max_abs_lat_accel_mps2, b.max_abs_lat_accel_mps2),
        "jerk_ok": _inside(jerk, -b.max_abs_jerk_mps3, b.max_abs_jerk_mps3),
        "lon_jerk_ok": _inside(lon_jerk, -b.max_abs_lon_jerk_mps3, b.max_abs_lon_jerk_mps3),
        "yaw_rate_ok": _inside(yaw_rate, -b.max_abs_yaw_rate_radps, b.max_abs_yaw_rate_radps),
        "yaw_accel_ok": _inside(yaw_accel, -b.max_abs_yaw_accel_radps2, b.max_abs_yaw_accel_radps2),
    }
    for signal in (lon_accel, lat_accel, jerk, lon_jerk, yaw_rate, yaw_accel):
        signal.setflags(write=False)
    return ComfortResult(
        lon_accel_mps2=lon_accel,
        lat_accel_mps2=lat_accel,
        jerk_mps3=jerk,
        lon_jerk_mps3=lon_jerk,
        yaw_rate_radps=yaw_rate,
        yaw_accel_radps2=yaw_accel,
        comfortable=all(flags.values()),
        **flags,
    )


def _float_array(value: object, field: str, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = check_array(value, field, shape=shape)
    if arr.dtype.kind not in "fiu":
        raise ValidationError(f"{field}: expected a real numeric array, got {arr.dtype}")
    arr = arr.astype(np.float64)
    return check_array(arr, field, finite=True)


def _smooth(values: np.ndarray) -> np.ndarray:
    """nuPlan's acceleration smoothing: Savitzky-Golay value, order 2, window min(8, T), 8 decimals."""
    window = min(ACCEL_WINDOW, values.shape[0])
    return np.round(savgol_filter(values, window_length=window, polyorder=ACCEL_POLY_ORDER), ROUND_DECIMALS)


def _derivative(values: np.ndarray, dt_s: float, window: int, poly_order: int, deriv: int) -> np.ndarray:
    """nuPlan's ``approximate_derivatives``: Savitzky-Golay derivative, window clipped to T, 8 decimals."""
    window = min(window, values.shape[0])
    out = savgol_filter(values, window_length=window, polyorder=poly_order, deriv=deriv, delta=dt_s)
    return np.round(out, ROUND_DECIMALS)


def _unwrap(yaw_rad: np.ndarray) -> np.ndarray:
    """nuPlan's ``phase_unwrap``: shift each heading by whole turns so successive steps are at most pi."""
    turns = np.concatenate([[0.0], np.cumsum(np.round(np.diff(yaw_rad) / (2.0 * np.pi)))])
    return yaw_rad - 2.0 * np.pi * turns


def _inside(values: np.ndarray, low: float, high: float) -> bool:
    return bool(np.all((values > low) & (values < high)))
