"""Agent tracks of a generated world sampled at any time (linear interpolation, yaw on the circle)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from occplan.errors import ValidationError
from occplan.types import AgentBox, wrap_angle
from occplan.world.base import World
from occplan.world.raycast import BoxSet
from occplan.world.spec import AgentTrack


class AgentTracks:
    """The agents of a world; index ``i`` of ``ids`` is the ``instance`` used in ray hits."""

    def __init__(self, tracks: Sequence[AgentTrack]) -> None:
        self.tracks = tuple(tracks)
        self.ids = tuple(t.instance for t in self.tracks)
        if len(set(self.ids)) != len(self.ids):
            raise ValidationError("WorldSpec.agents: duplicate instance tokens")
        for t in self.tracks:
            if len(t.times_us) == 0 or np.any(np.diff(t.times_us) <= 0):
                raise ValidationError(f"AgentTrack[{t.instance}].times_us: must be non-empty and strictly increasing")
        self._index = {k: i for i, k in enumerate(self.ids)}
        self._label = np.array([t.label for t in self.tracks], np.uint8)
        self._rgb = np.array([t.rgb for t in self.tracks], np.uint8).reshape(-1, 3)
        self._half = np.array([[t.size_m[1], t.size_m[0], t.size_m[2]] for t in self.tracks]).reshape(-1, 3) / 2
        self._last_box_set: tuple[int, BoxSet] | None = None  # the latest box_set (GT and LiDAR share a time)

    def _sample(self, track: AgentTrack, time_us: int) -> tuple[np.ndarray, float, np.ndarray, int]:
        """(centre (3,), yaw, velocity (2,), attribute index) of a present track at ``time_us``."""
        times = track.times_us
        j = int(np.clip(np.searchsorted(times, time_us, side="right") - 1, 0, len(times) - 1))
        if j == len(times) - 1:
            return track.center_m[j], float(track.yaw_rad[j]), track.velocity_mps[j], int(track.attribute[j])
        a = (time_us - times[j]) / (times[j + 1] - times[j])
        center = (1 - a) * track.center_m[j] + a * track.center_m[j + 1]
        yaw = float(wrap_angle(track.yaw_rad[j] + a * wrap_angle(track.yaw_rad[j + 1] - track.yaw_rad[j])))
        vel = (1 - a) * track.velocity_mps[j] + a * track.velocity_mps[j + 1]
        return center, yaw, vel, int(track.attribute[j])

    def _present(self, time_us: int) -> list[int]:
        return [i for i, t in enumerate(self.tracks) if t.times_us[0] <= time_us <= t.times_us[-1]]

    def boxes(self, time_us: int) -> tuple[AgentBox, ...]:
        """World-frame AgentBoxes of the agents present at ``time_us``."""
        out = []
        for i in self._present(time_us):
            t = self.tracks[i]
            center, yaw, vel, attr = self._sample(t, time_us)
            out.append(
                AgentBox(
                    center_m=np.array(center, np.float64),
                    size_m=t.size_m.copy(),
                    yaw_rad=yaw,
                    velocity_mps=np.array(vel, np.float64),
                    category=t.category,
                    instance=t.instance,
                    attributes=(t.attribute_names[attr],) if 0 <= attr < len(t.attribute_names) else (),
                )
            )
        return tuple(out)

    def box_set(self, time_us: int) -> BoxSet:
        """The present agents at ``time_us`` as a BoxSet (no AgentBox objects built; the latest one
        is kept and returned again for the same time, so its arrays must not be modified)."""
        if self._last_box_set is None or self._last_box_set[0] != time_us:
            self._last_box_set = (time_us, self._sample_box_set(time_us))
        return self._last_box_set[1]

    def _sample_box_set(self, time_us: int) -> BoxSet:
        idx = self._present(time_us)
        if not idx:
            return BoxSet.empty()
        samples = [self._sample(self.tracks[i], time_us) for i in idx]
        ii = np.array(idx, np.int32)
        return BoxSet(
            center_m=np.array([s[0] for s in samples], np.float64),
            half_extent_m=self._half[ii],
            yaw_rad=np.array([s[1] for s in samples], np.float64),
            velocity_mps=np.array([s[2] for s in samples], np.float64),
            label=self._label[ii],
            instance=ii,
            rgb=self._rgb[ii],
        )

    def box_set_from(self, boxes: Sequence[AgentBox]) -> BoxSet:
        """World-frame override boxes (e.g. reactive agents) as a BoxSet; label and colour come from
        the track with the same instance token (an unknown token is an error)."""
        if not boxes:
            return BoxSet.empty()
        missing = [b.instance for b in boxes if b.instance not in self._index]
        if missing:
            raise ValidationError(f"agents: instance token(s) {missing[:3]} are not agents of this world")
        ii = np.array([self._index[b.instance] for b in boxes], np.int32)
        size = np.array([b.size_m for b in boxes], np.float64)
        return BoxSet(
            center_m=np.array([b.center_m for b in boxes], np.float64),
            half_extent_m=size[:, [1, 0, 2]] / 2,
            yaw_rad=np.array([b.yaw_rad for b in boxes], np.float64),
            velocity_mps=np.array([b.velocity_mps for b in boxes], np.float64),
            label=self._label[ii],
            instance=ii,
            rgb=self._rgb[ii],
        )


class TrackedWorld(World):
    """A World whose agents are ``AgentTracks`` (``self._tracks``, set by the subclass)."""

    _tracks: AgentTracks

    @property
    def agent_ids(self) -> tuple[str, ...]:
        return self._tracks.ids

    def agent_boxes(self, time_us: int) -> tuple[AgentBox, ...]:
        return self._tracks.boxes(int(time_us))

    def _boxes(self, time_us: int, agents: Sequence[AgentBox] | None) -> BoxSet:
        """Box set of the world's tracks at ``time_us``, or of the ``agents`` override."""
        return self._tracks.box_set(int(time_us)) if agents is None else self._tracks.box_set_from(agents)
