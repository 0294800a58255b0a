"""Other road users: log replay, or reactive IDM vehicles following their logged paths.

Log replay reads the rows of the scenario's ``AgentTable``. In IDM mode every vehicle whose logged
path is longer than ``IDMConfig.moving_threshold_m`` is driven by the Intelligent Driver Model along
that path (its longitudinal position ``s`` and speed are simulated; lateral motion stays on the
logged path); pedestrians, cyclists, parked vehicles and static objects are replayed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.rules.idm import idm_accel
from occplan.sim.agent_table import AgentTable
from occplan.sim.config import IDMConfig
from occplan.types import AgentBox


@dataclass(frozen=True)
class AgentArrays:
    """World-frame boxes as arrays: ``center_m`` (A, 3), ``size_m`` (A, 3) (w, l, h), ``yaw_rad`` (A,),
    ``velocity_mps`` (A, 2)."""

    center_m: np.ndarray
    size_m: np.ndarray
    yaw_rad: np.ndarray
    velocity_mps: np.ndarray

    @classmethod
    def replayed(cls, table: AgentTable, row: int, agents: np.ndarray | None = None) -> AgentArrays:
        """The table's agents present at ``row`` (restricted to the indices ``agents``)."""
        mask = table.present[row] if agents is None else table.present[row, agents]
        idx = np.flatnonzero(mask) if agents is None else agents[mask]
        return cls(table.center_m[row, idx], table.size_m[idx], table.yaw_rad[row, idx], table.velocity_mps[row, idx])

    def __add__(self, other: AgentArrays) -> AgentArrays:
        return AgentArrays(
            np.concatenate([self.center_m, other.center_m]), np.concatenate([self.size_m, other.size_m]),
            np.concatenate([self.yaw_rad, other.yaw_rad]), np.concatenate([self.velocity_mps, other.velocity_mps]),
        )  # fmt: skip


