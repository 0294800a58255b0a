"""``log_replay``: the privileged expert that returns the logged future."""

from __future__ import annotations

import numpy as np

from occplan.interfaces import Planner, PlannerInput
from occplan.types import Trajectory


class LogReplayPlanner(Planner):
    """Returns ``PlannerInput.log_future`` (reads ground truth: ``requires_privileged``)."""

    name = "log_replay"
    requires_privileged = True

    def _plan(self, inp: PlannerInput) -> Trajectory:
        assert inp.log_future is not None  # enforced by Planner.plan
        return Trajectory(np.array(inp.log_future.poses, dtype=np.float64), inp.sampling)
