"""The data benchmark runs and reports every figure (timings themselves are not asserted)."""

from __future__ import annotations

from pathlib import Path

from occplan.bench import data as bench

from . import synthetic as S


def test_bench_reports_figures(synth_root: Path) -> None:
    result = bench.run(["--dataroot", str(synth_root), "--version", S.VERSION])
    assert result["scenes"] == 1 and result["keyframes"] == S.N_KEYFRAMES
    assert result["lidar_1_sweeps_points_median"] == len(S.POINTS_SENSOR)
    assert result["lidar_10_sweeps_points_median"] == 10 * len(S.POINTS_SENSOR)  # keyframes 1 and 2 have 10
    assert isinstance(result["keyframe_10_sweeps_ms"], float)


def test_bench_reports_unavailable_sweeps(real_mini: Path) -> None:
    result = bench.run(["--dataroot", str(real_mini), "--scenes", "1"])
    assert result["keyframes"] == 40
    assert result["lidar_10_sweeps_ms_per_keyframe"].startswith("unavailable: ")
