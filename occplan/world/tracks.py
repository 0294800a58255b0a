"""Agent tracks of a generated world sampled at any time (linear interpolation, yaw on the circle)."""

from __future__ import annotations

from collections.abc import Sequence

import numba as nb
import numpy as np

from occplan.errors import ValidationError
from occplan.types import AgentBox
from occplan.world.base import World
from occplan.world.raycast import BoxSet
from occplan.world.spec import AgentTrack


@nb.njit(cache=True, inline="always")
def _wrap(x: float) -> float:
    return (x + np.pi) % (2 * np.pi) - np.pi  # occplan.types.wrap_angle


@nb.njit(cache=True)
def _sample_tracks(
    time_us: int,
    times_us: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    center_m: np.ndarray,
    yaw_rad: np.ndarray,
    velocity_mps: np.ndarray,
    attribute: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The A tracks packed as flat samples (track ``k`` is rows ``start[k] : start[k] + length[k]``
    of ``times_us`` (S,) int64, ``center_m`` (S, 3), ``yaw_rad`` (S,), ``velocity_mps`` (S, 2),
    ``attribute`` (S,) int16) sampled at ``time_us``.

    Returns (``present`` (M,) int32 indices of the tracks with first <= time_us <= last sample time,
    ascending; their ``center_m`` (M, 3); ``yaw_rad`` (M,); ``velocity_mps`` (M, 2); ``attribute``
    (M,) int16 of the sample at or before ``time_us``). Centre and velocity interpolate linearly
    between the samples around ``time_us``, yaw along the shorter arc, wrapped to [-pi, pi); at
    the last sample (and for a single-sample track) the sample is returned as stored.
    """
    present = np.empty(len(start), np.int32)
    m = 0
    for k in range(len(start)):
        if times_us[start[k]] <= time_us <= times_us[start[k] + length[k] - 1]:
            present[m] = k
            m += 1
    present = present[:m].copy()
    center = np.empty((m, 3))
    yaw = np.empty(m)
    vel = np.empty((m, 2))
    attr = np.empty(m, np.int16)
    for i in range(m):
        lo, hi = start[present[i]], start[present[i]] + length[present[i]]
        last = hi - 1
        while lo < hi:  # searchsorted(side="right") within the track
            mid = (lo + hi) // 2
            if times_us[mid] <= time_us:
                lo = mid + 1
            else:
                hi = mid
        j = lo - 1  # >= start since the track is present
        attr[i] = attribute[j]
        if j == last:
            center[i] = center_m[j]
            yaw[i] = yaw_rad[j]
            vel[i] = velocity_mps[j]
            continue
        a = (time_us - times_us[j]) / (times_us[j + 1] - times_us[j])
        for d in range(3):
            center[i, d] = (1 - a) * center_m[j, d] + a * center_m[j + 1, d]
        yaw[i] = _wrap(yaw_rad[j] + a * _wrap(yaw_rad[j + 1] - yaw_rad[j]))
        for d in range(2):
            vel[i, d] = (1 - a) * velocity_mps[j, d] + a * velocity_mps[j + 1, d]
    return present, center, yaw, vel, attr


class AgentTracks:
    """The agents of a world; index ``i`` of ``ids`` is the ``instance`` used in ray hits.

    All tracks are packed into flat sample arrays at construction and sampled together by one
    numba kernel (``_sample_tracks``); ``boxes`` and ``box_set`` both read its result.
    """

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
        # packed samples: track k is rows _start[k] : _start[k] + _length[k] of the flat arrays
        self._length = np.array([len(t.times_us) for t in self.tracks], np.int64)
        self._start = np.cumsum(self._length) - self._length
        self._times_us = self._pack([t.times_us for t in self.tracks], np.int64, ())
        self._center_m = self._pack([t.center_m for t in self.tracks], np.float64, (3,))
        self._yaw_rad = self._pack([t.yaw_rad for t in self.tracks], np.float64, ())
        self._velocity_mps = self._pack([t.velocity_mps for t in self.tracks], np.float64, (2,))
        self._attribute = self._pack([t.attribute for t in self.tracks], np.int16, ())
        self._last_box_set: tuple[int, BoxSet] | None = None  # the latest box_set (GT and LiDAR share a time)

    @staticmethod
    def _pack(arrays: list[np.ndarray], dtype: type, tail: tuple[int, ...]) -> np.ndarray:
        """The per-track arrays concatenated along their first axis (C-contiguous, ``dtype``)."""
        if not arrays:
            return np.zeros((0, *tail), dtype)
        return np.ascontiguousarray(np.concatenate(arrays), dtype)

    def _sample(self, time_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(present (M,) int32 track indices, centre (M, 3), yaw (M,), velocity (M, 2) world frame,
        attribute index (M,) int16) of the tracks present at ``time_us`` (see ``_sample_tracks``)."""
        return _sample_tracks(
            int(time_us),
            self._times_us,
            self._start,
            self._length,
            self._center_m,
            self._yaw_rad,
            self._velocity_mps,
            self._attribute,
        )

    def boxes(self, time_us: int) -> tuple[AgentBox, ...]:
        """World-frame AgentBoxes of the agents present at ``time_us``."""
        present, center, yaw, vel, attr = self._sample(time_us)
        out = []
        for n, i in enumerate(present):
            t = self.tracks[i]
            a = int(attr[n])
            out.append(
                AgentBox(
                    center_m=center[n].copy(),
                    size_m=t.size_m.copy(),
                    yaw_rad=float(yaw[n]),
                    velocity_mps=vel[n].copy(),
                    category=t.category,
                    instance=t.instance,
                    attributes=(t.attribute_names[a],) if 0 <= a < len(t.attribute_names) else (),
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
        present, center, yaw, vel, _ = self._sample(time_us)
        if len(present) == 0:
            return BoxSet.empty()
        return BoxSet(
            center_m=center,
            half_extent_m=self._half[present],
            yaw_rad=yaw,
            velocity_mps=vel,
            label=self._label[present],
            instance=present,
            rgb=self._rgb[present],
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

    def agent_tracks(self) -> tuple[AgentTrack, ...]:
        return self._tracks.tracks

    def _boxes(self, time_us: int, agents: Sequence[AgentBox] | None) -> BoxSet:
        """Box set of the world's tracks at ``time_us``, or of the ``agents`` override."""
        return self._tracks.box_set(int(time_us)) if agents is None else self._tracks.box_set_from(agents)
