"""Other road users: log replay, or reactive IDM vehicles following their logged paths.

Log replay asks the World for its tracks at each time. In IDM mode every vehicle whose logged path
is longer than ``IDMConfig.moving_threshold_m`` is driven by the Intelligent Driver Model along that
path (its longitudinal position ``s`` and speed are simulated; lateral motion stays on the logged
path); pedestrians, cyclists' riders, parked vehicles and static objects are replayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from occplan.sim.config import IDMConfig
from occplan.types import AgentBox, EgoState, VehicleParams
from occplan.world import World


@dataclass(frozen=True)
class AgentArrays:
    """World-frame boxes as arrays: ``center_m`` (A, 3), ``size_m`` (A, 3) (w, l, h), ``yaw_rad`` (A,),
    ``velocity_mps`` (A, 2)."""

    center_m: np.ndarray
    size_m: np.ndarray
    yaw_rad: np.ndarray
    velocity_mps: np.ndarray

    @classmethod
    def from_boxes(cls, boxes: tuple[AgentBox, ...]) -> AgentArrays:
        if not boxes:
            return cls(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 2)))
        return cls(
            np.array([b.center_m for b in boxes]),
            np.array([b.size_m for b in boxes]),
            np.array([b.yaw_rad for b in boxes]),
            np.array([b.velocity_mps for b in boxes]),
        )


@dataclass(frozen=True)
class IDMTracks:
    """Logged paths of the IDM-driven vehicles, sampled at ``times_us`` (T,).

    Per agent n: ``present`` (N, T) bool, ``arc_m`` (N, T) cumulative path length (non-decreasing,
    constant where absent), ``center_m`` (N, T, 3), ``yaw_rad`` (N, T) unwrapped, ``desired_speed_mps`` (N,).
    """

    boxes: tuple[AgentBox, ...]  # one template per agent (size, category, instance)
    times_us: np.ndarray
    present: np.ndarray
    arc_m: np.ndarray
    center_m: np.ndarray
    yaw_rad: np.ndarray
    desired_speed_mps: np.ndarray

    @property
    def instances(self) -> frozenset[str]:
        return frozenset(b.instance for b in self.boxes)

    @classmethod
    def from_world(cls, world: World, times_us: np.ndarray, cfg: IDMConfig, rng: np.random.Generator) -> IDMTracks:
        """Sample the world's tracks at ``times_us`` and keep the moving vehicles."""
        samples = [{b.instance: b for b in world.agent_boxes(int(t))} for t in times_us]
        ids = sorted({i for s in samples for i, b in s.items() if b.category.startswith("vehicle.")})
        t_count = len(times_us)
        present = np.array([[i in s for s in samples] for i in ids], dtype=bool).reshape(len(ids), t_count)
        center = np.zeros((len(ids), t_count, 3))
        yaw = np.zeros((len(ids), t_count))
        speed = np.zeros((len(ids), t_count))
        for n, i in enumerate(ids):
            for k, s in enumerate(samples):
                if i in s:
                    center[n, k], yaw[n, k] = s[i].center_m, s[i].yaw_rad
                    speed[n, k] = float(np.hypot(*s[i].velocity_mps))
            # hold the first / last present sample outside the presence window
            idx = np.flatnonzero(present[n])
            fill = np.clip(np.searchsorted(idx, np.arange(t_count)), 0, len(idx) - 1)
            nearest = np.where(present[n], np.arange(t_count), idx[fill])
            center[n], yaw[n], speed[n] = center[n, nearest], np.unwrap(yaw[n, nearest]), speed[n, nearest]
        step = (
            np.hypot(*np.diff(center[..., :2], axis=1).transpose(2, 0, 1)) if t_count > 1 else np.zeros((len(ids), 0))
        )
        arc = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(step, axis=1)], axis=1)
        moving = arc[:, -1] > cfg.moving_threshold_m
        jitter = rng.uniform(1 - cfg.speed_jitter, 1 + cfg.speed_jitter, size=len(ids))
        desired = np.maximum(speed.max(axis=1, initial=0.0), cfg.min_desired_speed_mps) * jitter
        first = [next(s[i] for s in samples if i in s) for i in ids]
        keep = np.flatnonzero(moving)
        return cls(
            tuple(first[n] for n in keep),
            np.asarray(times_us, dtype=np.int64),
            present[keep],
            arc[keep],
            center[keep],
            yaw[keep],
            desired[keep],
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def logged_arc(self, time_us: int) -> np.ndarray:
        """(N,) logged path position at ``time_us``."""
        return np.array([np.interp(time_us, self.times_us, a) for a in self.arc_m])

    def is_present(self, time_us: int) -> np.ndarray:
        """(N,) True inside the agent's logged presence window (sample-and-hold between samples)."""
        k = int(np.clip(np.searchsorted(self.times_us, time_us, side="right") - 1, 0, len(self.times_us) - 1))
        return self.present[:, k]


@dataclass(frozen=True)
class IDMState:
    """Simulated path position ``s_m`` (N,) and speed ``speed_mps`` (N,); ``started`` (N,) bool."""

    s_m: np.ndarray
    speed_mps: np.ndarray
    started: np.ndarray


def idm_init(tracks: IDMTracks) -> IDMState:
    n = len(tracks)
    return IDMState(np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool))


