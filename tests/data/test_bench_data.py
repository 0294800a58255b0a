"""The data benchmark runs and reports every figure (timings themselves are not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from occplan.bench import data as bench

from . import synthetic as S


def test_bench_reports_figures(synth_root: Path) -> None:
    result = bench.run(["--dataroot", str(synth_root), "--version", S.VERSION])
    assert result["scenes"] == 1 and result["keyframes"] == S.N_KEYFRAMES
    assert result["lidar_1_sweeps_points_median"] == len(S.POINTS_SENSOR)
    assert result["lidar_10_sweeps_points_median"] == 10 * len(S.POINTS_SENSOR)  # keyframes 1 and 2 have 10
    # each keyframe figure is the scenario build time plus that sweep count's LiDAR load time, every
    # term rounded to 0.01 ms: the sum agrees to 3 half-units of rounding (0.015 ms)
    for n in (1, 10):
        want = result["scenario_ms_per_keyframe"] + result[f"lidar_{n}_sweeps_ms_per_keyframe"]
        assert result[f"keyframe_{n}_sweeps_ms"] == pytest.approx(want, abs=0.0151)
        assert result[f"lidar_{n}_sweeps_ms_per_keyframe"] > 0.0
    assert result["scenario_ms_per_keyframe"] > 0.0
    assert result["dataroot"] == str(synth_root) and result["version"] == S.VERSION


def test_bench_reports_unavailable_sweeps(real_mini: Path) -> None:
    result = bench.run(["--dataroot", str(real_mini), "--scenes", "1"])
    assert result["keyframes"] == 40
    assert result["lidar_10_sweeps_ms_per_keyframe"].startswith("unavailable: ")
