"""Image encoder of the LSS camera models (BEVDet's image-view encoder): a ResNet of BasicBlocks (occnet's
``BasicBlock``) and an FPN-LSS neck (the last stage upsampled x2, concatenated with the stage before it,
two 3x3 convolutions).

Input (B*N, 3, H, W) normalised images -> (B*N, out_channels, H / s, W / s) with stride
s = 2**(len(widths) - 1) (the stem and every stage after the first halve the resolution; the last stage
runs at 2s).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.occnet.backbone import BasicBlock


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class ImageEncoder(nn.Module):
    """ResNet stages (widths[i] channels, blocks[i] BasicBlocks) + FPN-LSS neck fusing the last two stages."""

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...], out_channels: int) -> None:
        super().__init__()
        if len(widths) != len(blocks) or len(widths) < 2:
            raise ValueError(f"ImageEncoder: widths {widths} and blocks {blocks} need equal lengths >= 2")
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        c = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            stages.append(
                nn.Sequential(*[BasicBlock(c if j == 0 else w, w, 2 if (j == 0 and i > 0) else 1) for j in range(n)])
            )
            c = w
        self.stages = nn.ModuleList(stages)
        self.neck = nn.Sequential(
            conv_bn_relu(widths[-1] + widths[-2], out_channels), conv_bn_relu(out_channels, out_channels)
        )
        self.stride = 2 ** (len(widths) - 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        fine, coarse = feats[-2], feats[-1]
        up = F.interpolate(coarse, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        return self.neck(torch.cat([fine, up], dim=1))
