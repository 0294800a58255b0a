"""RenderOcc's per-ray training targets from 2D data only: the ray's Occ3D class and its LiDAR termination.

- ``labels`` (N, R) int64: the semantic image's class at the ray pixel (``labels.ray_pixel_labels``); for a
  camera without a semantic image, the lidarseg label of the nearest keyframe LiDAR point projected into the
  ray's cell (sparse 2D labels), ``IGNORE`` where none.
- ``termination`` (N, R) int64: the index of the render sample whose depth bin holds the nearest LiDAR point
  projected into the ray's cell (``models.lss.depth.depth_targets`` on the render bins); ``S`` (the
  background slot) when that sample lies outside the grid or the pixel sees sky; ``NO_DEPTH`` otherwise.
"""

from __future__ import annotations

import numpy as np

from models.losses import IGNORE
from models.lss.depth import NO_DEPTH, depth_targets
from models.lss.geometry import DepthBins
from models.lss.pool import PoolGrid
from models.renderocc.rays import ray_samples
from occplan.types import LabelSet


def projected_point_labels(
    points_ego_m: np.ndarray, labels: np.ndarray, img_from_ego: np.ndarray, ray_hw: tuple[int, int], stride: int
) -> np.ndarray:
    """(N, Hr * Wr) int64 labels of the nearest point (P, 3) in front of the camera in each ray cell, IGNORE
    where no point lands; ``labels`` (P,) int64."""
    hr, wr = ray_hw
    homog = np.concatenate([points_ego_m[:, :3], np.ones((len(points_ego_m), 1))], axis=1)
    q = np.einsum("nij,pj->npi", np.asarray(img_from_ego, dtype=np.float64), homog)
    d = q[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        col, row = np.floor(q[..., 0] / d / stride), np.floor(q[..., 1] / d / stride)
    out = np.full((len(img_from_ego), hr * wr), IGNORE, dtype=np.int64)
    for n in range(len(img_from_ego)):
        ok = (d[n] > 1e-6) & (col[n] >= 0) & (col[n] < wr) & (row[n] >= 0) & (row[n] < hr)
        cell = row[n, ok].astype(np.int64) * wr + col[n, ok].astype(np.int64)
        far_first = np.argsort(-d[n, ok], kind="stable")  # the nearest point is written last
        out[n, cell[far_first]] = labels[ok][far_first]
    return out


def lidarseg_to_occ3d(lidarseg: np.ndarray) -> np.ndarray:
    """Challenge lidarseg labels (0 = ignore) -> Occ3D labels (IGNORE for 0)."""
    table = LabelSet.lidarseg_challenge().table_to(LabelSet.occ3d()).astype(np.int64)
    table[table == 255] = IGNORE
    return table[np.asarray(lidarseg, dtype=np.int64)]


def termination_targets(
    points_ego_m: np.ndarray,
    img_from_ego: np.ndarray,
    labels: np.ndarray,
    ray_hw: tuple[int, int],
    stride: int,
    bins: DepthBins,
    grid: PoolGrid,
    free_index: int,
) -> np.ndarray:
    """(N, R) int64 termination sample per ray (see the module docstring); ``labels`` (N, R) Occ3D ray labels."""
    import torch

    k = depth_targets(points_ego_m, img_from_ego, ray_hw, stride, bins).reshape(len(img_from_ego), -1)
    cell = ray_samples(torch.from_numpy(np.asarray(img_from_ego, np.float32)), ray_hw, stride, bins, grid).cell
    inside = cell.numpy() >= 0  # (N, R, S)
    hit_inside = np.take_along_axis(inside, np.clip(k, 0, bins.num - 1)[..., None], axis=2)[..., 0]
    out = np.where((k != NO_DEPTH) & ~hit_inside, bins.num, k)
    return np.where(labels == free_index, bins.num, out)
