"""The per-state sensor cache (``occplan.sim.sensors``): each sensor is produced once per state however
often it is asked for, and a cached product is the frame an uncached call builds."""

from __future__ import annotations

import numpy as np
import pytest

from occplan.interfaces import SensorRequest
from occplan.sim import SimConfig, Simulator


@pytest.fixture(scope="module")
def loaded(tiny_scenes):
    return tiny_scenes.load("scene-0001")


class _Counting:
    """Wraps a bound method and counts its calls."""

    def __init__(self, method) -> None:
        self.method, self.calls = method, []

    def __call__(self, *args, **kwargs):
        self.calls.append(args)
        return self.method(*args, **kwargs)


def _stepped(sim: Simulator, loaded):
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    return sim.step(state, sim.log_future(state))


def test_closed_loop_lidar_is_cast_once_per_state_and_equals_an_uncached_cast(loaded, monkeypatch):
    sim = Simulator(SimConfig(mode="closed", occupancy_collision=False))
    fresh = sim.observe(_stepped(sim, loaded), SensorRequest(lidar_sweeps=3))
    state = _stepped(sim, loaded)
    scan = _Counting(loaded.world.lidar_scan)
    monkeypatch.setattr(loaded.world, "lidar_scan", scan)
    first = sim.observe(state, SensorRequest(lidar_sweeps=3))
    assert len(scan.calls) == 3  # one scan per sweep
    again = sim.observe(state, SensorRequest(lidar_sweeps=3), privileged=True, ground_truth_masks=False)
    assert len(scan.calls) == 3 and again.lidar is first.lidar and again.ground_truth is not None
    for name in ("points", "time_lag_s", "origins_m", "sweep_index"):
        np.testing.assert_array_equal(getattr(first.lidar, name), getattr(fresh.lidar, name))
    sim.observe(_stepped(sim, loaded), SensorRequest(lidar_sweeps=3))  # a new state casts again
    assert len(scan.calls) == 6


def test_cameras_are_rendered_once_per_channel_and_state(loaded, monkeypatch):
    sim = Simulator(SimConfig(mode="closed", occupancy_collision=False))
    both = ("CAM_FRONT", "CAM_BACK")
    fresh = sim.observe(_stepped(sim, loaded), SensorRequest(cameras=both))
    state = _stepped(sim, loaded)
    render = _Counting(loaded.world.render_cameras)
    monkeypatch.setattr(loaded.world, "render_cameras", render)
    front = sim.observe(state, SensorRequest(cameras=("CAM_FRONT",)))
    frame = sim.observe(state, SensorRequest(cameras=both))
    assert [tuple(call[2]) for call in render.calls] == [("CAM_FRONT",), ("CAM_BACK",)]
    assert frame.cameras[0] is front.cameras[0]
    for got, want in zip(frame.cameras, fresh.cameras, strict=True):
        assert got.channel == want.channel
        np.testing.assert_array_equal(got.load(), want.load())


def test_open_loop_logged_lidar_is_read_once_per_state(loaded, monkeypatch):
    sim = Simulator(SimConfig(mode="open", occupancy_collision=False))
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    read = _Counting(loaded.source.lidar)
    monkeypatch.setattr(loaded.source, "lidar", read)
    first = sim.observe(state, SensorRequest(lidar_sweeps=2))
    again = sim.observe(state, SensorRequest(lidar_sweeps=2))
    assert len(read.calls) == 1 and again.lidar is first.lidar
    np.testing.assert_array_equal(first.lidar.points, loaded.source.lidar.method(loaded.scenario.frames[0], 2).points)
