"""What the simulator records: one StepRecord per simulation step (an episode's records become its
``EpisodeHistory``, of which closed-loop metrics are pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.types.agents import AgentBox
from occplan.types.ego import EgoState
from occplan.types.sensors import Command
from occplan.types.trajectory import Trajectory


@dataclass(frozen=True)
class StepRecord:
    """State after one simulation step (world frame).

    ``agents`` are world-frame boxes at ``time_us``; ``log_ego`` is the logged ego state at the same
    time (None past the log); ``plan`` is the trajectory issued at this step (ego frame of this step;
    None between decisions); ``occ_contact_xy_m`` (M, 2) the world xy of the voxel columns holding a
    static obstacle (``occplan.rules.obstacles``) under the ego box at this step, None without contact.
    """

    time_us: int
    ego: EgoState
    agents: tuple[AgentBox, ...]
    log_ego: EgoState | None = None
    plan: Trajectory | None = None
    command: Command = Command.STRAIGHT
    occ_contact_xy_m: np.ndarray | None = None

    @property
    def occ_collision(self) -> bool:
        """True when the ego box touched a static obstacle voxel at this step."""
        return self.occ_contact_xy_m is not None
