"""The shared model checker: every registered perception model must pass it."""

from __future__ import annotations

import numpy as np

from occplan.errors import ValidationError
from occplan.interfaces import PerceptionModel, SensorRequest
from occplan.types import CAMERA_CHANNELS, GridSpec, LabelSet, OccupancyPrediction, SensorFrame


def check_model(model: PerceptionModel, frame: SensorFrame) -> OccupancyPrediction:
    """Run ``model`` twice on ``frame`` and check the contract; returns the first prediction.

    Checks: ``sensor_request()`` is a SensorRequest naming known cameras; the output is an
    OccupancyPrediction on the model's declared grid and label set (Occ3D by default); flow, when
    present, is finite (X, Y, Z, 2) float32; point labels, when present, cover every keyframe point;
    two calls on the same frame give identical outputs (determinism in eval mode). Raises
    ValidationError naming the model and the failed check.
    """
    req = model.sensor_request()
    if not isinstance(req, SensorRequest):
        raise ValidationError(f"{model.name}.sensor_request(): returned {type(req).__name__}, not SensorRequest")
    unknown = [c for c in req.cameras if c not in CAMERA_CHANNELS]
    if unknown:
        raise ValidationError(f"{model.name}.sensor_request(): unknown cameras {unknown}")
    if not isinstance(model.grid, GridSpec) or not isinstance(model.labels, LabelSet):
        raise ValidationError(f"{model.name}: grid / labels must be a GridSpec / LabelSet")
    model.reset(None)
    first = model.predict(frame)
    second = model.predict(frame)
    for out in (first, second):
        if not isinstance(out, OccupancyPrediction):
            raise ValidationError(f"{model.name}.predict: returned {type(out).__name__}")
    if first.flow is not None and first.flow.shape != (*model.grid.shape, 2):
        raise ValidationError(f"{model.name}: flow shape {first.flow.shape}")
    if not np.array_equal(first.semantics, second.semantics):
        raise ValidationError(f"{model.name}: semantics differ between two calls on the same frame (not deterministic)")
    for name in ("flow", "point_labels"):
        a, b = getattr(first, name), getattr(second, name)
        if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
            raise ValidationError(
                f"{model.name}: {name} differs between two calls on the same frame (not deterministic)"
            )
    return first
