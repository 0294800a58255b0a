"""The voxel-obstacle rule: which occupied voxels are obstacles to the ego.

A voxel is an obstacle when it is occupied, not of a ground class, and its centre lies in the height
band ``OBSTACLE_BAND_M`` (low exclusive, high inclusive) above its column's local ground. A column's
ground is the top of its lowest ground surface: its lowest ground-class voxel and the ground-class voxels
above it that continue the surface, each over a gap of less than the band's top (2.0 m) from the one
below; a ground-class voxel over a taller gap belongs to an overhead surface (the deck of a bridge or an
overpass the ego drives under) and ends the search, so the deck and what stands on it lie above the
band. Without a ground-class voxel, the column's lowest occupied voxel counts as its ground (on a
slope, the road surface may carry any label). With 0.4 m voxels
the first layer above the ground (centre 0.2 m) is not an obstacle: it cannot tell a kerb, a speed
bump or a mislabelled ramp from a wall, and the second layer (centre 0.6 m) holds every obstacle
taller than 0.4 m. The simulator's occupancy-collision check, the
open-loop ``col_occ`` metric and the planners' obstacle maps all use ``obstacle_columns``.

The ego box touches an obstacle column when the column's centre lies inside the box shrunk by
``contact_inset_m`` (half a voxel) on every side, i.e. when the column's cell lies inside the box
(exactly for cells aligned with the box): a voxel that merely straddles the box's outline cannot tell
whether its content does.
"""

from __future__ import annotations

from functools import cache

import numba as nb
import numpy as np

from occplan.types import LabelSet

GROUND_CLASSES = ("driveable_surface", "other_flat", "sidewalk", "terrain")
"""Occ3D classes that are driving or walking surfaces, never obstacles."""

OBSTACLE_BAND_M = (0.3, 2.0)
"""Height band (m) above the local ground of the centres of the non-ground voxels that block the ego box."""


def contact_inset_m(voxel_m: float) -> float:
    """How far inside the ego box's outline an obstacle column's centre must lie to touch the box."""
    return voxel_m / 2


@cache
def ground_table(labels: LabelSet) -> np.ndarray:
    """(num_classes,) bool: True for the ground classes (``GROUND_CLASSES``) present in ``labels``."""
    return np.isin(np.arange(labels.num_classes), [labels.index(n) for n in GROUND_CLASSES if n in labels.class_names])


def obstacle_columns(
    semantics: np.ndarray, labels: LabelSet, voxel_m: float, band_m: tuple[float, float] = OBSTACLE_BAND_M
) -> np.ndarray:
    """(X, Y) bool: columns of ``semantics`` (X, Y, Z) holding an obstacle voxel (``obstacle_voxels``)."""
    return obstacle_voxels(semantics, labels, voxel_m, band_m).any(axis=2)


def obstacle_voxels(
    semantics: np.ndarray, labels: LabelSet, voxel_m: float, band_m: tuple[float, float] = OBSTACLE_BAND_M
) -> np.ndarray:
    """(X, Y, Z) bool: the obstacle voxels of ``semantics`` (X, Y, Z): occupied non-ground voxels whose
    centre lies in ``band_m`` (low exclusive, high inclusive) metres above their column's ground."""
    sem = np.ascontiguousarray(semantics)
    out = np.zeros(sem.shape, np.bool_)
    _obstacle_voxels(sem, ground_table(labels), labels.free_index, float(voxel_m), *map(float, band_m), out)
    return out


@nb.njit(cache=True)
def _obstacle_voxels(sem, ground, free, voxel_m, z_min_m, z_max_m, out):  # pragma: no cover - compiled
    """One pass per column: its support voxel (the top voxel of its lowest ground surface, ground-class
    voxels less than ``z_max_m`` apart; else its lowest occupied voxel), then the occupied non-ground
    voxels above it whose centre height lies in the band."""
    n_x, n_y, n_z = sem.shape
    for i in range(n_x):
        for j in range(n_y):
            support = -1
            for k in range(n_z):
                if ground[sem[i, j, k]]:
                    if support >= 0 and (k - support - 1) * voxel_m >= z_max_m:
                        break  # an overhead surface
                    support = k
            if support < 0:
                for k in range(n_z):
                    if sem[i, j, k] != free:
                        support = k
                        break
            if support < 0:
                continue
            for k in range(support + 1, n_z):
                c = sem[i, j, k]
                if c != free and not ground[c]:
                    centre = (k - support - 0.5) * voxel_m
                    out[i, j, k] = z_min_m < centre <= z_max_m
