"""OccDrive-v0 actions: exact shape and finiteness or a ValidationError naming the action; out-of-range
values clipped to the Box and reported, for both action types; step after the episode's end raises
ResetNeeded (generated tiny set)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

from occplan.errors import ValidationError


@pytest.fixture(scope="module")
def kwargs(tiny_dataroot):
    return {"dataroot": str(tiny_dataroot), "split": None, "perception": None, "observation": ("ego", "route")}


def _env(kwargs, action_type):
    env = gym.make("OccDrive-v0", **kwargs, action_type=action_type).unwrapped
    env.reset(seed=0, options={"scene": "scene-0000"})
    return env


BAD_ACTIONS = [
    ("trajectory", np.zeros((3, 6)), r"shape \(6, 3\).*got shape \(3, 6\)"),
    ("trajectory", np.zeros(18), r"shape \(6, 3\).*got shape \(18,\)"),
    ("trajectory", np.zeros((5, 3)), r"shape \(6, 3\).*got shape \(5, 3\)"),
    ("trajectory", np.full((6, 3), np.nan), "non-finite"),
    ("trajectory", "forward", "numeric array"),
    ("control", np.zeros(3), r"shape \(2,\).*got shape \(3,\)"),
    ("control", np.zeros(1), r"shape \(2,\).*got shape \(1,\)"),
    ("control", np.array([np.inf, 0.0]), "non-finite values at indices \\[\\[0\\]\\]"),
]


@pytest.mark.parametrize(("action_type", "action", "message"), BAD_ACTIONS, ids=lambda v: getattr(v, "shape", v))
def test_malformed_actions_are_rejected_naming_the_action(kwargs, action_type, action, message):
    env = _env(kwargs, action_type)
    before = env.state
    with pytest.raises(ValidationError, match=f"OccDrive-v0 {action_type} action: .*{message}"):
        env.step(action)
    assert env.state is before  # nothing was simulated


def _far(env) -> tuple[np.ndarray, np.ndarray]:
    """An action far outside the Box and the same action clipped to it."""
    box = env.action_space
    span = box.high - box.low
    far = np.where(np.arange(box.low.size).reshape(box.shape) % 2, box.high + 10 * span, box.low - 10 * span)
    return far.astype(np.float32), np.clip(far, box.low, box.high).astype(np.float32)


@pytest.mark.parametrize("action_type", ["trajectory", "control"])
def test_out_of_range_actions_are_clipped_to_the_box_and_reported(kwargs, action_type):
    env = _env(kwargs, action_type)
    far, clipped = _far(env)
    _, r_far, *_, info_far = env.step(far)
    state_far = env.state
    env.reset(seed=0, options={"scene": "scene-0000"})
    _, r_clip, *_, info_clip = env.step(clipped)
    assert info_far["action_clipped"] and not info_clip["action_clipped"]
    assert r_far == r_clip and state_far.ego == env.state.ego
    inside = (env.action_space.low + env.action_space.high) / 2
    assert not env.step(inside)[4]["action_clipped"]


def test_step_after_termination_or_truncation_raises_reset_needed(kwargs):
    env = _env(kwargs, "trajectory")
    hard_left = np.array([[4 * np.sin(a), 4 * (1 - np.cos(a)), a] for a in np.linspace(0.5, 3.0, 6)], np.float32)
    for _ in range(100):
        *_, terminated, truncated, info = env.step(hard_left)
        if terminated or truncated:
            break
    assert terminated and not truncated and (info["offroad"] or info["collided"])
    with pytest.raises(ResetNeeded, match=r"the episode is over \(terminated\); call reset\(\)"):
        env.step(hard_left)

    env.reset(seed=0, options={"scene": "scene-0000"})
    truncated = False
    while not truncated:
        *_, terminated, truncated, _ = env.step(env.sim.log_future(env.state).poses.astype(np.float32))
        assert not terminated
    with pytest.raises(ResetNeeded, match=r"the episode is over \(truncated\); call reset\(\)"):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    env.step(env.sim.log_future(env.state).poses.astype(np.float32))  # a new episode steps again


def test_step_before_reset_raises_reset_needed(kwargs):
    env = gym.make("OccDrive-v0", **kwargs).unwrapped
    with pytest.raises(ResetNeeded, match=r"no episode has started; call reset\(\)"):
        env.step(env.action_space.sample())
