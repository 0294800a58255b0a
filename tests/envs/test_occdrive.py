"""OccDrive-v0 through Gymnasium's checker, determinism, agreement with the core, vector envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import occplan  # noqa: F401  (registers OccDrive-v0)
from occplan.sim import Simulator
from occplan.types import Trajectory

SETTINGS = [
    {"action_type": "trajectory"},
    {"action_type": "control"},
    {"action_type": "trajectory", "perception": None, "observation": ("ego", "route", "lidar")},
    {"action_type": "control", "observation": ("occupancy", "ego", "route", "lidar", "cameras")},
]


@pytest.fixture(scope="module")
def kwargs(real_mini):
    return {"dataroot": str(real_mini), "version": "v1.0-mini", "split": None, "scenes": ("scene-0916",)}


def test_env_is_registered():
    assert "OccDrive-v0" in gym.registry


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_check_env_passes(kwargs, setting):
    env = gym.make("OccDrive-v0", **kwargs, **setting, rich_info=False, render_mode="rgb_array")
    check_env(env.unwrapped)
    env.reset(seed=0)
    assert env.render().shape == (400, 400, 3)


def test_env_and_core_produce_the_same_trajectory(kwargs):
    env = gym.make("OccDrive-v0", **kwargs).unwrapped
    env.reset(seed=7)
    sim = Simulator(env.sim.config)
    loaded = env.source.load("scene-0916")
    state = sim.reset(loaded.scenario, env.state.context.seed, world=loaded.world, source=loaded.source)
    for _ in range(4):
        plan = sim.log_future(state)
        state = sim.step(state, plan)
        _, _, _, _, info = env.step(plan.poses.astype(np.float32))
        assert np.allclose([state.ego.x_m, state.ego.y_m], [env.state.ego.x_m, env.state.ego.y_m], atol=1e-3)
    assert isinstance(info["ground_truth"].semantics, np.ndarray) and "progress" in info["reward_terms"]


def test_reset_with_the_same_seed_is_deterministic(kwargs):
    env = gym.make("OccDrive-v0", **kwargs)
    a, _ = env.reset(seed=1)
    b, _ = env.reset(seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_async_vector_env(kwargs):
    # spawn: a forked worker crashes once numba's (non fork-safe) workqueue threads ran in the parent
    envs = gym.make_vec(
        "OccDrive-v0", num_envs=2, vectorization_mode="async", vector_kwargs={"context": "spawn"}, **kwargs,
        rich_info=False,
    )  # fmt: skip
    obs, _ = envs.reset(seed=0)
    assert obs["occupancy"].shape == (2, 200, 200, 16)
    obs, reward, *_ = envs.step(envs.action_space.sample())
    assert reward.shape == (2,)
    envs.close()


def test_constant_velocity_on_a_curve_leaves_the_route(real_mini):
    env = gym.make("OccDrive-v0", dataroot=str(real_mini), version="v1.0-mini", split=None, scenes=("scene-0523",))
    env.reset(seed=0)
    straight = Trajectory.from_xy(np.column_stack([np.arange(1, 7) * 3.0, np.zeros(6)]))
    deviation = 0.0
    for _ in range(30):
        _, _, _, trunc, info = env.step(straight.poses.astype(np.float32))
        deviation = max(deviation, info["pose_deviation_m"])
        if trunc:
            break
    assert deviation > 2.0
