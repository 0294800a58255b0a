"""``python -m occplan.bench env``: closed-loop decision steps per second of the simulator core, on
one core (``--threads 1``), and memory per env.

Args: ``[--dataset tiny|mini | --dataroot PATH --version V] [--scene NAME] [--steps N] [--threads N]``
(default: the generated "tiny" set, built on first use). Figures:

- ``no_sensors``: the ego tracks the logged future; agents, collisions, off-road and the
  occupancy-collision check (static voxels under the ego box) are simulated;
- ``oracle_occ_lidar``: plus GT occupancy + flow in the Occ3D grid (no visibility masks) and one
  re-cast LiDAR sweep per decision;
- ``*_steps_per_s`` from CPU time (``time.process_time``, what one core delivers on a loaded
  machine), ``*_wall_steps_per_s`` from wall time; ``*_cpu_ms`` the per-decision split; with
  ``--threads 1`` the process is pinned to one core;
- ``gym_oracle_lidar_*``: the same through ``gym.make("OccDrive-v0")`` (observation packing,
  reward terms and the default ``rich_info``: GT frame, agent boxes, step record);
- ``env_memory_mb``: resident-memory growth of loading one scenario and its world and running it.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numba
import numpy as np

from occplan.interfaces import SensorRequest
from occplan.sim import SimConfig, Simulator


def _measure(sim: Simulator, loaded, steps: int, sensors: bool) -> dict[str, float]:
    """Decisions per second (CPU and wall) over ``steps`` decisions, restarting the scene when it ends."""
    state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
    split = {"step": 0.0, "occupancy": 0.0, "lidar": 0.0}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        if sim.done(state):
            state = sim.reset(loaded.scenario, 0, world=loaded.world, source=loaded.source)
        if sensors:
            t = time.process_time()
            sim.ground_truth(state, with_masks=False)
            t1 = time.process_time()
            sim.observe(state, SensorRequest(lidar_sweeps=1))
            split["occupancy"] += t1 - t
            split["lidar"] += time.process_time() - t1
        t = time.process_time()
        state = sim.step(state, sim.log_future(state))
        split["step"] += time.process_time() - t
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    out = {"steps_per_s": steps / cpu, "wall_steps_per_s": steps / wall}
    out |= {f"{k}_cpu_ms": 1e3 * v / steps for k, v in split.items() if v}
    return {k: round(v, 2) for k, v in out.items()}


def _measure_gym(root, version: str, scene: str, steps: int) -> dict[str, float]:
    """``OccDrive-v0`` steps per second (CPU and wall) with oracle perception and the occupancy, flow,
    ego, route and LiDAR observations (default ``rich_info``), the logged future as the action."""
    import gymnasium as gym

    env = gym.make(
        "OccDrive-v0", dataroot=str(root), version=version, split=None, scenes=[scene],
        observation=("occupancy", "flow", "ego", "route", "lidar"),
    )  # fmt: skip
    sim = env.unwrapped.sim
    env.reset(seed=0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        state = env.unwrapped.state
        _, _, terminated, truncated, _ = env.step(sim.log_future(state).poses.astype(np.float32))
        if terminated or truncated:
            env.reset()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    env.close()
    return {"steps_per_s": round(steps / cpu, 2), "wall_steps_per_s": round(steps / wall, 2)}


def run(args: list[str]) -> dict:
    from envs.scenarios import DatasetScenarios

    p = argparse.ArgumentParser(prog="python -m occplan.bench env")
    p.add_argument("--dataset", default="tiny", help="generated preset used when --dataroot is not given")
    p.add_argument("--dataroot", default=None)
    p.add_argument("--version", default=None)
    p.add_argument("--scene", default=None)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1, help="numba threads (1 = the one-core figures)")
    a = p.parse_args(args)
    numba.set_num_threads(a.threads)
    if a.threads == 1:  # one core: every thread of the process (numba, Embree's TBB, BLAS) shares it
        core = {min(os.sched_getaffinity(0))}
        for tid in os.listdir("/proc/self/task"):  # threads started at import time too
            os.sched_setaffinity(int(tid), core)
    root, version = a.dataroot, a.version
    if root is None:
        from scenarios.datasets import ensure

        root, version = ensure(a.dataset), "v1.0-occplan"
    rss0_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source = DatasetScenarios(root, version, split=None)
    name = a.scene or source.names()[0]
    loaded = source.load(name)
    with_sensors, no_sensors = Simulator(SimConfig()), Simulator(SimConfig())
    _measure(with_sensors, loaded, 3, True)  # warm-up: numba compilation, per-scene arrays
    rss1_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sensors = _measure(with_sensors, loaded, a.steps, True)
    bare = _measure(no_sensors, loaded, a.steps * 10, False)
    gym_env = _measure_gym(root, version, name, a.steps)
    return {
        "dataroot": str(root),
        "scene": name,
        "world": type(loaded.world).__name__,
        "numba_threads": a.threads,
        "load_average_1min": round(os.getloadavg()[0], 2),
        **{f"closed_loop_no_sensors_{k}": v for k, v in bare.items()},
        **{f"closed_loop_oracle_occ_lidar_{k}": v for k, v in sensors.items()},
        **{f"gym_oracle_lidar_{k}": v for k, v in gym_env.items()},
        "env_memory_mb": round(rss1_mb - rss0_mb, 1),
    }
