"""OccNet network: images (B, N, 3, H, W) + img_from_ego (B, N, 3, 4) -> cascade of semantic logits and flow."""

from __future__ import annotations

import torch
from torch import nn

from models.occnet.backbone import ImageBackbone
from models.occnet.bev_encoder import BevEncoder
from models.occnet.decoder import CascadeVoxelDecoder


class OccNetNet(nn.Module):
    def __init__(
        self,
        backbone_widths: tuple[int, ...],
        backbone_blocks: tuple[int, ...],
        dim: int,
        bev_shape: tuple[int, int],
        range_min_m: tuple[float, float, float],
        range_max_m: tuple[float, float, float],
        num_layers: int,
        num_ref: int,
        num_offsets: int,
        offset_scale: float,
        decoder_channels: tuple[int, ...],
        z0: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.backbone = ImageBackbone(backbone_widths, backbone_blocks, dim)
        self.encoder = BevEncoder(
            dim, bev_shape, range_min_m, range_max_m, num_layers, num_ref, num_offsets, offset_scale
        )
        self.decoder = CascadeVoxelDecoder(dim, decoder_channels, z0, num_classes)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, object]:
        """``batch``: images (B, N, 3, H, W) normalised float; img_from_ego (B, N, 3, 4) for that image size.

        Returns ``sem_logits`` (B, K, X, Y, Z) and ``flow`` (B, 2, X, Y, Z) of the finest stage and
        ``stages``: [(sem, flow)] coarse to fine (the last is the finest)."""
        images = batch["images"]
        b, n, _, h, w = images.shape
        feats = self.backbone(images.flatten(0, 1))
        feats = feats.view(b, n, *feats.shape[1:])
        bev = self.encoder(feats, batch["img_from_ego"], (h, w))
        stages = self.decoder(bev)
        return {"sem_logits": stages[-1][0], "flow": stages[-1][1], "stages": stages}
