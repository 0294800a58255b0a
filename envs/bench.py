"""``python -m occplan.bench env``: decision steps per second of the simulator core and of
``gym.make("OccDrive-v0")`` in one run, on one core (``--threads 1``), with reset costs apart.

Args: ``[--dataset tiny|mini | --data PATH [--version V]] [--scene NAME] [--steps N] [--threads N]``
(default: the generated "tiny" set, built on first use). Figures (``*_steps_per_s`` from CPU time,
``time.process_time``: what one core delivers on a loaded machine; ``*_wall_steps_per_s`` from wall
time; step loops exclude resets, ``*_reset_ms`` is the CPU time of one reset):

- ``closed_loop_no_sensors_*``: ``Simulator.step`` with the logged future as the plan (agents,
  collisions, off-road and the occupancy-collision check simulated), ``10 * steps`` decisions;
- ``closed_loop_oracle_occ_lidar_*``: plus GT occupancy + flow in the Occ3D grid (no visibility masks)
  and one re-cast LiDAR sweep per decision (``*_cpu_ms``: the per-decision split);
- ``gym_no_sensors_*``: ``gym.make("OccDrive-v0", perception=None, observation=("ego", "route"))``
  driven by the logged future, ``10 * steps`` steps;
- ``gym_oracle_occ_lidar_*``: ``gym.make("OccDrive-v0", observation=("occupancy", "flow", "ego",
  "route", "lidar"))`` (oracle perception) driven by the logged future; with ``--threads 2`` also
  ``sensor_threads=2`` (GT occupancy computed in a second thread beside the LiDAR cast: the wall rate
  is what a free second core gives, the CPU rate counts both threads);
- ``random_*``: random actions (``action_space.sample()``) in both OccDrive-v0 settings and in
  highway-env's ``highway-fast-v0`` (``random_highway_fast_v0`` says why when highway-env, the
  ``bench`` extra, is absent);
- ``env_memory_mb``: resident-memory growth of loading one scenario and its world and running it.

With ``--threads 1`` every thread of the process is pinned to one core (the default: CPU and wall
rates agree); with ``--threads 2`` nothing is pinned and the wall rates depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from occplan.interfaces import SensorRequest
from occplan.sim import SimConfig, Simulator

SENSOR_OBSERVATION = ("occupancy", "flow", "ego", "route", "lidar")


def _rates(steps: int, cpu_s: float, wall_s: float, reset_cpu_s: float, resets: int) -> dict[str, float]:
    out = {"steps_per_s": steps / cpu_s, "wall_steps_per_s": steps / wall_s}
    if resets:
        out["reset_ms"] = 1e3 * reset_cpu_s / resets
    return out


def _measure_core(sim: Simulator, loaded, steps: int, sensors: bool) -> dict[str, float]:
    """Decisions per second of the core over ``steps`` decisions, restarting the scene when it ends."""
    reset = lambda: sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)  # noqa: E731
    state = reset()
    split = {"step": 0.0, "occupancy": 0.0, "lidar": 0.0}
    cpu = wall = reset_cpu = 0.0
    resets = 0
    for _ in range(steps):
        if sim.done(state):
            t = time.process_time()
            state = reset()
            reset_cpu, resets = reset_cpu + time.process_time() - t, resets + 1
        c0, w0 = time.process_time(), time.perf_counter()
        if sensors:
            sim.ground_truth(state, with_masks=False)
            t1 = time.process_time()
            sim.observe(state, SensorRequest(lidar_sweeps=1))
            split["occupancy"] += t1 - c0
            split["lidar"] += time.process_time() - t1
        t = time.process_time()
        state = sim.step(state, sim.log_future(state))
        c1 = time.process_time()
        split["step"] += c1 - t
        cpu, wall = cpu + c1 - c0, wall + time.perf_counter() - w0
    out = _rates(steps, cpu, wall, reset_cpu, resets)
    out |= {f"{k}_cpu_ms": 1e3 * v / steps for k, v in split.items() if v}
    return {k: round(v, 2) for k, v in out.items()}


def _measure_gym(env, steps: int, action: Callable[[Any], np.ndarray]) -> dict[str, float]:
    """Steps per second of a Gymnasium env over ``steps`` steps (``action(env)`` included, resets
    excluded and timed apart), after one warm-up episode start."""
    env.reset(seed=0)
    cpu = wall = reset_cpu = 0.0
    resets = 0
    for _ in range(steps):
        c0, w0 = time.process_time(), time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action(env))
        cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
        if terminated or truncated:
            t = time.process_time()
            env.reset()
            reset_cpu, resets = reset_cpu + time.process_time() - t, resets + 1
    env.close()
    return {k: round(v, 2) for k, v in _rates(steps, cpu, wall, reset_cpu, resets).items()}


def _logged_future(env) -> np.ndarray:
    sim = env.unwrapped.sim
    return sim.log_future(env.unwrapped.state).poses.astype(np.float32)


def _random(env) -> np.ndarray:
    return env.action_space.sample()


def _highway(steps: int) -> dict[str, float] | str:
    """``highway-fast-v0`` with random actions, or why it was skipped."""
    import gymnasium as gym

    try:
        import highway_env  # noqa: F401  (registers highway-fast-v0)
    except ImportError:
        return "skipped: highway-env is not installed (pip install -e '.[bench]')"
    env = gym.make("highway-fast-v0")
    env.action_space.seed(0)
    return _measure_gym(env, steps, _random)


def _occdrive_rows(root, version: str, scene: str, steps: int, sensor_threads: int) -> dict[str, Any]:
    """OccDrive-v0 through ``gym.make``: logged-future and random actions, without and with sensors
    (the latter with ``sensor_threads``)."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers OccDrive-v0)

    def make(**kw):
        env = gym.make("OccDrive-v0", dataroot=str(root), version=version, split=None, scenes=[scene], **kw)
        env.action_space.seed(0)
        return env

    bare = {"perception": None, "observation": ("ego", "route")}
    sensors = {"observation": SENSOR_OBSERVATION, "sensor_threads": sensor_threads}
    rows = {
        "gym_no_sensors": _measure_gym(make(**bare), steps * 10, _logged_future),
        "gym_oracle_occ_lidar": _measure_gym(make(**sensors), steps, _logged_future),
        "random_no_sensors": _measure_gym(make(**bare), steps * 10, _random),
        "random_oracle_occ_lidar": _measure_gym(make(**sensors), steps, _random),
        "random_highway_fast_v0": _highway(steps),
    }
    out: dict[str, Any] = {}
    for name, row in rows.items():
        out |= {f"{name}_{k}": v for k, v in row.items()} if isinstance(row, dict) else {name: row}
    return out


