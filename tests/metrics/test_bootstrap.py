"""Bootstrap intervals over scenarios: agreement with a plain numpy percentile bootstrap of a mean,
a non-additive metric (ratio of sums), NaN handling, determinism and the usual invariants."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.errors import ValidationError
from occplan.metrics.bootstrap import bootstrap_ci, ci_keys


def _mean_of(values):
    return lambda idx: {"m": float(np.mean(values[idx]))}


def test_matches_plain_numpy_percentile_bootstrap_of_a_mean():
    values = np.random.default_rng(7).normal(3.0, 2.0, 50)
    res = bootstrap_ci(len(values), _mean_of(values), ["m"], n_resamples=500, seed=11)
    draws = np.random.default_rng(11).integers(0, len(values), size=(500, len(values)))
    low, high = np.percentile(values[draws].mean(axis=1), [2.5, 97.5])
    assert res == {"m/ci95_low": pytest.approx(low, abs=1e-12), "m/ci95_high": pytest.approx(high, abs=1e-12)}


def test_interval_of_a_mean_is_close_to_the_normal_one():
    values = np.random.default_rng(1).normal(0.0, 1.0, 400)
    res = bootstrap_ci(len(values), _mean_of(values), ["m"], n_resamples=2000)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert res["m/ci95_low"] == pytest.approx(values.mean() - 1.96 * se, abs=0.15 * se)
    assert res["m/ci95_high"] == pytest.approx(values.mean() + 1.96 * se, abs=0.15 * se)


def test_non_additive_metric_is_recomputed_per_resample():
    """A ratio of sums (as a global confusion matrix IoU): each resample sums its scenarios' counts."""
    rng = np.random.default_rng(2)
    tp = rng.integers(0, 100, 30).astype(float)
    total = tp + rng.integers(1, 100, 30)

    def ratio(idx):
        return {"iou": 100 * tp[idx].sum() / total[idx].sum()}

    res = bootstrap_ci(30, ratio, ["iou"], n_resamples=400, seed=3)
    draws = np.random.default_rng(3).integers(0, 30, size=(400, 30))
    want = np.percentile(100 * tp[draws].sum(axis=1) / total[draws].sum(axis=1), [2.5, 97.5])
    assert (res["iou/ci95_low"], res["iou/ci95_high"]) == pytest.approx(tuple(want))
    point = ratio(np.arange(30))["iou"]
    assert res["iou/ci95_low"] < point < res["iou/ci95_high"]


def test_deterministic_and_seed_dependent():
    values = np.random.default_rng(4).exponential(1.0, 20)
    a = bootstrap_ci(20, _mean_of(values), ["m"], n_resamples=200, seed=5)
    assert a == bootstrap_ci(20, _mean_of(values), ["m"], n_resamples=200, seed=5)
    assert a != bootstrap_ci(20, _mean_of(values), ["m"], n_resamples=200, seed=6)


def test_width_shrinks_with_more_scenarios():
    rng = np.random.default_rng(8)
    widths = []
    for n in (10, 100, 1000):
        values = rng.normal(5.0, 1.0, n)
        res = bootstrap_ci(n, _mean_of(values), ["m"], n_resamples=500)
        assert res["m/ci95_low"] <= values.mean() <= res["m/ci95_high"]
        widths.append(res["m/ci95_high"] - res["m/ci95_low"])
    assert widths[0] > widths[1] > widths[2]


def test_nan_resamples_are_skipped_and_all_nan_gives_nan():
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan])

    def compute(idx):
        # "first" is NaN whenever the resample draws scenario 4 first; "never" always is; "absent" missing
        return {"first": values[idx[0]], "never": float("nan")}

    res = bootstrap_ci(5, compute, ["first", "never", "absent"], n_resamples=300)
    assert 1.0 <= res["first/ci95_low"] <= res["first/ci95_high"] <= 4.0
    for k in ("never", "absent"):
        assert np.isnan(res[f"{k}/ci95_low"]) and np.isnan(res[f"{k}/ci95_high"])


def test_single_scenario_bounds_equal_the_value():
    calls = []

    def compute(idx):
        calls.append(idx.copy())
        return {"m": 42.5}

    assert bootstrap_ci(1, compute, ["m"]) == {"m/ci95_low": 42.5, "m/ci95_high": 42.5}
    assert len(calls) == 1 and calls[0].tolist() == [0]


def test_level_names_the_keys_and_bad_input():
    assert ci_keys("sim/score") == ("sim/score/ci95_low", "sim/score/ci95_high")
    assert ci_keys("sim/score", 0.9) == ("sim/score/ci90_low", "sim/score/ci90_high")
    values = np.arange(10.0)
    narrow = bootstrap_ci(10, _mean_of(values), ["m"], level=0.5)
    wide = bootstrap_ci(10, _mean_of(values), ["m"], level=0.99)
    assert wide["m/ci99_low"] < narrow["m/ci50_low"] < narrow["m/ci50_high"] < wide["m/ci99_high"]
    with pytest.raises(ValidationError, match="n_scenarios"):
        bootstrap_ci(0, _mean_of(values), ["m"])
    with pytest.raises(ValidationError, match="level"):
        bootstrap_ci(3, _mean_of(values), ["m"], level=95)