def idm_boxes(tracks: IDMTracks, state: IDMState, time_us: int) -> tuple[AgentBox, ...]:
    """World-frame boxes of the IDM vehicles present at ``time_us``."""
    present = tracks.is_present(time_us) & state.started
    out = []
    for n in np.flatnonzero(present):
        arc, s = tracks.arc_m[n], state.s_m[n]
        c = np.array([np.interp(s, arc, tracks.center_m[n, :, d]) for d in range(3)])
        yaw = float(np.interp(s, arc, tracks.yaw_rad[n]))
        v = state.speed_mps[n]
        t = tracks.boxes[n]
        out.append(AgentBox(c, t.size_m, yaw, np.array([v * math.cos(yaw), v * math.sin(yaw)]), t.category, t.instance))
    return tuple(out)


def idm_step(
    tracks: IDMTracks,
    state: IDMState,
    time_us: int,
    dt_s: float,
    others: AgentArrays,
    ego: EgoState,
    vehicle: VehicleParams,
    cfg: IDMConfig,
) -> IDMState:
    """Advance the IDM vehicles from ``time_us`` by ``dt_s``.

    Leaders are the nearest objects ahead (other agents in ``others``, which include the IDM vehicles
    themselves, and the ego) within the lane half width of the agent's heading line.
    """
    n = len(tracks)
    if n == 0:
        return state
    present = tracks.is_present(time_us)
    log_s = tracks.logged_arc(time_us)
    new_start = present & ~state.started
    s = np.where(new_start, log_s, state.s_m)
    v = state.speed_mps.copy()
    if np.any(new_start):  # start at the logged speed
        dt_log = 1e-6 * max(int(tracks.times_us[-1] - tracks.times_us[0]), 1) / max(len(tracks.times_us) - 1, 1)
        v[new_start] = (tracks.logged_arc(time_us + round(dt_log * 1e6)) - log_s)[new_start] / dt_log
    started = state.started | present
    # Agent poses at s
    pos = np.array([[np.interp(s[i], tracks.arc_m[i], tracks.center_m[i, :, d]) for d in range(2)] for i in range(n)])
    yaw = np.array([np.interp(s[i], tracks.arc_m[i], tracks.yaw_rad[i]) for i in range(n)])
    length = np.array([b.size_m[1] for b in tracks.boxes])
    # Objects: other agents + ego (centre of the ego box)
    ego_c = np.array(
        [
            ego.x_m + vehicle.rear_axle_to_center_m * math.cos(ego.yaw_rad),
            ego.y_m + vehicle.rear_axle_to_center_m * math.sin(ego.yaw_rad),
        ]
    )
    obj_xy = np.vstack([others.center_m[:, :2], ego_c[None]])
    obj_w = np.concatenate([others.size_m[:, 0], [vehicle.width_m]])
    obj_l = np.concatenate([others.size_m[:, 1], [vehicle.length_m]])
    obj_v = np.vstack(
        [others.velocity_mps, [[ego.speed_mps * math.cos(ego.yaw_rad), ego.speed_mps * math.sin(ego.yaw_rad)]]]
    )
    c, si = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    rel = obj_xy[None] - pos[:, None]
    lon = rel[..., 0] * c + rel[..., 1] * si
    lat = -rel[..., 0] * si + rel[..., 1] * c
    gap = lon - (length[:, None] + obj_l[None]) / 2
    ahead = (lon > 0.1) & (np.abs(lat) < cfg.lane_half_width_m + obj_w[None] / 2)
    gap = np.where(ahead, gap, np.inf)
    lead = np.argmin(gap, axis=1)
    lead_gap = np.maximum(gap[np.arange(n), lead], 0.1)
    lead_v = obj_v[lead, 0] * c[:, 0] + obj_v[lead, 1] * si[:, 0]
    dv = v - lead_v
    s_star = cfg.min_gap_m + np.maximum(
        0.0, v * cfg.time_headway_s + v * dv / (2 * math.sqrt(cfg.max_accel_mps2 * cfg.comfort_decel_mps2))
    )
    interaction = np.where(np.isfinite(lead_gap), (s_star / lead_gap) ** 2, 0.0)
    accel = cfg.max_accel_mps2 * (1 - (v / tracks.desired_speed_mps) ** cfg.exponent - interaction)
    v_new = np.maximum(v + accel * dt_s, 0.0)
    s_new = np.minimum(s + 0.5 * (v + v_new) * dt_s, tracks.arc_m[:, -1])
    v_new = np.where(s_new >= tracks.arc_m[:, -1], 0.0, v_new)  # end of the logged path: stop
    active = started & present
    return IDMState(np.where(active, s_new, s), np.where(active, v_new, v), started)
