"""OccNet's cascade voxel decoder: BEV features are lifted to a coarse voxel volume, then upsampled
by 2 in x, y and z per stage up to the output grid; every stage has its own semantic and flow head
(supervised with GT pooled to its resolution).

At inference (eval mode) the finest stage, a stride-2 transposed convolution with batch norm and ReLU feeding a
1x1 head, runs as two matrix products (:func:`fused_upsample_head`), which is what it is per voxel: each coarse voxel
gives its 8 children their features, each child its logits (on one core: 55 -> 30 ms for the tiny preset's
200x200x16 grid, label decoding included). Same values up to float rounding (tested).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv3d_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


def fused_upsample_head(x: torch.Tensor, up: nn.Sequential, head: nn.Conv3d) -> torch.Tensor:
    """Eval-mode ``head(up(x))`` for ``up`` = (ConvTranspose3d(kernel 2, stride 2, no bias), BatchNorm3d, ReLU) and
    a 1x1 ``head``: (B, C_in, X, Y, Z) -> (B, K, 2X, 2Y, 2Z) contiguous logits. The batch norm is folded into the
    transposed convolution's weights; the children's features are laid out class-major before the head's product,
    so the logits come out in the order the label decoding reads fastest."""
    conv, bn = up[0], up[1]
    b, c_in, nx, ny, nz = x.shape
    c, k = conv.out_channels, head.out_channels
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    weight = (conv.weight * scale.view(1, c, 1, 1, 1)).permute(0, 2, 3, 4, 1).reshape(c_in, 8 * c)  # (dx, dy, dz, c)
    rows = x.permute(0, 2, 3, 4, 1).reshape(-1, c_in)
    children = torch.relu_(torch.addmm(shift.repeat(8), rows, weight))  # (B X Y Z, 8 c)
    fine = children.view(b, nx, ny, nz, 2, 2, 2, c).permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, c, -1)
    logits = torch.baddbmm(head.bias.view(1, k, 1), head.weight.view(1, k, c).expand(b, -1, -1), fine)
    return logits.view(b, k, 2 * nx, 2 * ny, 2 * nz)


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
        last = len(self.blocks) - 1
        for s, (block, head) in enumerate(zip(self.blocks, self.heads)):
            if s == last and s > 0 and not self.training:
                o = fused_upsample_head(x, self.ups[s - 1], head)
            else:
                if s > 0:
                    x = self.ups[s - 1](x)
                x = block(x)
                o = head(x)
            outs.append((o[:, : self.num_classes], o[:, self.num_classes :]))
        return outs
