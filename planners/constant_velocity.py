"""``constant_velocity``: the baseline that keeps the current speed straight ahead."""

from __future__ import annotations

import numpy as np

from occplan.interfaces import Planner, PlannerInput
from occplan.types import Trajectory


class ConstantVelocityPlanner(Planner):
    """Waypoints at ``speed * t`` along the current heading (ego x axis), yaw 0."""

    name = "constant_velocity"

    def _plan(self, inp: PlannerInput) -> Trajectory:
        x = max(inp.ego_state.speed_mps, 0.0) * inp.sampling.times_s
        return Trajectory(np.column_stack([x, np.zeros_like(x), np.zeros_like(x)]), inp.sampling)
