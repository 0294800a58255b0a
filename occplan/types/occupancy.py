"""Occupancy ground truth and predictions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occplan.errors import ValidationError
from occplan.types._check import check_array
from occplan.types.geometry import Pose
from occplan.types.grid import GridSpec
from occplan.types.labels import LabelSet


def _check_common(
    prefix: str, semantics: np.ndarray, flow: np.ndarray | None, grid: GridSpec, labels: LabelSet
) -> None:
    check_array(semantics, f"{prefix}.semantics", grid.shape, np.uint8)
    # A label set whose ignore value lies outside its classes (OpenOccupancy noise = 255) may carry it.
    ignore = () if labels.ignore_index is None or labels.ignore_index < labels.num_classes else (labels.ignore_index,)
    labels.validate(semantics, f"{prefix}.semantics", allow=ignore)
    if labels.free_index is None:
        raise ValidationError(f"{prefix}.labels: label set {labels.name} has no free class")
    if flow is not None:
        check_array(flow, f"{prefix}.flow", (*grid.shape, 2), np.float32, finite=True)


@dataclass(frozen=True)
class OccupancyFrame:
    """Ground-truth occupancy of one keyframe.

    ``semantics`` (X, Y, Z) uint8 in ``labels``; ``flow`` (X, Y, Z, 2) float32 m/s in the grid frame
    (None when the source has none); ``mask_lidar`` / ``mask_camera`` (X, Y, Z) bool (None when
    absent). ``world_from_grid`` places the grid frame (ego or LiDAR, see ``grid.frame``) in the
    world; ``time_us`` is the keyframe time; ``source`` names the file it came from.
    """

    semantics: np.ndarray
    grid: GridSpec
    labels: LabelSet
    flow: np.ndarray | None = None
    mask_lidar: np.ndarray | None = None
    mask_camera: np.ndarray | None = None
    world_from_grid: Pose | None = None
    time_us: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_common("OccupancyFrame", self.semantics, self.flow, self.grid, self.labels)
        for name in ("mask_lidar", "mask_camera"):
            m = getattr(self, name)
            if m is not None:
                check_array(m, f"OccupancyFrame.{name}", self.grid.shape, np.bool_)

    @property
    def occupied(self) -> np.ndarray:
        """(X, Y, Z) bool, True where the label is not free."""
        return self.semantics != self.labels.free_index


@dataclass(frozen=True)
class OccupancyPrediction:
    """A perception model's output for one keyframe.

    ``semantics`` (X, Y, Z) uint8 in ``labels`` (grid frame as in ``grid``); ``flow`` (X, Y, Z, 2)
    float32 m/s or None; ``point_labels`` (N,) uint8 nuScenes-lidarseg challenge labels (1..16) for
    the keyframe LiDAR points of the SensorFrame (only the points with ``sweep_index == 0``, in
    order), or None when the model has no point head.
    """

    semantics: np.ndarray
    grid: GridSpec
    labels: LabelSet
    flow: np.ndarray | None = None
    point_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_common("OccupancyPrediction", self.semantics, self.flow, self.grid, self.labels)
        if self.point_labels is not None:
            check_array(self.point_labels, "OccupancyPrediction.point_labels", (None,), np.uint8)
            LabelSet.lidarseg_challenge().validate(self.point_labels, "OccupancyPrediction.point_labels")
