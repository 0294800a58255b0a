"""Image backbone: a small ResNet (BasicBlocks) plus a 1x1 neck.

Input (B*N, 3, H, W) normalised images -> (B*N, C, H / 2**S, W / 2**S) with S = len(widths)
(the stem and every stage halve the resolution; the stem runs at widths[0]).
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ImageBackbone(nn.Module):
    """ResNet-style backbone: stem (stride 2), then one stage per width after the first (stride 2 each)."""

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...], out_channels: int) -> None:
        super().__init__()
        if len(widths) != len(blocks):
            raise ValueError(f"ImageBackbone: widths {widths} and blocks {blocks} differ in length")
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        c = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(c, w, 2 if (j == 0 and i > 0) else 1))
                c = w
        self.stages = nn.Sequential(*layers)
        self.neck = nn.Sequential(
            nn.Conv2d(c, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)
        )
        self.stride = 2 ** len(widths)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, out_channels, H / stride, W / stride), in channels-last memory (the layout in which
        the CPU convolutions run fastest: 49 -> 39 ms for six 256x144 images on one core)."""
        return self.neck(self.stages(self.stem(images.contiguous(memory_format=torch.channels_last))))
