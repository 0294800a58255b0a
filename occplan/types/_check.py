"""Validation helpers shared by the core types. Each raises ValidationError naming the field."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from occplan.errors import ValidationError


def check_array(
    value: object,
    field: str,
    shape: Sequence[int | None] | None = None,
    dtype: type | np.dtype | tuple | None = None,
    finite: bool = False,
) -> np.ndarray:
    """Check that ``value`` is an ndarray of the given shape (None = any size) and dtype kind.

    ``dtype`` may be a numpy dtype (exact match) or a tuple of allowed dtypes.
    Returns the array unchanged.
    """
    if not isinstance(value, np.ndarray):
        raise ValidationError(f"{field}: expected numpy.ndarray, got {type(value).__name__}")
    if shape is not None and tuple(shape) != value.shape:  # the common exact-shape case needs no loop
        if value.ndim != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape, strict=True)):
            want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
            raise ValidationError(f"{field}: expected shape {want}, got {value.shape}")
    if dtype is not None and not (not isinstance(dtype, tuple) and value.dtype == dtype):
        allowed = dtype if isinstance(dtype, tuple) else (dtype,)
        if not any(value.dtype == np.dtype(d) for d in allowed):
            names = ", ".join(np.dtype(d).name for d in allowed)
            raise ValidationError(f"{field}: expected dtype {names}, got {value.dtype}")
    if finite and value.dtype.kind == "f" and not _all_finite(value):
        bad = int(np.count_nonzero(~np.isfinite(value)))
        raise ValidationError(f"{field}: {bad} non-finite (NaN/inf) values")
    return value


def _all_finite(value: np.ndarray) -> bool:
    if value.size <= 16:  # small arrays (poses, boxes): Python floats beat a ufunc call
        return all(map(math.isfinite, value.ravel().tolist()))
    return bool(np.isfinite(value).all())


def check_labels(value: np.ndarray, field: str, num_classes: int, allow: Sequence[int] = ()) -> None:
    """Labels must be integers in [0, num_classes) or one of ``allow`` (for example 255 = ignore)."""
    if value.dtype.kind not in "ui":
        raise ValidationError(f"{field}: expected an integer label array, got {value.dtype}")
    if value.size == 0 or (value.min() >= 0 and value.max() < num_classes):  # all valid: no temporaries
        return
    bad = (value < 0) | (value >= num_classes)
    for a in allow:
        bad &= value != a
    if np.any(bad):
        vals = np.unique(value[bad])[:5].tolist()
        raise ValidationError(f"{field}: {int(bad.sum())} labels outside [0, {num_classes}) (e.g. {vals})")


def check_finite_scalar(value: float, field: str) -> None:
    if not np.isfinite(value):
        raise ValidationError(f"{field}: must be finite, got {value}")
