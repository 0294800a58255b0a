"""Multi-sweep LiDAR at the start of a log: closed loop re-casts the sweeps that exist and repeats the
earliest, exactly as the logged sweeps are padded in open loop."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.interfaces import SensorRequest
from occplan.sim import SimConfig, Simulator


@pytest.fixture(scope="module")
def loaded(tiny_scenes):
    return tiny_scenes.load("scene-0001")


def test_closed_loop_pads_like_the_logged_sweeps_at_the_log_start(loaded):
    sim = Simulator(SimConfig(mode="closed", occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    frame = loaded.scenario.frames[0]
    recast = sim.observe(state, SensorRequest(lidar_sweeps=5)).lidar
    logged = loaded.source.lidar(frame, 5)  # only the keyframe exists before the log's first sample
    assert recast.origins_m.shape == logged.origins_m.shape == (5, 3)
    n = int(np.count_nonzero(logged.sweep_index == 0))
    np.testing.assert_array_equal(logged.sweep_index, np.repeat(np.arange(5), n))
    np.testing.assert_array_equal(recast.points, logged.points)  # the re-cast keyframe is bit for bit the logged one
    np.testing.assert_array_equal(recast.sweep_index, logged.sweep_index)
    np.testing.assert_array_equal(recast.time_lag_s, logged.time_lag_s)
    np.testing.assert_allclose(recast.origins_m, logged.origins_m, atol=1e-9)


def test_closed_loop_uses_real_substeps_once_they_exist(loaded):
    sim = Simulator(SimConfig(mode="closed", occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    state = sim.step(state, sim.log_future(state))  # one decision = 5 substeps of 0.1 s
    sweep = sim.observe(state, SensorRequest(lidar_sweeps=5)).lidar
    lags = [float(sweep.time_lag_s[sweep.sweep_index == k][0]) for k in range(5)]
    np.testing.assert_allclose(lags, [0.0, 0.1, 0.2, 0.3, 0.4], atol=1e-6)