def run(args: list[str]) -> dict:
    from envs.scenarios import DatasetScenarios

    p = argparse.ArgumentParser(prog="python -m occplan.bench env")
    p.add_argument("--dataset", default="tiny", help="generated preset used when --data is not given")
    p.add_argument("--data", "--dataroot", dest="dataroot", default=None)
    p.add_argument("--version", default=None, help="table version (default: the dataroot's only v1.0-* folder)")
    p.add_argument("--scene", default=None)
    p.add_argument("--steps", type=int, default=200, help="decisions with sensors (10x without)")
    p.add_argument("--threads", type=int, default=1, help="numba threads (1 = the one-core figures)")
    a = p.parse_args(args)
    numba.set_num_threads(a.threads)
    if a.threads == 1:  # one core: every thread of the process (numba, Embree's TBB, BLAS) shares it
        core = {min(os.sched_getaffinity(0))}
        for tid in os.listdir("/proc/self/task"):  # threads started at import time too
            os.sched_setaffinity(int(tid), core)
    root = a.dataroot
    if root is None:
        from scenarios.datasets import ensure

        root = ensure(a.dataset)
    rss0_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source = DatasetScenarios(root, a.version, split=None)
    name = a.scene or source.names()[0]
    loaded = source.load(name)
    sensor_threads = min(max(a.threads, 1), 2)
    with_sensors, no_sensors = Simulator(SimConfig()), Simulator(SimConfig())
    _measure_core(with_sensors, loaded, 3, True)  # warm-up: numba compilation, per-scene arrays
    rss1_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sensors = _measure_core(with_sensors, loaded, a.steps, True)
    bare = _measure_core(no_sensors, loaded, a.steps * 10, False)
    return {
        "dataroot": str(source.dataroot),
        "version": source.version,
        "scene": name,
        "world": type(loaded.world).__name__,
        "numba_threads": a.threads,
        "gym_sensor_threads": sensor_threads,
        "load_average_1min": round(os.getloadavg()[0], 2),
        **{f"closed_loop_no_sensors_{k}": v for k, v in bare.items()},
        **{f"closed_loop_oracle_occ_lidar_{k}": v for k, v in sensors.items()},
        **_occdrive_rows(source.dataroot, source.version, name, a.steps, sensor_threads),
        "env_memory_mb": round(rss1_mb - rss0_mb, 1),
    }
