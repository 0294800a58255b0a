"""SparseOcc network: images (B, N, 3, H, W) + img_from_ego (B, N, 3, 4) -> sparse voxel levels, mask
predictions over the finest level's kept voxels and their flow.

Parts: occnet's ResNet image backbone (``models.occnet.backbone``), the sparse voxel decoder
(``voxel_decoder``), the mask transformer decoder (``mask_decoder``) and a per-voxel flow head.
"""

from __future__ import annotations

import torch
from torch import nn

from models.occnet.backbone import ImageBackbone
from models.sparseocc.mask_decoder import MaskTransformerDecoder
from models.sparseocc.voxel_decoder import SparseVoxelDecoder


class SparseOccNet(nn.Module):
    def __init__(
        self,
        backbone_widths: tuple[int, ...],
        backbone_blocks: tuple[int, ...],
        img_dim: int,
        voxel_decoder: SparseVoxelDecoder,
        query_dim: int,
        num_queries: int,
        mask_layers: int,
        heads: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.backbone = ImageBackbone(backbone_widths, backbone_blocks, img_dim)
        self.voxels = voxel_decoder
        voxel_dim = voxel_decoder.layers[-1].occ.in_features
        self.masks = MaskTransformerDecoder(voxel_dim, query_dim, num_queries, mask_layers, heads, num_classes)
        self.flow = nn.Linear(voxel_dim, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, object]:
        """Returns ``levels`` [SparseLevel] coarse to fine, ``kept`` (B, k) finest kept voxel indices,
        ``masks`` [MaskPrediction] over them (the last is the output) and ``flow`` (B, k, 2) m/s."""
        images = batch["images"]
        b, n, _, h, w = images.shape
        feats = self.backbone(images.flatten(0, 1))
        feats = feats.view(b, n, *feats.shape[1:])
        levels = self.voxels(feats, batch["img_from_ego"], (h, w))
        finest = levels[-1].features
        return {"levels": levels, "kept": levels[-1].kept, "masks": self.masks(finest), "flow": self.flow(finest)}
