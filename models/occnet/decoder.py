"""OccNet's cascade voxel decoder: BEV features are lifted to a coarse voxel volume, then upsampled
by 2 in x, y and z per stage up to the output grid; every stage has its own semantic and flow head
(supervised with GT pooled to its resolution).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv3d_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


class CascadeVoxelDecoder(nn.Module):
    """(B, C, X0, Y0) BEV -> per stage (sem (B, K, Xs, Ys, Zs), flow (B, 2, Xs, Ys, Zs)), coarse to fine.

    ``channels[s]`` is the voxel width at stage s; stage 0 has height ``z0``; each later stage doubles
    X, Y and Z with a stride-2 transposed convolution. Every stage but the finest refines its volume with a
    3x3x3 convolution (at the finest one, the dominant cost on CPU, the transposed convolution feeds the head)."""

    def __init__(self, bev_dim: int, channels: tuple[int, ...], z0: int, num_classes: int) -> None:
        super().__init__()
        self.z0, self.c0, self.num_classes = z0, channels[0], num_classes
        self.lift = nn.Sequential(
            nn.Conv2d(bev_dim, channels[0] * z0, 1, bias=False), nn.BatchNorm2d(channels[0] * z0), nn.ReLU(inplace=True)
        )
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        self.heads = nn.ModuleList()
        for s, c in enumerate(channels):
            if s > 0:
                self.ups.append(
                    nn.Sequential(
                        nn.ConvTranspose3d(channels[s - 1], c, 2, stride=2, bias=False),
                        nn.BatchNorm3d(c),
                        nn.ReLU(inplace=True),
                    )
                )
            self.blocks.append(_conv3d_block(c, c) if s < len(channels) - 1 else nn.Identity())
            self.heads.append(nn.Conv3d(c, num_classes + 2, 1))

    def forward(self, bev: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        b, _, nx, ny = bev.shape
        x = self.lift(bev).view(b, self.c0, self.z0, nx, ny).permute(0, 1, 3, 4, 2).contiguous()
        outs = []
        for s, (block, head) in enumerate(zip(self.blocks, self.heads)):
            if s > 0:
                x = self.ups[s - 1](x)
            x = block(x)
            o = head(x)
            outs.append((o[:, : self.num_classes], o[:, self.num_classes :]))
        return outs
