"""BEVDet-occ's voxel encoder (3D ResNet + FPN, as BEVDet-occ's 3D backbone and neck) and occupancy head.

``VoxelEncoder``: (B, C0, X, Y, Z) -> (B, C0, X, Y, Z): a residual 3x3x3 block at the LSS volume's
resolution, a stride-2 level of ``C1`` channels (two residual blocks), that level upsampled x2 (trilinear)
and concatenated with the first, fused by a 3x3x3 convolution.
``OccupancyHead3D``: (B, C0, X, Y, Z) -> semantic logits (B, K, fX, fY, fZ) and flow (B, 2, fX, fY, fZ): a
stride-``f`` transposed 3D convolution up to the output grid when the volume is ``f`` times coarser, then a
1x1x1 convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3d_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm3d(c_out))


class ResBlock3D(nn.Module):
    """Two 3x3x3 convolutions with a residual connection (1x1x1 projection when stride or width change)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3d_bn(c_in, c_out, stride), nn.ReLU(inplace=True), conv3d_bn(c_out, c_out))
        self.skip = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv3d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm3d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class VoxelEncoder(nn.Module):
    """Two-level 3D ResNet with an FPN fusion back to the input resolution (X, Y, Z even)."""

    def __init__(self, c0: int, c1: int) -> None:
        super().__init__()
        self.level0 = ResBlock3D(c0, c0)
        self.level1 = nn.Sequential(ResBlock3D(c0, c1, stride=2), ResBlock3D(c1, c1))
        self.fuse = nn.Sequential(conv3d_bn(c0 + c1, c0), nn.ReLU(inplace=True))

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        x0 = self.level0(volume)
        x1 = self.level1(x0)
        up = F.interpolate(x1, size=x0.shape[-3:], mode="trilinear", align_corners=False)
        return self.fuse(torch.cat([x0, up], dim=1))


class OccupancyHead3D(nn.Module):
    """Optional x``factor`` transposed-conv upsampling to ``up_channels``, then a 1x1x1 conv to K + 2."""

    def __init__(self, c_in: int, up_channels: int, factor: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        if factor == 1:
            self.up: nn.Module = nn.Identity()
            c = c_in
        else:
            self.up = nn.Sequential(
                nn.ConvTranspose3d(c_in, up_channels, factor, stride=factor, bias=False),
                nn.BatchNorm3d(up_channels),
                nn.ReLU(inplace=True),
            )
            c = up_channels
        self.out = nn.Conv3d(c, num_classes + 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o = self.out(self.up(x))
        return o[:, : self.num_classes], o[:, self.num_classes :]
