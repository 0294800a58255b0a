"""RenderOcc network: images (B, N, 3, H, W) + img_from_ego (B, N, 3, 4) -> semantic density field on the Occ3D
grid, and in training its volume renderings along camera rays.

2D-to-3D: ResNet + FPN-LSS image encoder and LSS view transformer into a voxel volume (``models.lss``), the
3D ResNet + FPN voxel encoder of BEVDet-occ (``models.bevdet_occ.voxel_encoder``); then the semantic density
head (``field``). In training mode the field is rendered (``render``) along the rays of the keyframe's cameras
(``rays``) and, when the batch carries ``aux_img_from_ego`` (earlier keyframes' cameras in this keyframe's
ego frame), along those auxiliary rays too.
"""

from __future__ import annotations

import torch
from torch import nn

from models.bevdet_occ.voxel_encoder import VoxelEncoder
from models.lss.geometry import DepthBins
from models.lss.image_encoder import ImageEncoder
from models.lss.pool import PoolGrid
from models.lss.view_transformer import LSSViewTransformer
from models.renderocc.field import SemanticDensityHead
from models.renderocc.rays import ray_samples
from models.renderocc.render import RenderedRays, render


class RenderOccNet(nn.Module):
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
        init_density_logit: float,
        output_grid: PoolGrid,
        ray_hw: tuple[int, int],
        ray_stride: int,
        render_bins: DepthBins,
    ) -> None:
        super().__init__()
        self.image_encoder = ImageEncoder(backbone_widths, backbone_blocks, neck_channels)
        self.view_transformer = LSSViewTransformer(
            neck_channels, voxel_channels[0], bins, volume, self.image_encoder.stride
        )
        self.voxel_encoder = VoxelEncoder(*voxel_channels)
        self.head = SemanticDensityHead(voxel_channels[0], up_channels, up_factor, num_classes, init_density_logit)
        self.output_grid, self.ray_hw, self.ray_stride, self.render_bins = output_grid, ray_hw, ray_stride, render_bins

    def render_views(self, density: torch.Tensor, logits: torch.Tensor, img_from_ego: torch.Tensor) -> RenderedRays:
        """Render the field of each sample along the rays of its cameras ``img_from_ego`` (B, N, 3, 4)."""
        rays = [ray_samples(p, self.ray_hw, self.ray_stride, self.render_bins, self.output_grid) for p in img_from_ego]
        return render(density, logits, rays, self.render_bins.max_m)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | RenderedRays]:
        """``density`` (B, X, Y, Z) 1/m, ``sem_logits`` (B, K, X, Y, Z) of the K non-free classes, ``depth_logits``
        (B, N, D, Hf, Wf) of the LSS depth net; in training also ``rendered`` (and ``aux_rendered``)."""
        images = batch["images"]
        b, n = images.shape[:2]
        feats = self.image_encoder(images.flatten(0, 1))
        feats = feats.view(b, n, *feats.shape[1:])
        volume, depth_logits = self.view_transformer(feats, batch["img_from_ego"])
        density, logits = self.head(self.voxel_encoder(volume))
        out: dict[str, torch.Tensor | RenderedRays] = {
            "density": density,
            "sem_logits": logits,
            "depth_logits": depth_logits,
        }
        if self.training:
            out["rendered"] = self.render_views(density, logits, batch["img_from_ego"])
            if "aux_img_from_ego" in batch:
                out["aux_rendered"] = self.render_views(density, logits, batch["aux_img_from_ego"])
        return out
