"""Per-step records a pass hands to its ``MetricSet``; each registered metric names the type it
consumes (``occplan.metrics.registry``). The other records are an open-loop ``PlanningSample``
(``occplan.metrics.planning``) and the recorded episode, ``occplan.types.history.EpisodeHistory``.
The accumulators validate the arrays; these types only carry them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError
from occplan.types import OccupancyFrame, OccupancyPrediction

RUNTIME_COMPONENTS = ("model", "planner", "sim")


@dataclass(frozen=True)
class OccupancyStep:
    """One scored occupancy sample: the GT frame, the prediction on the same grid and label set, and
    the RayIoU ray origins ``ray_origins_m`` (T, 3) float64 in metres in the frame of the grid."""

    gt: OccupancyFrame
    pred: OccupancyPrediction
    ray_origins_m: np.ndarray


@dataclass(frozen=True)
class LidarSegStep:
    """One keyframe's labelled LiDAR points: ``gt_general`` (N,) uint8 general (32-class) labels and
    the model's answer, either ``point_labels`` (N,) uint8 challenge labels 1..16 of those points, or
    ``points_m`` (N, 3) float64 the points in the grid frame of ``pred`` (each point takes the label of
    the predicted voxel holding it)."""

    gt_general: np.ndarray
    point_labels: np.ndarray | None = None
    points_m: np.ndarray | None = None
    pred: OccupancyPrediction | None = None

    def __post_init__(self) -> None:
        by_points = self.point_labels is not None
        by_voxels = self.points_m is not None and self.pred is not None
        if by_points == by_voxels or (not by_voxels and (self.points_m is not None or self.pred is not None)):
            raise ValidationError("LidarSegStep: give point_labels, or points_m with pred (exactly one answer)")


@dataclass(frozen=True)
class StepRuntime:
    """Wall time ``ms`` (milliseconds) of one call of ``component`` (``RUNTIME_COMPONENTS``)."""

    component: str
    ms: float

    def __post_init__(self) -> None:
        if self.component not in RUNTIME_COMPONENTS:
            raise ValidationError(
                f"StepRuntime.component: {self.component!r}; expected one of {', '.join(RUNTIME_COMPONENTS)}"
            )
