"""SparseOcc network: images (B, N, 3, H, W) + img_from_ego (B, N, 3, 4) -> sparse voxel levels, mask
predictions over the finest level's kept voxels and their flow.

Parts: occnet's ResNet image backbone (``models.occnet.backbone``) with a two-level FPN (``ImagePyramid``),
the sparse voxel decoder (``voxel_decoder``), the mask transformer decoder (``mask_decoder``) and a per-voxel
flow head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.occnet.backbone import ImageBackbone
from models.sparseocc.mask_decoder import MaskTransformerDecoder
from models.sparseocc.voxel_decoder import SparseVoxelDecoder


class ImagePyramid(nn.Module):
    """occnet's ResNet backbone plus a top-down FPN step: (B*N, 3, H, W) -> [fine, coarse] maps of ``out_channels``
    channels, coarse at the backbone's stride S = 2**len(widths) (its neck output), fine at stride S / 2 (the
    input of the last stage through a 1x1 lateral convolution, plus the coarse map upsampled x2)."""

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...], out_channels: int) -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"ImagePyramid: needs at least 2 backbone stages, got widths {widths}")
        self.backbone = ImageBackbone(widths, blocks, out_channels)
        self.split = sum(blocks[:-1])  # blocks before the last stage
        self.lateral = nn.Sequential(nn.Conv2d(widths[-2], out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        net = self.backbone
        fine = net.stages[: self.split](net.stem(images.contiguous(memory_format=torch.channels_last)))
        coarse = net.neck(net.stages[self.split :](fine))
        up = F.interpolate(coarse, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        return [torch.relu(self.lateral(fine) + up), coarse]


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
        self.images = ImagePyramid(backbone_widths, backbone_blocks, img_dim)
        self.voxels = voxel_decoder
        voxel_dim = voxel_decoder.layers[-1].occ.in_features
        self.masks = MaskTransformerDecoder(voxel_dim, query_dim, num_queries, mask_layers, heads, num_classes)
        self.flow = nn.Linear(voxel_dim, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, object]:
        """Returns ``levels`` [SparseLevel] coarse to fine, ``kept`` (B, k) finest kept voxel indices,
        ``masks`` [MaskPrediction] over them (the last is the output) and ``flow`` (B, k, 2) m/s. A training
        batch may carry ``guides``: per level (coarsest first) the (B, voxels) bool volume pruning keeps first."""
        images = batch["images"]
        b, n, _, h, w = images.shape
        feats = [f.view(b, n, *f.shape[1:]) for f in self.images(images.flatten(0, 1))]
        levels = self.voxels(feats, batch["img_from_ego"], (h, w), batch.get("guides"))
        finest = levels[-1].features
        return {"levels": levels, "kept": levels[-1].kept, "masks": self.masks(finest), "flow": self.flow(finest)}
