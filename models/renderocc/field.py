"""RenderOcc's semantic density field head: voxel features (B, C, X/f, Y/f, Z/f) -> per-voxel density sigma
(B, X, Y, Z) in 1/m (softplus, >= 0) and K class logits (B, K, X, Y, Z) on the output grid (a stride-``f``
transposed 3D convolution when the features are ``f`` times coarser, then a 1x1x1 convolution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SemanticDensityHead(nn.Module):
    """Density starts near ``softplus(init_density_logit)`` 1/m everywhere (an almost transparent field)."""

    def __init__(self, c_in: int, up_channels: int, factor: int, num_classes: int, init_density_logit: float) -> None:
        super().__init__()
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
        self.out = nn.Conv3d(c, 1 + num_classes, 1)
        with torch.no_grad():
            self.out.bias[0] = init_density_logit

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o = self.out(self.up(x))
        return F.softplus(o[:, 0]), o[:, 1:]
