"""Occupancy ground truth -> training tensors, shared by the torch models."""

from __future__ import annotations

import numpy as np
import torch

from occplan.types import GridSpec, LabelSet, OccupancyFrame

LOSS_MASKS = ("camera", "lidar", "none")


def occupancy_targets(occ: OccupancyFrame, grid: GridSpec, labels: LabelSet, loss_mask: str) -> dict[str, torch.Tensor]:
    """``sem`` (X, Y, Z) int64, ``flow`` (2, X, Y, Z) float32 m/s (zeros without GT flow), ``mask`` (X, Y, Z)
    bool = voxels that carry loss (``loss_mask`` = "camera" / "lidar" visibility mask when the GT has it,
    else every voxel)."""
    grid.require(occ.grid, f"{occ.source or 'occupancy'} grid")
    labels.require(occ.labels, f"{occ.source or 'occupancy'} labels")
    if loss_mask not in LOSS_MASKS:
        raise ValueError(f"loss_mask: expected one of {LOSS_MASKS}, got {loss_mask!r}")
    mask = {"camera": occ.mask_camera, "lidar": occ.mask_lidar, "none": None}[loss_mask]
    if mask is None:
        mask = np.ones(grid.shape, dtype=bool)
    flow = occ.flow if occ.flow is not None else np.zeros((*grid.shape, 2), np.float32)
    return {
        "sem": torch.from_numpy(occ.semantics.astype(np.int64)),
        "flow": torch.from_numpy(np.ascontiguousarray(np.moveaxis(flow, -1, 0), dtype=np.float32)),
        "mask": torch.from_numpy(mask.copy()),
    }


def stack_occupancy_targets(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([s[k] for s in samples]) for k in ("sem", "flow", "mask")}


def pool_targets(
    sem: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor, factor: int, num_classes: int, free_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pool (B, X, Y, Z) labels, (B, 2, X, Y, Z) flow and (B, X, Y, Z) mask by ``factor`` in every axis.

    A coarse voxel takes its most frequent occupied class when any fine voxel is occupied, else free;
    its flow is the mean over occupied fine voxels; it carries loss when any fine voxel does."""
    if factor == 1:
        return sem, flow, mask
    onehot = torch.nn.functional.one_hot(sem, num_classes).permute(0, 4, 1, 2, 3).float()
    frac = torch.nn.functional.avg_pool3d(onehot, factor)
    occ_frac = 1.0 - frac[:, free_index]
    frac[:, free_index] = -1.0
    label = torch.where(occ_frac > 0, frac.argmax(1), torch.full_like(occ_frac, free_index, dtype=torch.int64))
    occ = (sem != free_index).unsqueeze(1).float()
    fsum = torch.nn.functional.avg_pool3d(flow * occ, factor)
    cnt = torch.nn.functional.avg_pool3d(occ, factor)
    pooled_flow = fsum / cnt.clamp(min=1e-6)
    pooled_mask = torch.nn.functional.max_pool3d(mask.unsqueeze(1).float(), factor).squeeze(1) > 0
    return label, pooled_flow, pooled_mask
