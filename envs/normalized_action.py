"""``NormalizedAction``: a [-1, 1] action Box for learning, mapped onto the env's physical Box.

Per component, piecewise linear with zero kept at zero: -1 -> ``low``, 0 -> 0, 1 -> ``high`` (a
component whose range excludes 0 maps 0 to its centre). For ``OccDrive-v0``'s control actions 0 is
"no acceleration, no steering"; for trajectories, every waypoint at the ego's position. Values beyond
[-1, 1] map beyond the Box, where the env's one rule applies: clipped to the Box and reported in
``info["action_clipped"]``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from occplan.errors import ValidationError


class NormalizedAction(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """The wrapped env's Box actions as [-1, 1] per component (module docstring)."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ActionWrapper.__init__(self, env)
        box = env.action_space
        if not isinstance(box, spaces.Box) or not (np.isfinite(box.low).all() and np.isfinite(box.high).all()):
            raise ValueError(f"NormalizedAction: needs a bounded Box action space, got {box}")
        self._low, self._high = box.low.astype(np.float64), box.high.astype(np.float64)
        self._zero = np.where((self._low < 0) & (self._high > 0), 0.0, (self._low + self._high) / 2)
        self._dtype = box.dtype
        self.action_space = spaces.Box(-1.0, 1.0, box.shape, np.float32)

    def action(self, action):
        """[-1, 1] action -> the wrapped env's physical action (the env checks finiteness and range)."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValidationError(
                f"NormalizedAction: expected an action of shape {self.action_space.shape}, got {a.shape}"
            )
        scale = np.where(a < 0, self._zero - self._low, self._high - self._zero)
        return (self._zero + a * scale).astype(self._dtype)
