"""The previous decision's plan, re-expressed in the current ego frame (for temporal consistency)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.interfaces import PlannerInput
from occplan.types import EgoState, Pose, Trajectory, se2_transform


def _world_from_ego(ego: EgoState) -> Pose:
    return Pose.from_xy_yaw(ego.x_m, ego.y_m, ego.yaw_rad)


@dataclass(frozen=True)
class PreviousPlan:
    """A plan issued at ``time_us`` from the ego state ``ego`` (world frame)."""

    time_us: int
    ego: EgoState
    plan: Trajectory

    def overlap(self, inp: PlannerInput, tolerance_us: int = 1000) -> np.ndarray | None:
        """When ``inp`` is the next decision (one sampling interval later), the previous plan's waypoints
        1..T-1 (the times of the new plan's waypoints 0..T-2) as (T-1, 3) poses in the new ego frame;
        None otherwise (first decision, skipped or repeated decisions, another sampling)."""
        step_us = round(inp.sampling.interval_s * 1e6)
        if self.plan.sampling != inp.sampling or abs(inp.time_us - self.time_us - step_us) > tolerance_us:
            return None
        now_from_prev = _world_from_ego(inp.ego_state).inverse() @ _world_from_ego(self.ego)
        return se2_transform(self.plan.poses[1:], now_from_prev)
