"""Open-loop planning samples: a keyframe's plan with its logged future, the GT boxes of the next
keyframes and their GT occupancy, all in the ego frame of the planning time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError
from occplan.types import AgentBox, Frame, OccupancyFrame, Pose, Scenario, Trajectory
from occplan.types._check import check_array


@dataclass(frozen=True)
class PlanningSample:
    """One open-loop sample, everything in the ego frame of the planning time unless stated.

    ``plan`` (T, 3) planned (x, y, yaw); ``log_xy_m`` (T, 2) logged ego future with ``log_valid``
    (T,) bool; ``agents`` one tuple of GT boxes per future step (in the planning-time ego frame);
    ``occupancy`` one GT OccupancyFrame (own frame, ``world_from_grid`` set) or None per step, or
    None; ``world_from_ego`` the planning-time ego pose (needed with ``occupancy``); ``log_yaw_rad``
    (T,) logged headings (rad, NaN allowed where the log is invalid), or None: with ``occupancy`` they
    give the logged trajectory's own voxel check (the human reference's ``col_occ``).
    """

    token: str
    plan: np.ndarray
    log_xy_m: np.ndarray
    log_valid: np.ndarray
    agents: tuple[tuple[AgentBox, ...], ...]
    occupancy: tuple[OccupancyFrame | None, ...] | None = None
    world_from_ego: Pose | None = None
    log_yaw_rad: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = len(self.log_valid)
        check_array(self.plan, f"PlanningSample[{self.token}].plan", (t, 3), np.float64, finite=True)
        check_array(self.log_xy_m, f"PlanningSample[{self.token}].log_xy_m", (t, 2), np.float64)
        check_array(self.log_valid, f"PlanningSample[{self.token}].log_valid", (t,), np.bool_)
        if not np.isfinite(self.log_xy_m[self.log_valid]).all():
            raise ValidationError(f"PlanningSample[{self.token}].log_xy_m: non-finite valid waypoints")
        if len(self.agents) != t:
            raise ValidationError(f"PlanningSample[{self.token}].agents: {len(self.agents)} steps, expected {t}")
        if self.occupancy is not None:
            if len(self.occupancy) != t:
                raise ValidationError(
                    f"PlanningSample[{self.token}].occupancy: {len(self.occupancy)} steps, expected {t}"
                )
            if self.world_from_ego is None:
                raise ValidationError(f"PlanningSample[{self.token}].world_from_ego: required with occupancy")
        if self.log_yaw_rad is not None:
            check_array(self.log_yaw_rad, f"PlanningSample[{self.token}].log_yaw_rad", (t,), np.float64)
            if not np.isfinite(self.log_yaw_rad[self.log_valid]).all():
                raise ValidationError(f"PlanningSample[{self.token}].log_yaw_rad: non-finite valid headings")


def box_in_frame(box: AgentBox, a_from_b: Pose) -> AgentBox:
    """The box moved from frame b to frame a (centre, yaw and planar velocity)."""
    vel = a_from_b.rotation[:2, :2] @ box.velocity_mps
    return AgentBox(
        a_from_b.transform_points(box.center_m[None])[0], box.size_m.copy(), float(box.yaw_rad + a_from_b.yaw_rad),
        vel, box.category, box.instance, box.attributes, box.num_lidar_pts,
    )  # fmt: skip


def planning_sample(
    scenario: Scenario,
    index: int,
    plan: Trajectory,
    occupancy_of: Callable[[Frame], OccupancyFrame | None] | None = None,
) -> PlanningSample:
    """Build the sample of keyframe ``index``: logged future (positions and headings), GT boxes of the
    next keyframes moved into this keyframe's ego frame, and (with ``occupancy_of``) their GT occupancy."""
    frames = scenario.frames
    frame = frames[index]
    n = len(frame.future_valid)
    ego_from_world = frame.world_from_ego.inverse()
    agents, occ = [], []
    for k in range(1, n + 1):
        if index + k < len(frames):
            nxt = frames[index + k]
            rel = ego_from_world @ nxt.world_from_ego
            agents.append(tuple(box_in_frame(b, rel) for b in nxt.agents))
            occ.append(occupancy_of(nxt) if occupancy_of is not None else None)
        else:
            agents.append(())
            occ.append(None)
    return PlanningSample(
        frame.sample_token, plan.poses, frame.future.xy_m.copy(), frame.future_valid.copy(), tuple(agents),
        tuple(occ) if occupancy_of is not None else None, frame.world_from_ego, frame.future.poses[:, 2].copy(),
    )  # fmt: skip
