"""FlashOcc's 2D BEV encoder (BEVDet's BEV ResNet + FPN-LSS on the BEV plane), residual 2D convolutions only.

(B, C0, X, Y) -> (B, C_out, fX, fY): a BasicBlock at the LSS BEV resolution, a stride-2 level of ``C1``
channels (two BasicBlocks), that level upsampled x2 (bilinear) and concatenated with the first, fused by a
3x3 convolution to ``C_out``; a stride-``f`` transposed 2D convolution up to the output grid's X, Y when the
BEV is ``f`` times coarser.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.lss.image_encoder import conv_bn_relu
from models.occnet.backbone import BasicBlock


class BevEncoder2D(nn.Module):
    def __init__(self, c0: int, c1: int, c_out: int, up_factor: int) -> None:
        super().__init__()
        self.level0 = BasicBlock(c0, c0, 1)
        self.level1 = nn.Sequential(BasicBlock(c0, c1, 2), BasicBlock(c1, c1, 1))
        self.fuse = conv_bn_relu(c0 + c1, c_out)
        self.up: nn.Module = (
            nn.Identity()
            if up_factor == 1
            else nn.Sequential(
                nn.ConvTranspose2d(c_out, c_out, up_factor, stride=up_factor, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            )
        )

    def forward(self, bev: torch.Tensor) -> torch.Tensor:
        x0 = self.level0(bev)
        x1 = self.level1(x0)
        up = F.interpolate(x1, size=x0.shape[-2:], mode="bilinear", align_corners=False)
        return self.up(self.fuse(torch.cat([x0, up], dim=1)))
