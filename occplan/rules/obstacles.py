"""The voxel-obstacle rule: which occupied voxels are obstacles to the ego.

A voxel is an obstacle when it is occupied, not of a ground class, and overlaps the height band
``OBSTACLE_BAND_M`` above its column's local ground. A column's ground is the top of its highest
ground-class voxel or, without one, of its lowest occupied voxel (which then counts as ground: on a
slope, the road surface may carry any label). The simulator's occupancy-collision check, the
open-loop ``col_occ`` metric and the planners' obstacle maps all use ``obstacle_columns``.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from occplan.types import LabelSet

GROUND_CLASSES = ("driveable_surface", "other_flat", "sidewalk", "terrain")
"""Occ3D classes that are driving or walking surfaces, never obstacles."""

OBSTACLE_BAND_M = (0.2, 2.0)
"""Height band (m) above the local ground in which a non-ground voxel blocks the ego box."""


@cache
def ground_table(labels: LabelSet) -> np.ndarray:
    """(num_classes,) bool: True for the ground classes (``GROUND_CLASSES``) present in ``labels``."""
    return np.isin(np.arange(labels.num_classes), [labels.index(n) for n in GROUND_CLASSES if n in labels.class_names])


def obstacle_columns(
    semantics: np.ndarray, labels: LabelSet, voxel_m: float, band_m: tuple[float, float] = OBSTACLE_BAND_M
) -> np.ndarray:
    """(X, Y) bool: columns of ``semantics`` (X, Y, Z) holding an occupied non-ground voxel that
    overlaps ``band_m`` (low, high) metres above the column's ground (see the module docstring)."""
    return obstacle_voxels(semantics, labels, voxel_m, band_m).any(axis=2)


def obstacle_voxels(
    semantics: np.ndarray, labels: LabelSet, voxel_m: float, band_m: tuple[float, float] = OBSTACLE_BAND_M
) -> np.ndarray:
    """(X, Y, Z) bool: the obstacle voxels of ``semantics`` (X, Y, Z), occupied non-ground voxels that
    overlap ``band_m`` (low, high) metres above their column's ground (see the module docstring)."""
    z_min_m, z_max_m = band_m
    occupied = semantics != labels.free_index
    ground = ground_table(labels)[semantics]
    k = np.arange(semantics.shape[2])
    top_ground = semantics.shape[2] - 1 - np.argmax(ground[..., ::-1], axis=2)
    support = np.where(ground.any(axis=2), top_ground, np.argmax(occupied, axis=2))[..., None]
    height = (k - support - 1) * voxel_m  # bottom of voxel k above the top of the support voxel
    return occupied & ~ground & (k > support) & (height + voxel_m > z_min_m) & (height < z_max_m)
