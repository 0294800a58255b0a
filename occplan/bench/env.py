"""``python -m occplan.bench env``: closed-loop decision steps per second of the simulator core,
with oracle occupancy + LiDAR re-simulation and without sensors, and memory per env.

Args: ``[--dataroot PATH] [--version V] [--scene NAME] [--steps N]`` (default: the embedded mini set).
Run with ``NUMBA_NUM_THREADS=1`` for the one-core figures.
"""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import replace

from occplan.interfaces import SensorRequest
from occplan.sim import SimConfig, Simulator


def _rate(sim: Simulator, loaded, steps: int, sensors: bool) -> float:
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    done, t0 = 0, time.perf_counter()
    while done < steps:
        if sim.done(state):
            state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
        if sensors:
            sim.ground_truth(state)
            sim.observe(state, SensorRequest(lidar_sweeps=1))
        state = sim.step(state, sim.log_future(state))
        done += 1
    return steps / (time.perf_counter() - t0)


def run(args: list[str]) -> dict:
    from envs.scenarios import DatasetScenarios

    p = argparse.ArgumentParser(prog="python -m occplan.bench env")
    p.add_argument("--dataroot", default=None)
    p.add_argument("--version", default=None)
    p.add_argument("--scene", default=None)
    p.add_argument("--steps", type=int, default=200)
    a = p.parse_args(args)
    rss0_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source = DatasetScenarios(a.dataroot, a.version, split=None)
    name = a.scene or source.names()[0]
    loaded = source.load(name)
    rss1_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with_sensors = Simulator(SimConfig(occupancy_collision=True))
    no_sensors = Simulator(replace(SimConfig(), occupancy_collision=False))
    _rate(with_sensors, loaded, 3, True)  # warm-up (numba compilation)
    return {
        "scene": name,
        "world": type(loaded.world).__name__,
        "closed_loop_steps_per_s_oracle_occ_lidar": round(_rate(with_sensors, loaded, a.steps, True), 1),
        "closed_loop_steps_per_s_no_sensors": round(_rate(no_sensors, loaded, a.steps * 5, False), 1),
        "env_memory_mb": round(rss1_mb - rss0_mb, 1),
    }