def _along(s_m: np.ndarray, arc_m: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row n, ``values[n]`` (N, K, ...) linearly interpolated at path position ``s_m[n]`` on the
    non-decreasing ``arc_m[n]`` (N, K) (clamped to the ends; plateaus take their first sample)."""
    n, k = arc_m.shape
    j = np.clip(np.sum(arc_m <= s_m[:, None], axis=1) - 1, 0, k - 2)
    rows = np.arange(n)
    a0, a1 = arc_m[rows, j], arc_m[rows, j + 1]
    w = np.clip(np.where(a1 > a0, (s_m - a0) / np.where(a1 > a0, a1 - a0, 1.0), 0.0), 0.0, 1.0)
    w = w.reshape((n,) + (1,) * (values.ndim - 2))
    return (1 - w) * values[rows, j] + w * values[rows, j + 1]


@dataclass(frozen=True)
class IDMTracks:
    """Logged paths of the IDM-driven vehicles on the table's K rows.

    ``agent`` (N,) indices into the AgentTable; ``replayed`` (A - N,) the other indices; ``arc_m``
    (N, K) cumulative path length (non-decreasing, constant where absent); ``center_m`` (N, K, 3);
    ``yaw_rad`` (N, K) unwrapped; ``speed_mps`` (N, K) logged speed; ``desired_speed_mps`` (N,).
    """

    agent: np.ndarray
    replayed: np.ndarray
    arc_m: np.ndarray
    center_m: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray
    desired_speed_mps: np.ndarray
    size_m: np.ndarray

    @classmethod
    def from_table(cls, table: AgentTable, cfg: IDMConfig, rng: np.random.Generator) -> IDMTracks:
        """Keep the table's vehicles whose logged path is longer than ``cfg.moving_threshold_m``."""
        vehicle = np.array([c.startswith("vehicle.") for c in table.category], bool)
        center = table.center_m.transpose(1, 0, 2)  # (A, K, 3)
        step = np.hypot(*np.diff(center[..., :2], axis=1).transpose(2, 0, 1)) * table.present[1:].T
        arc = np.concatenate([np.zeros((len(table), 1)), np.cumsum(step, axis=1)], axis=1)
        speed = np.hypot(table.velocity_mps[..., 0], table.velocity_mps[..., 1]).T
        jitter = rng.uniform(1 - cfg.speed_jitter, 1 + cfg.speed_jitter, size=len(table))
        desired = np.maximum(np.max(speed, axis=1, initial=0.0), cfg.min_desired_speed_mps) * jitter
        keep = np.flatnonzero(vehicle & (arc[:, -1] > cfg.moving_threshold_m))
        return cls(
            keep, np.setdiff1d(np.arange(len(table)), keep), arc[keep], center[keep],
            np.unwrap(table.yaw_rad.T[keep], axis=1), speed[keep], desired[keep], table.size_m[keep],
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.agent)


@dataclass(frozen=True)
class IDMState:
    """Simulated path position ``s_m`` (N,) and speed ``speed_mps`` (N,) of the IDM vehicles;
    ``started`` (N,) True once the vehicle has appeared."""

    s_m: np.ndarray
    speed_mps: np.ndarray
    started: np.ndarray

    @classmethod
    def initial(cls, tracks: IDMTracks) -> IDMState:
        n = len(tracks)
        return cls(np.zeros(n), np.zeros(n), np.zeros(n, bool))


def idm_arrays(tracks: IDMTracks, table: AgentTable, state: IDMState, row: int) -> AgentArrays:
    """World-frame arrays of the IDM vehicles present at table ``row``."""
    on = np.flatnonzero(table.present[row, tracks.agent] & state.started)
    s = state.s_m[on]
    center = _along(s, tracks.arc_m[on], tracks.center_m[on])
    yaw = _along(s, tracks.arc_m[on], tracks.yaw_rad[on])
    v = state.speed_mps[on]
    return AgentArrays(center, tracks.size_m[on], yaw, np.column_stack([v * np.cos(yaw), v * np.sin(yaw)]))


def idm_boxes(tracks: IDMTracks, table: AgentTable, state: IDMState, row: int) -> tuple[AgentBox, ...]:
    """World-frame boxes of the IDM vehicles present at table ``row``."""
    on = np.flatnonzero(table.present[row, tracks.agent] & state.started)
    arrays = idm_arrays(tracks, table, state, row)
    return tuple(
        AgentBox(
            arrays.center_m[i],
            arrays.size_m[i].copy(),
            float(arrays.yaw_rad[i]),
            arrays.velocity_mps[i],
            table.category[tracks.agent[n]],
            table.instance[tracks.agent[n]],
        )
        for i, n in enumerate(on)
    )


def idm_step(
    tracks: IDMTracks,
    table: AgentTable,
    state: IDMState,
    row: int,
    dt_s: float,
    others: AgentArrays,
    ego_box: np.ndarray,
    cfg: IDMConfig,
) -> IDMState:
    """Advance the IDM vehicles from table ``row`` by ``dt_s``.

    ``others``: every agent at ``row`` (including the IDM vehicles); ``ego_box`` (7,) ego box centre
    x, y, yaw, width, length, vx, vy. Leaders are the nearest objects ahead (agents and the ego)
    within the lane half width of the agent's heading line. A vehicle appearing starts at its
    logged position and speed; at the end of its logged path it stops.
    """
    n = len(tracks)
    if n == 0:
        return state
    present = table.present[row, tracks.agent]
    new_start = present & ~state.started
    s = np.where(new_start, tracks.arc_m[:, row], state.s_m)
    v = np.where(new_start, tracks.speed_mps[:, row], state.speed_mps)
    started = state.started | present
    pos = _along(s, tracks.arc_m, tracks.center_m[..., :2])
    yaw = _along(s, tracks.arc_m, tracks.yaw_rad)
    length = tracks.size_m[:, 1]
    obj_xy = np.vstack([others.center_m[:, :2], ego_box[None, :2]])
    obj_w = np.concatenate([others.size_m[:, 0], ego_box[3:4]])
    obj_l = np.concatenate([others.size_m[:, 1], ego_box[4:5]])
    obj_v = np.vstack([others.velocity_mps, ego_box[None, 5:7]])
    c, si = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    rel = obj_xy[None] - pos[:, None]
    lon = rel[..., 0] * c + rel[..., 1] * si
    lat = -rel[..., 0] * si + rel[..., 1] * c
    ahead = (lon > 0.1) & (np.abs(lat) < cfg.lane_half_width_m + obj_w[None] / 2)
    gap = np.where(ahead, lon - (length[:, None] + obj_l[None]) / 2, np.inf)
    lead = np.argmin(gap, axis=1)
    lead_gap = gap[np.arange(n), lead]
    lead_v = obj_v[lead, 0] * c[:, 0] + obj_v[lead, 1] * si[:, 0]
    accel = idm_accel(v, tracks.desired_speed_mps, lead_gap, lead_v, cfg.params)
    v_new = np.maximum(v + accel * dt_s, 0.0)
    s_new = np.minimum(s + 0.5 * (v + v_new) * dt_s, tracks.arc_m[:, -1])
    v_new = np.where(s_new >= tracks.arc_m[:, -1], 0.0, v_new)  # end of the logged path: stop
    active = started & present
    return IDMState(np.where(active, s_new, s), np.where(active, v_new, v), started)
