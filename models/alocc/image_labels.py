"""2D semantic targets for the shared prototypes: the GT occupancy seen through each camera feature cell.

Every feature cell's ray (the LSS frustum of ``models.lss.geometry``: the cell centre at depths sampled every
``bins.step_m``) is walked from near to far; the cell's label is the class of the first non-free Occ3D voxel
it meets, ``IGNORE`` when it meets none inside the grid within ``bins``.
"""

from __future__ import annotations

import numpy as np
import torch

from models.losses import IGNORE
from models.lss.geometry import DepthBins, frustum_ego
from occplan.types import GridSpec


def first_hit_labels(
    semantics: np.ndarray,
    grid: GridSpec,
    free_index: int,
    img_from_ego: torch.Tensor,
    feature_hw: tuple[int, int],
    stride: int,
    bins: DepthBins,
) -> np.ndarray:
    """(N, Hf, Wf) int64 labels of the first non-free voxel of ``semantics`` (X, Y, Z) on ``grid`` (ego frame)
    met by each feature cell's ray of N cameras with projections ``img_from_ego`` (N, 3, 4)."""
    pts = frustum_ego(img_from_ego, feature_hw, stride, bins).numpy()  # (N, D, Hf, Wf, 3)
    idx = grid.index_of(pts.reshape(-1, 3))
    inside = grid.in_bounds(idx)
    labels = np.full(len(idx), free_index, dtype=np.int64)
    labels[inside] = semantics[idx[inside, 0], idx[inside, 1], idx[inside, 2]]
    labels = labels.reshape(pts.shape[:4])
    hit = labels != free_index
    first = hit.argmax(1)[:, None]  # (N, 1, Hf, Wf) nearest hit (0 when none)
    out = np.take_along_axis(labels, first, axis=1)[:, 0]
    return np.where(hit.any(1), out, IGNORE)
