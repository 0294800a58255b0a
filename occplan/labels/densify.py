"""Densification of the aggregated static scene on the target grid: gap bridging (numpy, scipy.ndimage).

No surface-reconstruction library is a dependency, and the aggregated scan of a scene is dense near the
driven path and sparse with range (LiDAR rings on the ground are metres apart at 30 m). A free voxel is
filled when occupied voxels lie on both sides of it along one axis, within a few voxels: the gaps that
rings and occlusions leave in a surface are bridged, while the concave corners of the scene (where a
wall meets the ground) stay free, which a morphological closing would fill. Each new voxel takes the
class of the nearest occupied voxel of its kind.

1. ground: free voxels between ground voxels (driveable surface, other flat, sidewalk, terrain) along x
   or y, within ``ground_bridge_vox`` on each side (gaps up to that many voxels);
2. everything: free voxels between occupied voxels along x, y or z within ``bridge_vox`` on each side
   (holes in walls, facades and hedges).

Bridging never removes a voxel. Scores with and without: docs/LABELS.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from occplan.types import LabelSet

_OCC3D = LabelSet.occ3d()
GROUND_CLASSES = tuple(_OCC3D.index(n) for n in ("driveable_surface", "other_flat", "sidewalk", "terrain"))


def _shifted(mask: np.ndarray, d: int, axis: int) -> np.ndarray:
    """``mask`` moved by ``d`` voxels along ``axis`` (out[i] = mask[i - d]), False where it enters."""
    out = np.zeros_like(mask)
    src = [slice(None)] * mask.ndim
    dst = [slice(None)] * mask.ndim
    src[axis] = slice(0, mask.shape[axis] - d) if d > 0 else slice(-d, None)
    dst[axis] = slice(d, None) if d > 0 else slice(0, mask.shape[axis] + d)
    out[tuple(dst)] = mask[tuple(src)]
    return out


def bridged(mask: np.ndarray, radius: int, axes: tuple[int, ...]) -> np.ndarray:
    """(X, Y, Z) bool: voxels not in ``mask`` with a ``mask`` voxel within ``radius`` voxels on both
    sides along one of ``axes``."""
    out = np.zeros_like(mask)
    for axis in axes:
        before, after = np.zeros_like(mask), np.zeros_like(mask)
        for d in range(1, radius + 1):
            before |= _shifted(mask, d, axis)
            after |= _shifted(mask, -d, axis)
        out |= before & after
    return out & ~mask


def _fill(semantics: np.ndarray, source: np.ndarray, new: np.ndarray) -> None:
    """Give the free voxels of ``new`` (X, Y, Z) bool the class of the nearest ``source`` voxel, in place."""
    new = new & (semantics == _OCC3D.free_index)
    if not new.any() or not source.any():
        return
    near = ndimage.distance_transform_edt(~source, return_distances=False, return_indices=True)
    semantics[new] = semantics[tuple(n[new] for n in near)]


def densify(semantics: np.ndarray, ground_bridge_vox: int, bridge_vox: int) -> np.ndarray:
    """Densified copy of static Occ3D ``semantics`` (X, Y, Z) uint8 (see the module docstring)."""
    out = semantics.copy()
    if ground_bridge_vox > 0:
        ground = np.isin(out, GROUND_CLASSES)
        _fill(out, ground, bridged(ground, ground_bridge_vox, (0, 1)))
    if bridge_vox > 0:
        occupied = out != _OCC3D.free_index
        _fill(out, occupied, bridged(occupied, bridge_vox, (0, 1, 2)))
    return out
