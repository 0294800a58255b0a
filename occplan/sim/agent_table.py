"""The logged agents of a scenario sampled once at every simulation substep, as arrays.

Replay and collision checks index rows of these arrays; ``AgentBox`` objects are only built when a
record or an observation asks for them (``AgentTable.boxes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from occplan.types import AgentBox, wrap_angle
from occplan.world import World
from occplan.world.spec import AgentTrack


@dataclass(frozen=True)
class AgentTable:
    """A agents at K times ``times_us`` (K,) int64, world frame.

    ``present`` (K, A) bool; ``center_m`` (K, A, 3); ``yaw_rad`` (K, A); ``velocity_mps`` (K, A, 2);
    ``attribute`` (K, A) int16 index into the agent's ``attribute_names`` (-1 none); per agent
    ``size_m`` (A, 3) (w, l, h), ``category``, ``instance``, ``attribute_names``. Rows where an agent is
    absent hold its nearest present sample (so that interpolation along them stays finite).
    """

    times_us: np.ndarray
    present: np.ndarray
    center_m: np.ndarray
    yaw_rad: np.ndarray
    velocity_mps: np.ndarray
    attribute: np.ndarray
    size_m: np.ndarray
    category: tuple[str, ...]
    instance: tuple[str, ...]
    attribute_names: tuple[tuple[str, ...], ...]

    @classmethod
    def from_tracks(cls, tracks: Sequence[AgentTrack], times_us: np.ndarray) -> AgentTable:
        """Sample tracks as ``occplan.world.tracks.AgentTracks`` does (linear between samples, yaw on
        the circle, attribute of the sample before, present inside [first, last] sample time)."""
        t = np.asarray(times_us, np.int64)
        a = len(tracks)
        table = cls._empty(t, a)
        for n, tr in enumerate(tracks):  # one vectorised interpolation per track
            times = tr.times_us
            j = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
            j1 = np.minimum(j + 1, len(times) - 1)
            span = np.maximum(times[j1] - times[j], 1)
            w = np.where(j1 > j, (t - times[j]) / span, 0.0)
            table.present[:, n] = (times[0] <= t) & (t <= times[-1])
            table.center_m[:, n] = (1 - w)[:, None] * tr.center_m[j] + w[:, None] * tr.center_m[j1]
            table.yaw_rad[:, n] = wrap_angle(tr.yaw_rad[j] + w * wrap_angle(tr.yaw_rad[j1] - tr.yaw_rad[j]))
            table.velocity_mps[:, n] = (1 - w)[:, None] * tr.velocity_mps[j] + w[:, None] * tr.velocity_mps[j1]
            table.attribute[:, n] = tr.attribute[j]
        return cls(
            t, table.present, table.center_m, table.yaw_rad, table.velocity_mps, table.attribute,
            np.array([tr.size_m for tr in tracks], np.float64).reshape(a, 3),
            tuple(tr.category for tr in tracks), tuple(tr.instance for tr in tracks),
            tuple(tuple(tr.attribute_names) for tr in tracks),
        )  # fmt: skip

    @classmethod
    def from_world(cls, world: World, times_us: np.ndarray) -> AgentTable:
        """Any World: its tracks when it exposes them (``World.agent_tracks``: generated and reconstructed
        worlds), else ``world.agent_boxes`` queried at every time."""
        tracks = world.agent_tracks()
        if tracks is not None:
            return cls.from_tracks(tracks, times_us)
        t = np.asarray(times_us, np.int64)
        samples = [{b.instance: b for b in world.agent_boxes(int(ti))} for ti in t]
        first: dict[str, AgentBox] = {}
        attrs: dict[str, set[str]] = {}
        for s in samples:
            for i, b in s.items():
                first.setdefault(i, b)
                attrs.setdefault(i, set()).update(b.attributes)
        ids = sorted(first)
        names = tuple(tuple(sorted(attrs[i])) for i in ids)
        table = cls._empty(t, len(ids))
        for n, i in enumerate(ids):
            for r, s in enumerate(samples):
                if (b := s.get(i)) is not None:
                    table.present[r, n] = True
                    table.center_m[r, n], table.yaw_rad[r, n] = b.center_m, b.yaw_rad
                    table.velocity_mps[r, n] = b.velocity_mps
                    table.attribute[r, n] = names[n].index(b.attributes[0]) if b.attributes else -1
        _hold_nearest(table)
        return cls(
            t, table.present, table.center_m, table.yaw_rad, table.velocity_mps, table.attribute,
            np.array([first[i].size_m for i in ids], np.float64).reshape(len(ids), 3),
            tuple(first[i].category for i in ids), tuple(ids), names,
        )  # fmt: skip

    @classmethod
    def _empty(cls, times_us: np.ndarray, num_agents: int) -> AgentTable:
        k = len(times_us)
        return cls(
            times_us, np.zeros((k, num_agents), bool), np.zeros((k, num_agents, 3)), np.zeros((k, num_agents)),
            np.zeros((k, num_agents, 2)), np.full((k, num_agents), -1, np.int16), np.zeros((num_agents, 3)),
            (), (), (),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.instance)

    def row(self, time_us: int) -> int:
        """Row index of ``time_us`` (must be one of ``times_us``)."""
        k = int(np.searchsorted(self.times_us, time_us))
        if k >= len(self.times_us) or self.times_us[k] != time_us:
            raise ValueError(f"AgentTable: time {time_us} us is not a simulation substep")
        return k

    def boxes(self, row: int, agents: np.ndarray | None = None) -> tuple[AgentBox, ...]:
        """World-frame AgentBoxes of the agents present at ``row`` (restricted to the indices ``agents``)."""
        idx = np.flatnonzero(self.present[row])
        if agents is not None:
            idx = idx[np.isin(idx, agents)]
        out = []
        for n in idx:
            attr, names = int(self.attribute[row, n]), self.attribute_names[n]
            out.append(
                AgentBox(
                    self.center_m[row, n].copy(),
                    self.size_m[n].copy(),
                    float(self.yaw_rad[row, n]),
                    self.velocity_mps[row, n].copy(),
                    self.category[n],
                    self.instance[n],
                    (names[attr],) if 0 <= attr < len(names) else (),
                )
            )
        return tuple(out)


def _hold_nearest(table: AgentTable) -> None:
    """Fill each agent's absent rows with its nearest present row (in place)."""
    k = len(table.times_us)
    for n in range(table.present.shape[1]):
        idx = np.flatnonzero(table.present[:, n])
        if len(idx) == 0:
            continue
        fill = np.clip(np.searchsorted(idx, np.arange(k)), 0, len(idx) - 1)
        prev = np.clip(fill - 1, 0, len(idx) - 1)
        pick = np.where(np.abs(idx[prev] - np.arange(k)) < np.abs(idx[fill] - np.arange(k)), idx[prev], idx[fill])
        nearest = np.where(table.present[:, n], np.arange(k), pick)
        for arr in (table.center_m, table.yaw_rad, table.velocity_mps):
            arr[:, n] = arr[nearest, n]
