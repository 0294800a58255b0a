"""CONet's coarse-to-fine cascade (OpenOccupancy's Cascade Occupancy Network): only the voxels predicted occupied
at the coarse level are refined at the full Occ3D resolution.

The coarse head predicts K semantic logits + 2 flow per coarse voxel (grid = Occ3D / ``factor``). A coarse voxel
is *predicted occupied* when its arg-max class is not free. Every fine voxel whose coarse parent is predicted
occupied (``factor**3`` children per parent) is refined: its features are sampled from both branches at the
fine voxel centre (point sampling):

- the fused coarse volume, trilinearly (``grid_sample`` at the fine centre);
- the LiDAR branch's fine sparse U-Net features at the fine voxel itself (LiDAR presets);
- the image features of every camera that sees the fine voxel centre (projected with ``img_from_ego``,
  bilinear ``grid_sample``, averaged over those cameras; camera presets);
- the voxel's offset from its parent's centre (in parent voxel units, 3 values in (-0.5, 0.5)).

An MLP maps them to a residual (K + 2) added to the voxel's base prediction: the LiDAR branch's own fine prediction
where the network has one (LiDAR presets), else its parent's coarse logits and flow (upsampled by nearest
neighbour). Every other fine voxel keeps its base prediction unchanged. The MLP's last layer starts at zero, so an
untrained cascade reproduces the base prediction.

Frames: ego; fine voxel (i, j, k) has centre ``range_min_m + (i + 0.5, j + 0.5, k + 0.5) * voxel_size_m``.
Shapes: coarse (B, K + 2, X / f, Y / f, Z / f), fused (B, C, X / f, Y / f, Z / f), LiDAR fine (B, C_l, X, Y, Z),
image features (B, N, C_i, Hf, Wf) of images ``image_hw`` with ``img_from_ego`` (B, N, 3, 4), optional fine base
(B, K + 2, X, Y, Z) -> logits (B, K, X, Y, Z), flow (B, 2, X, Y, Z) and the count of refined fine voxels per
sample (B,).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.occnet.bev_encoder import project_to_cameras


@dataclass(frozen=True)
class FineGrid:
    """The full-resolution grid: ``range_min_m`` (3,) ego metres, cubic ``voxel_size_m``, ``shape`` (X, Y, Z)."""

    range_min_m: tuple[float, float, float]
    voxel_size_m: float
    shape: tuple[int, int, int]

    def centres(self, index: torch.Tensor) -> torch.Tensor:
        """(M, 3) int64 voxel indices -> (M, 3) float32 ego centres."""
        lo = torch.tensor(self.range_min_m, dtype=torch.float32, device=index.device)
        return lo + (index.float() + 0.5) * self.voxel_size_m


def predicted_occupied(coarse_sem: torch.Tensor, free_index: int) -> torch.Tensor:
    """(B, K, X, Y, Z) logits -> (B, X, Y, Z) bool: arg-max class is not free."""
    return coarse_sem.argmax(1) != free_index


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, C, X, Y, Z) -> (B, C, fX, fY, fZ), every fine voxel a copy of its parent."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def sample_volume(volume: torch.Tensor, index: torch.Tensor, fine_shape: tuple[int, int, int]) -> torch.Tensor:
    """Trilinear samples of one coarse volume (C, Xc, Yc, Zc) at the centres of fine voxels (M, 3) of a grid
    ``fine_shape`` over the same range -> (M, C)."""
    size = torch.tensor(fine_shape, dtype=torch.float32, device=index.device)
    norm = (index.float() + 0.5) / size * 2 - 1  # (x, y, z) in [-1, 1]
    grid = norm.flip(-1).view(1, 1, 1, -1, 3)  # grid_sample's last axis is (W, H, D) = (z, y, x)
    out = F.grid_sample(volume.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.view(volume.shape[0], -1).t()


def sample_cameras(
    feats: torch.Tensor, points_m: torch.Tensor, img_from_ego: torch.Tensor, image_hw: tuple[int, int]
) -> torch.Tensor:
    """Mean over the cameras that see each point of the bilinear image features there: feats (N, C, Hf, Wf),
    points (M, 3) ego, img_from_ego (N, 3, 4) -> (M, C); zeros for a point no camera sees. Each camera samples
    only the points it sees (a point is in one or two of six cameras)."""
    norm, valid = project_to_cameras(points_m.unsqueeze(1), img_from_ego.unsqueeze(0), image_hw)
    norm, valid = norm[0, :, :, 0], valid[0, :, :, 0]  # (N, M, 2), (N, M)
    acc = feats.new_zeros(points_m.shape[0], feats.shape[1])
    for n in range(feats.shape[0]):
        hit = valid[n].nonzero().squeeze(1)
        grid = norm[n, hit].view(1, 1, -1, 2)
        sampled = F.grid_sample(feats[n : n + 1], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        acc = acc.index_add(0, hit, sampled.view(feats.shape[1], -1).t())
    return acc / valid.sum(0).clamp(min=1).to(feats.dtype).unsqueeze(1)


class CascadeRefiner(nn.Module):
    """Refines the fine voxels under coarse voxels predicted occupied (see the module docstring)."""

    def __init__(
        self,
        fine: FineGrid,
        factor: int,
        fused_channels: int,
        lidar_channels: int,
        image_channels: int,
        hidden: int,
        num_classes: int,
        free_index: int,
    ) -> None:
        super().__init__()
        self.fine, self.factor, self.num_classes, self.free_index = fine, factor, num_classes, free_index
        self.mlp = nn.Sequential(
            nn.Linear(fused_channels + lidar_channels + image_channels + 3, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes + 2),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(
        self,
        coarse: torch.Tensor,
        fused: torch.Tensor,
        lidar_fine: torch.Tensor | None,
        image_feats: torch.Tensor | None,
        img_from_ego: torch.Tensor | None,
        image_hw: tuple[int, int],
        base: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        f, k = self.factor, self.num_classes
        occupied = predicted_occupied(coarse[:, :k], self.free_index)
        refine = upsample(occupied.unsqueeze(1).float(), f).squeeze(1) > 0  # (B, X, Y, Z)
        linear = refine.flatten().nonzero().squeeze(1)  # (M,) refined fine voxels, sorted by sample
        index = torch.stack(torch.unravel_index(linear, refine.shape), dim=1)  # (M, 4): b, x, y, z
        out = (upsample(coarse, f) if base is None else base).movedim(1, -1)  # (B, X, Y, Z, K + 2)
        parts = []
        for b in range(coarse.shape[0]):
            idx = index[index[:, 0] == b, 1:]
            feats = [sample_volume(fused[b], idx, self.fine.shape)]
            if lidar_fine is not None:
                feats.append(lidar_fine[b][:, idx[:, 0], idx[:, 1], idx[:, 2]].t())
            if image_feats is not None:
                feats.append(sample_cameras(image_feats[b], self.fine.centres(idx), img_from_ego[b], image_hw))
            feats.append(((idx % f).float() + 0.5) / f - 0.5)
            parts.append(torch.cat(feats, dim=1))
        delta = self.mlp(torch.cat(parts))
        flat = out.reshape(-1, k + 2)
        out = flat.index_add(0, linear, delta).view(out.shape).movedim(-1, 1)
        return {
            "sem_logits": out[:, :k],
            "flow": out[:, k:],
            "refined": refine.flatten(1).sum(1),
            "coarse_occupied": occupied.flatten(1).sum(1),
        }
