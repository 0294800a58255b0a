"""Densification of the aggregated static scene on the target grid (voxel closing with scipy.ndimage).

No surface-reconstruction library is a dependency, and the aggregated scan of a scene is dense near the
driven path and sparse with range (LiDAR rings on the ground are metres apart at 30 m). Two closings
fill the holes the rings and occlusions leave, each new voxel taking the class of the nearest occupied
voxel of its kind:

1. ground: per horizontal layer, a 2-D closing (disk of ``ground_close_vox`` voxels) of the ground
   classes (driveable surface, other flat, sidewalk, terrain) fills free voxels between ground returns;
2. everything: a 3-D closing (ball of ``close_vox`` voxels) of all occupied voxels fills one-voxel gaps
   in walls, vegetation and poles.

Closing never removes a voxel (results are OR-ed with the input). Scores with and without: docs/LABELS.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from occplan.types import LabelSet

_OCC3D = LabelSet.occ3d()
GROUND_CLASSES = tuple(_OCC3D.index(n) for n in ("driveable_surface", "other_flat", "sidewalk", "terrain"))


def _ball(radius: int, dims: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    grids = np.meshgrid(*([r] * dims), indexing="ij")
    return sum(g**2 for g in grids) <= radius**2


def _fill(semantics: np.ndarray, source: np.ndarray, closed: np.ndarray) -> None:
    """Give the free voxels of ``closed`` (X, Y, Z) bool the class of the nearest ``source`` voxel, in place."""
    free = _OCC3D.free_index
    new = closed & (semantics == free)
    if not new.any() or not source.any():
        return
    near = ndimage.distance_transform_edt(~source, return_distances=False, return_indices=True)
    semantics[new] = semantics[tuple(n[new] for n in near)]


def densify(semantics: np.ndarray, ground_close_vox: int, close_vox: int) -> np.ndarray:
    """Densified copy of static Occ3D ``semantics`` (X, Y, Z) uint8 (see the module docstring)."""
    out = semantics.copy()
    if ground_close_vox > 0:
        ground = np.isin(out, GROUND_CLASSES)
        disk = _ball(ground_close_vox, 2)[:, :, None]
        _fill(out, ground, ndimage.binary_closing(ground, structure=disk))
    if close_vox > 0:
        occupied = out != _OCC3D.free_index
        _fill(out, occupied, ndimage.binary_closing(occupied, structure=_ball(close_vox, 3)))
    return out
