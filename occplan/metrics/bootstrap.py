"""Percentile bootstrap confidence intervals over scenarios, for metrics that are not means.

Scenarios are the resampling unit: every resample draws ``n_scenarios`` scenario indices with
repetition and recomputes the metrics from them (for OccPlan: merging those scenarios' metric
states, so a global-confusion-matrix mIoU or a ratio of sums is recomputed, not averaged). The draw
is ``numpy.random.default_rng(seed).integers(0, n_scenarios, size=(n_resamples, n_scenarios))``, one
row per resample, so an interval is reproducible from the seed alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from occplan.errors import ValidationError


def ci_keys(key: str, level: float = 0.95) -> tuple[str, str]:
    """Summary keys of a key's interval: ``<key>/ci95_low``, ``<key>/ci95_high`` at level 0.95."""
    tag = f"ci{100 * level:g}"
    return f"{key}/{tag}_low", f"{key}/{tag}_high"


def bootstrap_ci(
    n_scenarios: int,
    compute: Callable[[np.ndarray], dict[str, float]],
    keys: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Percentile bootstrap interval of each key in ``keys``.

    ``compute(indices)`` gets (n_scenarios,) int64 scenario indices (with repetition) and returns
    the metrics of that resample. For each key, the resamples where it is missing or NaN are
    skipped; the bounds are the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles (numpy's
    linear interpolation) of the rest, NaN when none is left. With one scenario every resample is
    that scenario: both bounds are its value (computed once). Returns ``<key>/ci95_low`` and
    ``<key>/ci95_high`` (the number is ``100 * level``).
    """
    if n_scenarios < 1:
        raise ValidationError(f"bootstrap_ci: n_scenarios = {n_scenarios}, need at least 1")
    if n_resamples < 1:
        raise ValidationError(f"bootstrap_ci: n_resamples = {n_resamples}, need at least 1")
    if not 0.0 < level < 1.0:
        raise ValidationError(f"bootstrap_ci: level = {level}, expected in (0, 1)")
    if n_scenarios == 1:
        draws = np.zeros((1, 1), dtype=np.int64)
    else:
        draws = np.random.default_rng(seed).integers(0, n_scenarios, size=(n_resamples, n_scenarios))
    values = {k: [] for k in keys}
    for indices in draws:
        res = compute(indices)
        for k in keys:
            v = res.get(k)
            if v is not None and np.isfinite(v):
                values[k].append(float(v))
    out: dict[str, float] = {}
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    for k in keys:
        low_key, high_key = ci_keys(k, level)
        if values[k]:
            out[low_key], out[high_key] = (float(b) for b in np.percentile(values[k], q))
        else:
            out[low_key] = out[high_key] = float("nan")
    return out
