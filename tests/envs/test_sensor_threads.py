"""OccDrive-v0 with ``sensor_threads=2`` (GT occupancy beside the LiDAR cast) observes exactly what the
one-thread env observes; the oracle's flow observation stays in its Box either way."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers OccDrive-v0)
from envs.occdrive import FLOW_LIMIT_MPS

OBSERVATION = ("occupancy", "flow", "ego", "route", "lidar")


@pytest.fixture(scope="module")
def kwargs(tiny_dataroot):
    return {"dataroot": str(tiny_dataroot), "version": "v1.0-occplan", "split": None, "scenes": ["scene-0001"]}


def test_two_sensor_threads_observe_what_one_thread_observes(kwargs):
    one = gym.make("OccDrive-v0", **kwargs, observation=OBSERVATION)
    two = gym.make("OccDrive-v0", **kwargs, observation=OBSERVATION, sensor_threads=2)
    rng = np.random.default_rng(3)
    a, _ = one.reset(seed=0)
    b, _ = two.reset(seed=0)
    done = False
    while not done:
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        plan = one.unwrapped.sim.log_future(one.unwrapped.state).poses
        action = (plan + rng.normal(0, 0.3, plan.shape)).astype(np.float32)  # off the log
        a, reward_a, term, trunc, _ = one.step(action)
        b, reward_b, *_ = two.step(action)
        assert reward_a == reward_b
        done = term or trunc
    assert two.unwrapped._gt_thread is not None
    two.close()
    assert two.unwrapped._gt_thread is None


def test_sensor_threads_is_one_or_two(kwargs):
    with pytest.raises(ValueError, match="sensor_threads"):
        gym.make("OccDrive-v0", **kwargs, sensor_threads=3)


@pytest.mark.parametrize("threads", [1, 2])
def test_oracle_flow_beyond_the_box_is_clipped(kwargs, threads, monkeypatch):
    env = gym.make("OccDrive-v0", **kwargs, observation=OBSERVATION, sensor_threads=threads)
    sim = env.unwrapped.sim
    truth = sim.ground_truth

    def fast_agent(state, with_masks=True):
        gt = truth(state, with_masks)
        flow = gt.flow.copy()
        flow[0, 0, 0] = (250.0, -250.0)
        return replace(gt, flow=flow)

    monkeypatch.setattr(sim, "ground_truth", fast_agent)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["flow"][0, 0, 0].tolist() == [FLOW_LIMIT_MPS, -FLOW_LIMIT_MPS]
    env.close()
