"""``python -m occplan.bench env``'s gym measurement: resets are counted and timed apart from steps;
the highway-env row says why it is missing when highway-env is not installed."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs import bench as bench_env


class _Episodes(gym.Env):
    """Terminates every third step; counts calls."""

    observation_space = spaces.Box(0, 1, (1,))
    action_space = spaces.Discrete(2)

    def __init__(self):
        self.steps = self.resets = self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.resets, self.t = self.resets + 1, 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.steps, self.t = self.steps + 1, self.t + 1
        return np.zeros(1, np.float32), 0.0, self.t == 3, False, {}


def test_gym_rates_count_steps_and_time_resets_apart():
    env = _Episodes()
    out = bench_env._measure_gym(env, 10, bench_env._random)
    assert env.steps == 10 and env.resets == 1 + 3  # the warm-up start, then after steps 3, 6, 9
    assert out["steps_per_s"] > 0 and out["wall_steps_per_s"] > 0 and out["reset_ms"] >= 0


def test_the_highway_row_is_skipped_with_a_reason_without_highway_env(monkeypatch):
    monkeypatch.setitem(sys.modules, "highway_env", None)  # import highway_env -> ImportError
    assert bench_env._highway(5) == "skipped: highway-env is not installed (pip install -e '.[bench]')"
