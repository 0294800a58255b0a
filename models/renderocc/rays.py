"""Camera rays through the voxel grid (RenderOcc's ray sampling): one ray per cell of a stride-``s`` pixel
grid of each camera, sampled at uniform camera depths.

Geometry is the LSS frustum of ``models.lss.geometry``: the ray of cell ``(r, c)`` passes through image pixel
``((c + 0.5) * s, (r + 0.5) * s)`` of the network's image size, and sample ``k`` sits at camera-frame depth
``d_k = bins.centers_m()[k]`` (z along the optical axis), so a rendered depth is directly comparable with a
LiDAR point's camera depth. Each sample's voxel is ``models.lss.pool.PoolGrid.cell_index`` of the Occ3D grid
(flat ``(x * Y + y) * Z + z``, -1 outside); ``delta_m`` is the metric length of one depth step along the ray.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.lss.geometry import DepthBins, frustum_ego
from models.lss.pool import PoolGrid


@dataclass(frozen=True)
class RaySamples:
    """Samples of R = Hr * Wr rays per camera, N cameras: ``cell`` (N, R, S) int64 flat voxel index (-1 outside
    the grid), ``delta_m`` (N, R) float32 metres between consecutive samples, ``depth_m`` (S,) float32 camera
    depth of each sample."""

    cell: torch.Tensor
    delta_m: torch.Tensor
    depth_m: torch.Tensor


def ray_samples(
    img_from_ego: torch.Tensor, ray_hw: tuple[int, int], stride: int, bins: DepthBins, grid: PoolGrid
) -> RaySamples:
    """The voxel of every sample of the rays of N cameras with projections ``img_from_ego`` (N, 3, 4) (ego
    frame, network image size); ``ray_hw`` = (Hr, Wr) ray cells of ``stride`` pixels."""
    pts = frustum_ego(img_from_ego.detach().float(), ray_hw, stride, bins)  # (N, S, Hr, Wr, 3)
    n, s = pts.shape[:2]
    pts = pts.permute(0, 2, 3, 1, 4).reshape(n, -1, s, 3)  # (N, R, S, 3)
    delta = (pts[:, :, 1] - pts[:, :, 0]).norm(dim=-1) if s > 1 else torch.full(pts.shape[:2], bins.step_m)
    return RaySamples(cell=grid.cell_index(pts), delta_m=delta, depth_m=bins.centers_m(img_from_ego.device))
