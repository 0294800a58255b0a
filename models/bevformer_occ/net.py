"""BEVFormer-occ network: images (B, N, 3, H, W) -> image backbone (occnet's ResNet) -> BEVFormer encoder
(temporal self-attention to the ego-motion-aligned previous BEV, spatial cross-attention) -> height-lifting
head.

Training reads the previous keyframe as BEVFormer's history queue: its BEV is computed by the same
network in eval mode without gradient (and without its own history), then aligned and attended to.
"""

from __future__ import annotations

import torch
from torch import nn

from models.bevformer_occ.encoder import BevFormerEncoder
from models.bevformer_occ.head import HeightLiftHead
from models.bevformer_occ.temporal import align_previous_bev
from models.occnet.backbone import ImageBackbone


class BevFormerOccNet(nn.Module):
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
        tsa_offsets: int,
        tsa_offset_scale_cells: float,
        up_channels: tuple[int, ...],
        nz: int,
        height_channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.range_min_m, self.range_max_m = tuple(range_min_m), tuple(range_max_m)
        self.backbone = ImageBackbone(backbone_widths, backbone_blocks, dim)
        self.encoder = BevFormerEncoder(
            dim,
            bev_shape,
            range_min_m,
            range_max_m,
            num_layers,
            num_ref,
            num_offsets,
            offset_scale,
            tsa_offsets,
            tsa_offset_scale_cells,
        )
        self.head = HeightLiftHead(dim, up_channels, nz, height_channels, num_classes)

    def bev(
        self,
        images: torch.Tensor,
        img_from_ego: torch.Tensor,
        prev_bev: torch.Tensor | None = None,
        prev_from_cur: torch.Tensor | None = None,
        has_prev: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """BEV features (B, C, X, Y) of one frame; ``prev_bev`` (B, C, X, Y) in the previous ego frame with
        ``prev_from_cur`` (B, 4, 4), or None at a scene's first frame."""
        b, n, _, h, w = images.shape
        feats = self.backbone(images.flatten(0, 1))
        feats = feats.view(b, n, *feats.shape[1:])
        aligned = None
        if prev_bev is not None:
            aligned = align_previous_bev(prev_bev, prev_from_cur, self.range_min_m, self.range_max_m)
        return self.encoder(feats, img_from_ego, (h, w), aligned, has_prev)

    def history_bev(self, images: torch.Tensor, img_from_ego: torch.Tensor) -> torch.Tensor:
        """BEV of the previous keyframe (no history of its own), in eval mode and without gradient."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            bev = self.bev(images, img_from_ego)
        self.train(was_training)
        return bev

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``batch``: images (B, N, 3, H, W), img_from_ego (B, N, 3, 4); optionally the previous frame as
        ``prev_bev`` (B, C, X, Y) (inference) or ``prev_images`` / ``prev_img_from_ego`` (training), with
        ``prev_from_cur`` (B, 4, 4) and ``has_prev`` (B,) bool.

        Returns ``sem_logits`` (B, K, X, Y, Z), ``flow`` (B, 2, X, Y, Z) and ``bev`` (B, C, Xb, Yb)."""
        prev_bev = batch.get("prev_bev")
        if prev_bev is None and "prev_images" in batch:
            prev_bev = self.history_bev(batch["prev_images"], batch["prev_img_from_ego"])
        bev = self.bev(
            batch["images"], batch["img_from_ego"], prev_bev, batch.get("prev_from_cur"), batch.get("has_prev")
        )
        sem, flow = self.head(bev)
        return {"sem_logits": sem, "flow": flow, "bev": bev}
