"""The ``oracle`` perception plugin: ground-truth occupancy and flow at the current pose (privileged)."""

from __future__ import annotations

import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import PerceptionModel
from occplan.types import OccupancyPrediction, SensorFrame


class OracleModel(PerceptionModel):
    """Returns ``SensorFrame.ground_truth`` (filled by the simulator for privileged models) as the
    prediction: semantics as is, flow (zeros when the GT has none), as read-only views of the GT arrays."""

    name = "oracle"
    privileged = True

    def _predict(self, frame: SensorFrame) -> OccupancyPrediction:
        gt = frame.ground_truth
        if gt is None:
            raise ValidationError(
                f"{self.name}: SensorFrame {frame.sample_token} has no ground_truth (privileged input)"
            )
        self.grid.require(gt.grid, f"{self.name}: ground_truth grid")
        self.labels.require(gt.labels, f"{self.name}: ground_truth labels")
        flow = gt.flow if gt.flow is not None else np.zeros((*gt.grid.shape, 2), np.float32)
        return OccupancyPrediction(
            semantics=_read_only(gt.semantics), grid=gt.grid, labels=gt.labels, flow=_read_only(flow)
        )


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a``: the prediction shares the GT's memory (no 5 MB copy per step) and no
    consumer can change the GT through it."""
    view = a.view()
    view.flags.writeable = False
    return view
