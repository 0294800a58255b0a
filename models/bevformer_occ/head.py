"""Height-lifting occupancy head (the Occ3D BEVFormer baseline's decoder): BEV features are upsampled to
the output x, y resolution (per x2 stage: a stride-2 transposed convolution and a 3x3 convolution), a 1x1
convolution lifts each pillar's C channels to Z x ``height_channels`` (channel index = h * Z + z), which are
read as ``height_channels`` features per height bin, and a per-voxel MLP predicts semantics and flow.

(B, C, Xb, Yb) -> sem (B, K, X, Y, Z) logits, flow (B, 2, X, Y, Z) m/s, X = Xb * 2**len(up_channels).
"""

from __future__ import annotations

import torch
from torch import nn


class HeightLiftHead(nn.Module):
    def __init__(
        self, bev_dim: int, up_channels: tuple[int, ...], nz: int, height_channels: int, num_classes: int
    ) -> None:
        super().__init__()
        self.nz, self.height_channels, self.num_classes = nz, height_channels, num_classes
        ups: list[nn.Module] = []
        c = bev_dim
        for w in up_channels:  # each stage doubles X and Y
            ups += [nn.ConvTranspose2d(c, w, 2, stride=2, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            ups += [nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.up = nn.Sequential(*ups)
        self.lift = nn.Sequential(
            nn.Conv2d(c, height_channels * nz, 1, bias=False),
            nn.BatchNorm2d(height_channels * nz),
            nn.ReLU(inplace=True),
        )
        self.voxel_mlp = nn.Sequential(
            nn.Conv3d(height_channels, height_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv3d(height_channels, num_classes + 2, 1),
        )

    def forward(self, bev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.lift(self.up(bev))
        b, _, nx, ny = x.shape
        vox = x.view(b, self.height_channels, self.nz, nx, ny).permute(0, 1, 3, 4, 2)  # (B, Ch, X, Y, Z)
        out = self.voxel_mlp(vox)
        return out[:, : self.num_classes], out[:, self.num_classes :]
