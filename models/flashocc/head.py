"""FlashOcc's Channel-to-Height occupancy head (Yu et al., "FlashOcc", 2023): no 3D convolution.

BEV features (B, C_in, X, Y) -> a 3x3 convolution (FlashOcc's final conv) -> a per-pillar predictor (FlashOcc's
two-layer MLP as 1x1 convolutions: C_in -> 2 C_in, Softplus, -> Z * (K + 2) channels) -> Channel-to-Height:
channel ``z * (K + 2) + k`` of pillar (x, y) becomes output k of voxel (x, y, z) (``channel_to_height``) ->
semantic logits (B, K, X, Y, Z) and flow (B, 2, X, Y, Z). The predictor runs channels-last, so the reshape
copies nothing and the logits of a voxel are adjacent in memory (their argmax is a contiguous reduction).
"""

from __future__ import annotations

import torch
from torch import nn

from models.lss.image_encoder import conv_bn_relu


def channel_to_height(bev: torch.Tensor, num_heights: int) -> torch.Tensor:
    """(B, Z * c, X, Y) -> (B, c, X, Y, Z): channel ``z * c + k`` -> height bin z, channel k. A view (no copy)
    of a channels-last ``bev``, whose memory is already (B, X, Y, Z, c)."""
    b, ch, x, y = bev.shape
    if ch % num_heights:
        raise ValueError(f"channel_to_height: {ch} channels are not a multiple of {num_heights} heights")
    return bev.permute(0, 2, 3, 1).reshape(b, x, y, num_heights, ch // num_heights).permute(0, 4, 1, 2, 3)


class ChannelToHeightHead(nn.Module):
    def __init__(self, c_in: int, num_heights: int, num_classes: int) -> None:
        super().__init__()
        self.num_heights, self.num_classes = num_heights, num_classes
        self.final_conv = conv_bn_relu(c_in, c_in)
        self.hidden = nn.Sequential(nn.Conv2d(c_in, 2 * c_in, 1), nn.Softplus())
        self.predictor = nn.Conv2d(2 * c_in, num_heights * (num_classes + 2), 1)

    def forward(self, bev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.hidden(self.final_conv(bev).contiguous(memory_format=torch.channels_last))
        out = channel_to_height(self.predictor(x), self.num_heights)
        return out[:, : self.num_classes], out[:, self.num_classes :]
