"""ALOcc network: six camera images -> Occ3D semantic logits, flow, and the depth / pixel-semantic outputs
that the training losses read.

images (B, N, 3, H, W) -> image encoder (``models.lss.image_encoder``: ResNet + FPN-LSS neck, stride s) ->
adaptive lifting (``lifting``: LSS depth x context splat with occlusion-aware soft filling) -> voxel volume
(B, C, X', Y', Z') on the pooling grid (ego frame, half the output grid) -> 3D residual convolutions -> (a) x2
transposed convolution into the prototype embedding at the output grid -> semantic-prototype occupancy head
(``prototypes``); (b) hybrid classification-regression flow head (``flow_head``) on the pooling grid, each
flow copied to the 2x2x2 output voxels it covers.
"""

from __future__ import annotations

import torch
from torch import nn

from models.alocc.flow_head import FlowHead
from models.alocc.lifting import AdaptiveLSSViewTransformer
from models.alocc.prototypes import PrototypeHead
from models.lss.geometry import DepthBins
from models.lss.image_encoder import ImageEncoder
from models.lss.pool import PoolGrid


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """(B, C, X, Y, Z) -> (B, C, 2X, 2Y, 2Z), every voxel copied to its 2x2x2 children."""
    return x.repeat_interleave(2, 2).repeat_interleave(2, 3).repeat_interleave(2, 4)


class ResBlock3d(nn.Module):
    """Two 3x3x3 convolutions with batch norm and a residual connection."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm3d(c),
            nn.ReLU(inplace=True),
            nn.Conv3d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm3d(c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ALOccNet(nn.Module):
    def __init__(
        self,
        backbone_widths: tuple[int, ...],
        backbone_blocks: tuple[int, ...],
        image_dim: int,
        bins: DepthBins,
        pool_grid: PoolGrid,
        context_channels: int,
        encoder_blocks: int,
        embed_dim: int,
        num_classes: int,
        flow_bins: int,
        flow_max_mps: float,
    ) -> None:
        super().__init__()
        self.image_encoder = ImageEncoder(backbone_widths, backbone_blocks, image_dim)
        self.lifting = AdaptiveLSSViewTransformer(
            image_dim, context_channels, bins, pool_grid, self.image_encoder.stride
        )
        self.encoder = nn.Sequential(*(ResBlock3d(context_channels) for _ in range(encoder_blocks)))
        # voxel embedding at the output grid (no ReLU: signed features for the cosine similarity)
        self.embed = nn.Sequential(
            nn.ConvTranspose3d(context_channels, embed_dim, 2, stride=2, bias=False), nn.BatchNorm3d(embed_dim)
        )
        self.head = PrototypeHead(context_channels, embed_dim, num_classes)
        self.flow_head = FlowHead(context_channels, flow_bins, flow_max_mps)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``batch``: images (B, N, 3, H, W) normalised; img_from_ego (B, N, 3, 4) for that image size.

        Returns sem_logits (B, K, X, Y, Z), flow (B, 2, X, Y, Z) m/s in the ego (grid) frame, flow_bin_logits
        (B, 2, n_bins, X/2, Y/2, Z/2) (pooling grid), depth_logits (B, N, D, h, w), pixel_logits (B, N, K, h, w)."""
        images = batch["images"]
        b, n = images.shape[:2]
        feats = self.image_encoder(images.flatten(0, 1))
        volume, depth_logits, context = self.lifting(feats.view(b, n, *feats.shape[1:]), batch["img_from_ego"])
        coarse = self.encoder(volume)
        flow = self.flow_head(coarse)
        pixel_logits = self.head.pixel_logits(context.flatten(0, 1))
        return {
            "sem_logits": self.head.voxel_logits(self.embed(coarse)),
            "flow": upsample2(flow["flow"]),
            "flow_bin_logits": flow["bin_logits"],
            "depth_logits": depth_logits,
            "pixel_logits": pixel_logits.view(b, n, *pixel_logits.shape[1:]),
        }
