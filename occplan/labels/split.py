"""Static / dynamic split: every LiDAR point inside an annotated box (grown by a margin) at its sweep's
time belongs to that box's instance, in the box frame; every other point is static scene."""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from occplan.labels.aggregate import SceneSweeps
from occplan.types import Scenario
from occplan.world.reconstructed import tracks_from_scenario
from occplan.world.tracks import AgentTracks


@nb.njit(parallel=True, cache=True)
def _assign(points, center, half, yaw, box_out, local_out):  # pragma: no cover - compiled
    """First box (index into ``center``) holding each point, -1 for none; ``local_out`` the point in
    that box's frame (x along the heading)."""
    c = np.cos(yaw)
    s = np.sin(yaw)
    radius2 = half[:, 0] ** 2 + half[:, 1] ** 2
    for i in nb.prange(points.shape[0]):
        box_out[i] = -1
        for b in range(center.shape[0]):
            dx = points[i, 0] - center[b, 0]
            dy = points[i, 1] - center[b, 1]
            dz = points[i, 2] - center[b, 2]
            if abs(dz) > half[b, 2] or dx * dx + dy * dy > radius2[b]:
                continue
            lx = c[b] * dx + s[b] * dy
            ly = -s[b] * dx + c[b] * dy
            if abs(lx) <= half[b, 0] and abs(ly) <= half[b, 1]:
                box_out[i] = b
                local_out[i, 0], local_out[i, 1], local_out[i, 2] = lx, ly, dz
                break


def boxes_of_points(
    points_m: np.ndarray, center_m: np.ndarray, half_extent_m: np.ndarray, yaw_rad: np.ndarray, margin_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) and M yawed boxes in one frame (``center_m`` (M, 3), ``half_extent_m`` (M, 3) half
    length / width / height, ``yaw_rad`` (M,)) -> (box index (N,) int32, -1 outside every box grown by
    ``margin_m``; (N, 3) float32 box-frame coordinates, valid where the index is >= 0)."""
    n = len(points_m)
    box = np.empty(n, np.int32)
    local = np.zeros((n, 3), np.float32)
    if n:
        _assign(
            np.ascontiguousarray(points_m, np.float64),
            np.ascontiguousarray(center_m, np.float64).reshape(-1, 3),
            np.ascontiguousarray(half_extent_m, np.float64).reshape(-1, 3) + margin_m,
            np.ascontiguousarray(yaw_rad, np.float64).reshape(-1),
            box,
            local,
        )
    return box, local


@dataclass(frozen=True)
class SplitPoints:
    """The split of a scene's points: ``instance`` (P,) int32 index into ``ids`` (-1 = static);
    ``local_m`` (M, 3) float32 box-frame coordinates of the M object points (in point order, i.e. of
    ``np.flatnonzero(instance >= 0)``); ``ids`` the instance tokens."""

    instance: np.ndarray
    local_m: np.ndarray
    ids: tuple[str, ...]

    @property
    def static(self) -> np.ndarray:
        return self.instance < 0

    def object_rows(self, point_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(local_m (Q, 3), instance (Q,)) of the object points selected by ``point_mask`` (P,) bool."""
        obj = self.instance >= 0
        sel = point_mask[obj]
        return self.local_m[sel], self.instance[obj][sel]


def split_scene(sweeps: SceneSweeps, scenario: Scenario, margin_m: float) -> SplitPoints:
    """Assign every point of ``sweeps`` to the annotated box that holds it at its sweep's time (boxes
    interpolated between keyframes, ``occplan.world.tracks.AgentTracks``)."""
    tracks = AgentTracks(tracks_from_scenario(scenario))
    instance = np.full(len(sweeps.points_m), -1, np.int32)
    local = np.zeros((len(sweeps.points_m), 3), np.float32)
    for s in range(sweeps.num_sweeps):
        boxes = tracks.box_set(int(sweeps.times_us[s]))
        if not len(boxes):
            continue
        lo, hi = sweeps.start[s], sweeps.start[s + 1]
        box, loc = boxes_of_points(
            sweeps.points_m[lo:hi], boxes.center_m - sweeps.origin_m, boxes.half_extent_m, boxes.yaw_rad, margin_m
        )
        inside = box >= 0
        instance[lo:hi][inside] = boxes.instance[box[inside]]
        local[lo:hi][inside] = loc[inside]
    return SplitPoints(instance, local[instance >= 0].copy(), tracks.ids)
