"""``RichInfo``: the simulator's objects of each step in ``info``, beside the env's plain values.

Adds ``info["step_record"]`` (the last ``StepRecord``), ``info["agents"]`` (the world-frame agent
boxes) and ``info["ground_truth"]`` (the GT ``OccupancyFrame`` at the state when the step computed it,
else None). These objects hold arrays that ``==`` cannot compare, so Gymnasium's determinism check
rejects a wrapped env; the unwrapped env's ``info`` keeps plain values only.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class RichInfo(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """``OccDrive-v0`` with the simulator's objects in ``info`` (module docstring)."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs, self._rich(info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._rich(info)

    def _rich(self, info: dict[str, Any]) -> dict[str, Any]:
        state = self.env.unwrapped.state
        return info | {"step_record": state.last_record, "agents": state.agents, "ground_truth": state.memo.get("gt")}
