"""OpenOccupancy's adaptive fusion of the camera and LiDAR voxel volumes.

Both branches are first brought to the same coarse volume and width (``BranchProjection``); a small 3D
convolution over their concatenation predicts one weight per voxel, ``w = sigmoid(conv([cam, lidar]))``, and
the fused volume is ``w * cam + (1 - w) * lidar``: the network learns, voxel by voxel, how much to trust each
sensor (e.g. LiDAR where points fall, cameras where LiDAR is sparse or far).

Shapes: camera and LiDAR volumes (B, C, X, Y, Z) on the same grid -> fused (B, C, X, Y, Z), weights
(B, 1, X, Y, Z).
"""

from __future__ import annotations

import torch
from torch import nn


class BranchProjection(nn.Module):
    """(B, C_in, fX, fY, fZ) -> (B, C, X, Y, Z): a stride-``factor`` 3D convolution (kernel = stride; 1x1x1 when
    the branch is already on the coarse grid), BatchNorm, ReLU."""

    def __init__(self, c_in: int, c_out: int, factor: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(c_in, c_out, factor, stride=factor, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class AdaptiveFusion(nn.Module):
    """Per-voxel fusion weights from a 3x3x3 conv (2C -> C, BatchNorm, ReLU) and a 1x1x1 conv (C -> 1) over the
    concatenated volumes; ``forward`` returns the fused volume and the weights (the camera's share)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight_net = nn.Sequential(
            nn.Conv3d(2 * channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(channels, 1, 1),
        )

    def forward(self, camera: torch.Tensor, lidar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.sigmoid(self.weight_net(torch.cat([camera, lidar], dim=1)))
        return w * camera + (1.0 - w) * lidar, w
