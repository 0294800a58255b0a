"""BEVDet-occ network: images (B, N, 3, H, W) + img_from_ego (B, N, 3, 4) -> Occ3D semantic logits and flow.

ImageEncoder (ResNet + FPN-LSS neck) -> LSSViewTransformer into a voxel volume (B, C0, X/f, Y/f, Z/f) over the
Occ3D range -> VoxelEncoder (3D ResNet + FPN) -> OccupancyHead3D (x f upsampling, 1x1x1 conv).
"""

from __future__ import annotations

import torch
from torch import nn

from models.bevdet_occ.voxel_encoder import OccupancyHead3D, VoxelEncoder
from models.lss.geometry import DepthBins
from models.lss.image_encoder import ImageEncoder
from models.lss.pool import PoolGrid
from models.lss.view_transformer import LSSViewTransformer


class BevDetOccNet(nn.Module):
    def __init__(
        self,
        backbone_widths: tuple[int, ...],
        backbone_blocks: tuple[int, ...],
        neck_channels: int,
        bins: DepthBins,
        volume: PoolGrid,
        voxel_channels: tuple[int, int],
        up_factor: int,
        up_channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.image_encoder = ImageEncoder(backbone_widths, backbone_blocks, neck_channels)
        self.view_transformer = LSSViewTransformer(
            neck_channels, voxel_channels[0], bins, volume, self.image_encoder.stride
        )
        self.voxel_encoder = VoxelEncoder(*voxel_channels)
        self.head = OccupancyHead3D(voxel_channels[0], up_channels, up_factor, num_classes)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``sem_logits`` (B, K, X, Y, Z), ``flow`` (B, 2, X, Y, Z) on the Occ3D grid, ``depth_logits``
        (B, N, D, Hf, Wf)."""
        images = batch["images"]
        b, n = images.shape[:2]
        feats = self.image_encoder(images.flatten(0, 1))
        feats = feats.view(b, n, *feats.shape[1:])
        volume, depth_logits = self.view_transformer(feats, batch["img_from_ego"])
        sem, flow = self.head(self.voxel_encoder(volume))
        return {"sem_logits": sem, "flow": flow, "depth_logits": depth_logits}
