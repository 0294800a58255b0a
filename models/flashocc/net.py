"""FlashOcc network: images (B, N, 3, H, W) + img_from_ego (B, N, 3, 4) -> Occ3D semantic logits and flow.

ImageEncoder (ResNet + FPN-LSS neck) -> LSSViewTransformer into BEV (B, C0, X/f, Y/f) over the Occ3D range
(every height of the range pooled into its pillar) -> BevEncoder2D (x f upsampling to X, Y) ->
ChannelToHeightHead (Z = the grid's height bins). Only 2D convolutions and linear layers.
"""

from __future__ import annotations

import torch
from torch import nn

from models.flashocc.bev_encoder import BevEncoder2D
from models.flashocc.head import ChannelToHeightHead
from models.lss.geometry import DepthBins
from models.lss.image_encoder import ImageEncoder
from models.lss.pool import PoolGrid
from models.lss.view_transformer import LSSViewTransformer


class FlashOccNet(nn.Module):
    def __init__(
        self,
        backbone_widths: tuple[int, ...],
        backbone_blocks: tuple[int, ...],
        neck_channels: int,
        bins: DepthBins,
        bev: PoolGrid,
        bev_channels: tuple[int, int, int],
        up_factor: int,
        num_heights: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.image_encoder = ImageEncoder(backbone_widths, backbone_blocks, neck_channels)
        self.view_transformer = LSSViewTransformer(neck_channels, bev_channels[0], bins, bev, self.image_encoder.stride)
        self.bev_encoder = BevEncoder2D(*bev_channels, up_factor)
        self.head = ChannelToHeightHead(bev_channels[2], num_heights, num_classes)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``sem_logits`` (B, K, X, Y, Z), ``flow`` (B, 2, X, Y, Z) on the Occ3D grid, ``depth_logits``
        (B, N, D, Hf, Wf)."""
        images = batch["images"]
        b, n = images.shape[:2]
        feats = self.image_encoder(images.flatten(0, 1))
        feats = feats.view(b, n, *feats.shape[1:])
        bev, depth_logits = self.view_transformer(feats, batch["img_from_ego"])
        sem, flow = self.head(self.bev_encoder(bev))
        return {"sem_logits": sem, "flow": flow, "depth_logits": depth_logits}
