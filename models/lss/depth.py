"""Depth supervision from LiDAR (BEVDepth, Li et al., AAAI 2023): LiDAR points projected into each camera's
feature map give, per feature cell, the depth bin of the nearest point; the depth head's per-cell
categorical distribution is trained with cross-entropy against it (cells without a point are ignored).

Frames and pixel conventions: ``models.lss.geometry``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.lss.geometry import DepthBins

NO_DEPTH = -1
"""Target value of a feature cell that no LiDAR point falls in (or whose nearest point is outside the bins)."""


def depth_targets(
    points_ego_m: np.ndarray, img_from_ego: np.ndarray, feature_hw: tuple[int, int], stride: int, bins: DepthBins
) -> np.ndarray:
    """(N, Hf, Wf) int64 depth-bin targets of N cameras from LiDAR points (P, 3) in the ego frame.

    A point with camera depth d > 0 projecting to (u, v) inside the feature map lands in cell
    ``(floor(v / stride), floor(u / stride))``; the cell's target is the bin ``floor((d - min_m) / step_m)``
    of its nearest point, ``NO_DEPTH`` when that bin is outside ``[0, D)`` or no point lands in the cell.
    """
    hf, wf = feature_hw
    n = len(img_from_ego)
    pts = np.asarray(points_ego_m, dtype=np.float64)[:, :3]
    homog = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
    q = np.einsum("nij,pj->npi", np.asarray(img_from_ego, dtype=np.float64), homog)  # (N, P, 3)
    d = q[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        col = np.floor(q[..., 0] / d / stride)
        row = np.floor(q[..., 1] / d / stride)
    ok = (d > 1e-6) & (col >= 0) & (col < wf) & (row >= 0) & (row < hf)
    cam = np.broadcast_to(np.arange(n)[:, None], d.shape)
    cell = (cam[ok] * hf + row[ok].astype(np.int64)) * wf + col[ok].astype(np.int64)
    nearest = np.full(n * hf * wf, np.inf)
    np.minimum.at(nearest, cell, d[ok])
    k = np.floor((nearest - bins.min_m) / bins.step_m)
    valid = np.isfinite(k) & (k >= 0) & (k < bins.num)
    return np.where(valid, k, NO_DEPTH).astype(np.int64).reshape(n, hf, wf)


def depth_loss(depth_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of depth logits (B, N, D, Hf, Wf) against targets (B, N, Hf, Wf) over cells with a
    target (0, with gradient, when none has one)."""
    logits = depth_logits.movedim(2, -1).reshape(-1, depth_logits.shape[2])
    t = target.reshape(-1).to(logits.device)
    if not bool((t != NO_DEPTH).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, t, ignore_index=NO_DEPTH)
